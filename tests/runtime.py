"""Just enough of a running task instance to call an operator's methods in-process.

The end-to-end tests run the same operators under real Airflow; these stubs serve the narrow
tests that need to look between the steps (before a deferral, after a trigger event).
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred


class TaskInstanceStub:
    """
    A task instance's identity, its try chain and its XComs, kept in a dict.

    ``max_tries`` is Airflow's: the task's retries at first, moved on by each clear.
    """

    def __init__(
        self,
        dag_id: str = "dag",
        task_id: str = "task",
        run_id: str = "run",
        map_index: int = -1,
        max_tries: int = 0,
        try_number: int = 1,
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.max_tries = max_tries
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


class OutletEventsStub(dict):
    """
    The context's outlet events: one accessor per asset, keyed by its URI as Airflow keys them by identity.

    The Task SDK's first releases (Airflow 3.0) define assets without a hash: an asset cannot be the key.
    """

    def __getitem__(self, asset: Any) -> Any:
        return self.setdefault(asset.uri, SimpleNamespace(extra={}))


# When the DAG run of every stub context started; a run created anew under the same run ID starts later.
RUN_STARTED = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)


def context_for(run_started: datetime = RUN_STARTED, **identity: Any) -> dict[str, Any]:
    """A context holding a stub task instance and the start of its DAG run."""
    return {"ti": TaskInstanceStub(**identity), "dag_run": SimpleNamespace(start_date=run_started)}


async def run_trigger(trigger: Any) -> list[dict[str, Any]]:
    """Run a trigger to its end the way the triggerer does; return the payloads it yielded."""
    return [event.payload async for event in trigger.run()]


async def resume_after_deferral(operator: Any, context: dict[str, Any], deferred: TaskDeferred) -> Any:
    """Run the deferral's trigger, then call the method the task resumes with, as Airflow does."""
    events = await run_trigger(deferred.trigger)
    assert len(events) == 1, events
    return getattr(operator, deferred.method_name)(context, event=events[0], **(deferred.kwargs or {}))


def worker_dies(*_: Any, **__: Any) -> None:
    """Put in place of a step to end the try there, as a worker killed at that point would."""
    raise SystemExit(137)
