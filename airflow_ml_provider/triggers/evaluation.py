"""The asynchronous wait for one evaluation, run by the triggerer."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.kinds import EVALUATION
from airflow_ml_provider.triggers.base import MachineLearningEntityTrigger


class EvaluationTrigger(MachineLearningEntityTrigger):
    """
    Wait until an evaluation is computed; yield one event whose ``status`` says how it ended.

    See :class:`~airflow_ml_provider.triggers.base.MachineLearningEntityTrigger` for the event and
    the other parameters.

    :param evaluation_id: The evaluation to wait for.
    """

    kind = EVALUATION

    def __init__(self, *, evaluation_id: str, **kwargs: Any) -> None:
        super().__init__(entity_id=evaluation_id, **kwargs)
