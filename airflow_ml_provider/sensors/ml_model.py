"""Wait for an Amazon Machine Learning ML model to be trained, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import ML_MODEL
from airflow_ml_provider.sensors.base import MachineLearningEntitySensor


class MLModelSensor(MachineLearningEntitySensor):
    """
    Wait until an Amazon ML model is ``COMPLETED``; returns its ``GetMLModel`` response.

    See :class:`~airflow_ml_provider.sensors.base.MachineLearningEntitySensor` for the other
    parameters and the failure behaviour.

    :param ml_model_id: The ML model to wait for. (templated)
    """

    kind = ML_MODEL
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "ml_model_id")

    def __init__(self, *, ml_model_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ml_model_id = ml_model_id

    @property
    def entity_id(self) -> str:
        return self.ml_model_id
