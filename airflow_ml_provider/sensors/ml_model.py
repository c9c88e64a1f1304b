"""Wait for an Amazon Machine Learning ML model to be trained, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.sensors.base import MachineLearningEntitySensor
from airflow_ml_provider.utils.aws import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.utils.entities import ML_MODEL


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
