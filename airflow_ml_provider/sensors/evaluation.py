"""Wait for an Amazon Machine Learning evaluation and return its metric, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.exceptions import EvaluationFailedError
from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import EVALUATION
from airflow_ml_provider.sensors.base import MachineLearningEntitySensor

# The metric the service reports for each model type.
METRICS = ("BinaryAUC", "MulticlassAvgFScore", "RegressionRMSE")


class EvaluationSensor(MachineLearningEntitySensor):
    """
    Wait until an Amazon ML evaluation is ``COMPLETED``; returns its metric as a number.

    The metric is ``BinaryAUC`` for a BINARY model, ``MulticlassAvgFScore`` for MULTICLASS and
    ``RegressionRMSE`` for REGRESSION, so a downstream ``@task.short_circuit`` can gate scoring on
    model quality. See :class:`~airflow_ml_provider.sensors.base.MachineLearningEntitySensor` for
    the other parameters and the failure behaviour.

    :param evaluation_id: The evaluation to wait for. (templated)
    """

    kind = EVALUATION
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "evaluation_id")

    def __init__(self, *, evaluation_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation_id = evaluation_id

    @property
    def entity_id(self) -> str:
        return self.evaluation_id

    def result(self, description: dict[str, Any]) -> float:
        properties = description.get("PerformanceMetrics", {}).get("Properties", {})
        for metric in METRICS:
            if metric in properties:
                self.log.info("Evaluation %s: %s = %s", self.evaluation_id, metric, properties[metric])
                return float(properties[metric])
        raise EvaluationFailedError(
            EVALUATION.title,
            self.evaluation_id,
            description.get("Status"),
            f"no known metric in {properties}",
        )
