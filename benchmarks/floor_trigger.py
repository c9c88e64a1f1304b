"""The floor: a trigger that only sleeps, what Airflow's triggerer itself costs per deferred task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

# How many sleeping triggers have started; the benchmark waits for all before it measures.
started = 0


class SleepingTrigger(BaseTrigger):
    """
    Sleep ``waiter_delay`` seconds at a time until ``deadline``, then yield ``success``; it calls nothing.

    :param batch_prediction_id: The job it stands for (only named in the event).
    :param waiter_delay: Seconds of each sleep, as a poll interval would be.
    :param deadline: Epoch seconds at which it fires.
    """

    def __init__(self, *, batch_prediction_id: str, waiter_delay: float = 30, deadline: float) -> None:
        super().__init__()
        self.batch_prediction_id = batch_prediction_id
        self.waiter_delay = waiter_delay
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.{type(self).__name__}",
            {
                "batch_prediction_id": self.batch_prediction_id,
                "waiter_delay": self.waiter_delay,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        global started
        started += 1
        while (left := self.deadline - time.time()) > 0:
            await asyncio.sleep(min(self.waiter_delay, left))
        yield TriggerEvent({"status": "success", "entity_id": self.batch_prediction_id})
