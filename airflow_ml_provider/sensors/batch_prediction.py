"""Wait for an Amazon Machine Learning batch prediction to complete, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.sensors.base import MachineLearningEntitySensor


class BatchPredictionSensor(MachineLearningEntitySensor):
    """
    Wait until an Amazon ML batch prediction is ``COMPLETED``; fail on any other end.

    On success it returns (XCom ``return_value``) a dict with ``batch_prediction_id``, ``status``,
    ``output_uri``, ``manifest_uri``, ``result_uris``, ``input_uris``, ``total_record_count``,
    ``invalid_record_count``, ``ml_model_id``, ``data_source_id``, ``input_data_location_s3`` and
    ``finished_at``: what a downstream task needs to read the predictions. ``FAILED``, ``DELETED``,
    an unknown status or a malformed trigger event raise
    :class:`~airflow_ml_provider.exceptions.BatchPredictionFailedError`. See
    :class:`~airflow_ml_provider.sensors.base.MachineLearningEntitySensor` for the other parameters.

    Give it ``outlets=[Asset("s3://bucket/predictions/")]`` to schedule consumer DAGs on fresh
    predictions: the asset event is emitted only when the job COMPLETED, and its ``extra`` is the
    dict above.

    :param batch_prediction_id: The job to wait for, usually ``create_task.output``. (templated)
    """

    kind = BATCH_PREDICTION
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "batch_prediction_id")

    def __init__(self, *, batch_prediction_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_prediction_id = batch_prediction_id

    @property
    def entity_id(self) -> str:
        return self.batch_prediction_id

    def result(self, description: dict[str, Any]) -> dict[str, Any]:
        return self.hook.get_results(description)

    def outlet_extra(self, description: dict[str, Any], value: Any) -> dict[str, Any]:
        # The consumer of the output asset learns which job refreshed it and where its files are.
        return value
