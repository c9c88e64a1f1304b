"""Links from a task in the Airflow UI to its job in the Amazon Machine Learning console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

# The console's domain for each AWS partition, as the Amazon provider's links use them.
_CONSOLE_DOMAINS = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}


class MachineLearningConsoleLink(BaseOperatorLink):
    """
    Base of the console links: the task stores the link's parts in XCom when it knows the job.

    Kept free of boto imports (unlike the Amazon provider's ``BaseAwsLink``) so DAG files that
    use the operators parse fast.
    """

    name: ClassVar[str]
    key: ClassVar[str]
    format_str: ClassVar[str]

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        parts = XCom.get_value(key=self.key, ti_key=ti_key)
        if not parts or not parts.get("aws_domain"):
            return ""
        return self.format_str.format(**parts)

    @classmethod
    def persist(cls, context: Context, *, region_name: str, aws_partition: str, **parts: str) -> None:
        """Store the link's parts for this task instance."""
        context["ti"].xcom_push(
            key=cls.key,
            value={"region_name": region_name, "aws_domain": _CONSOLE_DOMAINS.get(aws_partition), **parts},
        )


class BatchPredictionLink(MachineLearningConsoleLink):
    """The batch prediction's page in the Amazon Machine Learning console."""

    name = "Amazon ML Batch Prediction"
    key = "ml_batch_prediction"
    format_str = (
        "https://console.{aws_domain}/machinelearning/home?region={region_name}#/predictions/{entity_id}"
    )


class DataSourceLink(MachineLearningConsoleLink):
    """The data source's page in the Amazon Machine Learning console."""

    name = "Amazon ML Data Source"
    key = "ml_data_source"
    format_str = (
        "https://console.{aws_domain}/machinelearning/home?region={region_name}#/datasources/{entity_id}"
    )


class MLModelLink(MachineLearningConsoleLink):
    """The ML model's page in the Amazon Machine Learning console."""

    name = "Amazon ML Model"
    key = "ml_model"
    format_str = "https://console.{aws_domain}/machinelearning/home?region={region_name}#/models/{entity_id}"


class EvaluationLink(MachineLearningConsoleLink):
    """The evaluation's page in the Amazon Machine Learning console."""

    name = "Amazon ML Evaluation"
    key = "ml_evaluation"
    format_str = (
        "https://console.{aws_domain}/machinelearning/home?region={region_name}#/evaluations/{entity_id}"
    )
