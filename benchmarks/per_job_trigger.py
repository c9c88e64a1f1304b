"""Our trigger before the poller: one shared client per connection, one ``GetBatchPrediction`` per job per interval."""

from __future__ import annotations

import asyncio

from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
from airflow_ml_provider.waiting import EntityWait, WaitResult


class PerJobBatchPredictionTrigger(BatchPredictionTrigger):
    """
    :class:`~airflow_ml_provider.triggers.batch_prediction.BatchPredictionTrigger` polling job by job.

    :param batch_prediction_id: The job to wait for.
    """

    async def _wait(self, wait: EntityWait) -> WaitResult:
        hook = self.hook()
        async with hook.async_client() as client:
            step: WaitResult | float = 0.0
            while not isinstance(step, WaitResult):
                await asyncio.sleep(step)
                step = await hook.poll_async(client, wait)
            return step
