"""A trigger that fires malformed events, for the system tests; beside the DAGs so the triggerer can import it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

MALFORMED_EVENTS: dict[str, Any] = {
    "none": None,
    "unknown_status": {
        "status": "succeeded",
        "entity_kind": "batch_prediction",
        "entity_id": "{id}",
        "description": {"Status": "COMPLETED"},
        "message": "",
    },
    "another_job": {
        "status": "success",
        "entity_kind": "batch_prediction",
        "entity_id": "some-other-job",
        "description": {"Status": "COMPLETED"},
        "message": "",
    },
    "success_without_completed_job": {
        "status": "success",
        "entity_kind": "batch_prediction",
        "entity_id": "{id}",
        "description": {"Status": "INPROGRESS"},
        "message": "",
    },
}


class MalformedEventTrigger(BaseTrigger):
    """Fires one malformed event at once, as a buggy or tampered trigger might."""

    def __init__(self, malformation: str, batch_prediction_id: str) -> None:
        super().__init__()
        self.malformation = malformation
        self.batch_prediction_id = batch_prediction_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"malformation": self.malformation, "batch_prediction_id": self.batch_prediction_id},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = MALFORMED_EVENTS[self.malformation]
        if isinstance(event, dict) and event.get("entity_id") == "{id}":
            event = {**event, "entity_id": self.batch_prediction_id}
        yield TriggerEvent(event)
