"""The asynchronous wait for one ML model, run by the triggerer."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.kinds import ML_MODEL
from airflow_ml_provider.triggers.base import MachineLearningEntityTrigger


class MLModelTrigger(MachineLearningEntityTrigger):
    """
    Wait until an ML model is trained; yield one event whose ``status`` says how it ended.

    See :class:`~airflow_ml_provider.triggers.base.MachineLearningEntityTrigger` for the event and
    the other parameters.

    :param ml_model_id: The ML model to wait for.
    """

    kind = ML_MODEL

    def __init__(self, *, ml_model_id: str, **kwargs: Any) -> None:
        super().__init__(entity_id=ml_model_id, **kwargs)
