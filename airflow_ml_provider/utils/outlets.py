"""Asset events that say which Amazon ML object refreshed an asset, emitted only when it COMPLETED."""

from __future__ import annotations

from typing import Any


def annotate_outlets(task: Any, context: Any, extra: dict[str, Any]) -> None:
    """
    Attach ``extra`` to the events of the task's outlet assets.

    Airflow emits them only when the task succeeds, which for these tasks means the object
    COMPLETED; the extra tells a consumer which object, and where its results are.
    """
    from airflow.providers.common.compat.sdk import Asset

    for outlet in task.outlets:
        if isinstance(outlet, Asset):
            context["outlet_events"][outlet].extra.update(extra)
