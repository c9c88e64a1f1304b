"""The asynchronous wait for one batch prediction, run by the triggerer."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.triggers.base import MachineLearningEntityTrigger
from airflow_ml_provider.waiting import EntityWait, WaitResult


class BatchPredictionTrigger(MachineLearningEntityTrigger):
    """
    Wait until a batch prediction ends; yield one event whose ``status`` says how.

    See :class:`~airflow_ml_provider.triggers.base.MachineLearningEntityTrigger` for the event and
    the other parameters.

    :param batch_prediction_id: The job to wait for.
    """

    kind = BATCH_PREDICTION

    def __init__(self, *, batch_prediction_id: str, **kwargs: Any) -> None:
        super().__init__(entity_id=batch_prediction_id, **kwargs)

    def _wait(self, wait: EntityWait) -> Coroutine[Any, Any, WaitResult]:
        # All waiting batch predictions of a connection share one poller and its list calls. The poller's
        # coroutine is handed back rather than awaited here: each of thousands of waits holds a frame less.
        from airflow_ml_provider.triggers.poller import wait_for_batch_prediction

        return wait_for_batch_prediction(self.hook, wait)
