"""Just enough of a running task instance to call an operator's methods in-process.

The end-to-end tests run the same operators under real Airflow; these stubs serve the narrow
tests that need to look between the steps (before a deferral, after a trigger event).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred


class TaskInstanceStub:
    """A task instance's identity and its XComs, kept in a dict."""

    def __init__(
        self, dag_id: str = "dag", task_id: str = "task", run_id: str = "run", map_index: int = -1
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


def context_for(**identity: Any) -> dict[str, Any]:
    """A context holding only a stub task instance."""
    return {"ti": TaskInstanceStub(**identity)}


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
