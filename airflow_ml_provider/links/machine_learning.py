"""Links from a task in the Airflow UI to its job in the Amazon Machine Learning console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

# The console's domain for each AWS partition, as the Amazon provider's links use them.
_CONSOLE_DOMAINS = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}


# Every page form below has public evidence (see docs/console-links.md): Amazon's own sample
# scripts link a model, an evaluation and a data source this way. The console has no known page
# of its own for a batch prediction, so its link opens the page of the model that scored it.
_CONSOLE = "https://console.{aws_domain}/machinelearning/home?region={region_name}"


class MachineLearningConsoleLink(BaseOperatorLink):
    """
    Base of the console links: the task stores the link's parts in XCom when it knows the object.

    Kept free of boto imports (unlike the Amazon provider's ``BaseAwsLink``) so DAG files that
    use the operators parse fast.
    """

    name: ClassVar[str]
    key: ClassVar[str]
    format_str: ClassVar[str]
    # Parts of the link other than the object's own ID: (part, field of the object's description).
    description_parts: ClassVar[tuple[tuple[str, str], ...]] = ()

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        parts = XCom.get_value(key=self.key, ti_key=ti_key)
        if not parts or not parts.get("aws_domain"):
            return ""
        if any(not parts.get(part) for part, _ in self.description_parts):
            return ""
        return self.format_str.format(**parts)

    @classmethod
    def persist(
        cls,
        context: Context,
        *,
        region_name: str,
        aws_partition: str,
        entity_id: str,
        description: dict[str, Any] | None = None,
    ) -> None:
        """Store the link's parts for this task instance."""
        described = description or {}
        context["ti"].xcom_push(
            key=cls.key,
            value={
                "region_name": region_name,
                "aws_domain": _CONSOLE_DOMAINS.get(aws_partition),
                "entity_id": entity_id,
                **{part: described.get(field) for part, field in cls.description_parts},
            },
        )


class BatchPredictionLink(MachineLearningConsoleLink):
    """The console page of the model that scores the batch prediction (the console has none of its own)."""

    name = "Amazon ML Batch Prediction Model"
    key = "ml_batch_prediction"
    format_str = _CONSOLE + "#/predictor-insight/{ml_model_id}?tabId=summary"
    description_parts = (("ml_model_id", "MLModelId"),)


class DataSourceLink(MachineLearningConsoleLink):
    """The data source's summary page in the Amazon Machine Learning console."""

    name = "Amazon ML Data Source"
    key = "ml_data_source"
    format_str = _CONSOLE + "#/insights/{entity_id}/summary"


class MLModelLink(MachineLearningConsoleLink):
    """The ML model's summary page in the Amazon Machine Learning console."""

    name = "Amazon ML Model"
    key = "ml_model"
    format_str = _CONSOLE + "#/predictor-insight/{entity_id}?tabId=summary"


class EvaluationLink(MachineLearningConsoleLink):
    """The evaluation's summary, on its model's evaluations tab in the Amazon Machine Learning console."""

    name = "Amazon ML Evaluation"
    key = "ml_evaluation"
    format_str = (
        _CONSOLE
        + "#/predictor-insight/{ml_model_id}?tabId=evaluations&evaluationId={entity_id}&viewId=summary"
    )
    description_parts = (("ml_model_id", "MLModelId"),)
