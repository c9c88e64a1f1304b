"""Submit an Amazon Machine Learning batch prediction, once per task instance whatever the retries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.operators.base import MachineLearningCreateOperator
from airflow_ml_provider.utils.validation import (
    normalize_output_uri,
    optional,
    validate_entity_id,
    validate_entity_name,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class CreateBatchPredictionOperator(MachineLearningCreateOperator):
    """
    Create an Amazon ML batch prediction: ``ml_model_id`` scores ``data_source_id`` into ``output_uri``.

    Returns the ``BatchPredictionId`` (XCom ``return_value``) and pushes ``output_uri``. Without an
    explicit ``batch_prediction_id`` the ID is derived from the DAG, task, run and map index, so a
    retry, or a re-run after a worker died, finds the job an earlier try created and reattaches to
    it instead of creating another; after a job FAILED or was DELETED a retry creates one fresh job.
    See :class:`~airflow_ml_provider.operators.base.MachineLearningCreateOperator` for the waiting,
    ``delete_on_kill`` and connection parameters.

    :param ml_model_id: ID of the ``MLModel`` that scores the records. (templated)
    :param data_source_id: ID of the ``DataSource`` whose records are scored. (templated)
    :param output_uri: S3 prefix for the results; its key must not contain ``:``, ``//``, ``/./``
        or ``/../``; a missing trailing ``/`` is added. (templated)
    :param batch_prediction_id: The job's ID, 1-64 of ``[a-zA-Z0-9_.-]``; derived when not given.
        (templated)
    :param batch_prediction_name: A name for the job, shown in the console. (templated)
    """

    kind = BATCH_PREDICTION
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "tags",
        "batch_prediction_id",
        "batch_prediction_name",
        "ml_model_id",
        "data_source_id",
        "output_uri",
    )
    operator_extra_links = (BATCH_PREDICTION.link_class(),)

    def __init__(
        self,
        *,
        ml_model_id: str,
        data_source_id: str,
        output_uri: str,
        batch_prediction_id: str | None = None,
        batch_prediction_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(id_given=batch_prediction_id is not None, **kwargs)
        self.batch_prediction_id = batch_prediction_id
        self.batch_prediction_name = batch_prediction_name
        self.ml_model_id = ml_model_id
        self.data_source_id = data_source_id
        self.output_uri = output_uri

    def given_id(self) -> str | None:
        return self.batch_prediction_id

    def build_request(self) -> dict[str, Any]:
        return {
            **optional(
                BatchPredictionName=validate_entity_name("batch_prediction_name", self.batch_prediction_name)
            ),
            "MLModelId": validate_entity_id("ml_model_id", self.ml_model_id),
            "BatchPredictionDataSourceId": validate_entity_id("data_source_id", self.data_source_id),
            "OutputUri": normalize_output_uri(self.output_uri),
        }

    def on_submitted(self, context: Context, description: dict[str, Any]) -> None:
        self.output_uri = description["OutputUri"]
        context["ti"].xcom_push(key="output_uri", value=self.output_uri)

    def outlet_extra(self, description: dict[str, Any]) -> dict[str, Any]:
        # The same extra as the sensor's: which job refreshed the asset and where its files are.
        return self.hook.get_results(description)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage: the data source's S3 location in, the ``OutputUri`` out."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        submitted = self.submitted or {}
        inputs = [submitted["InputDataLocationS3"]] if submitted.get("InputDataLocationS3") else []
        return OperatorLineage(
            inputs=[s3_dataset(url, Dataset) for url in inputs],
            outputs=[s3_dataset(self.output_uri, Dataset)],
        )


def s3_dataset(url: str, dataset_class: Any) -> Any:
    """An OpenLineage dataset for an S3 URL, named as OpenLineage's naming spec asks."""
    bucket, _, key = url[len("s3://") :].partition("/")
    return dataset_class(namespace=f"s3://{bucket}", name=key.rstrip("/") or "/")
