"""The one place that maps the statuses of every kind of Amazon ML object to outcomes."""

from __future__ import annotations

from enum import Enum

PENDING = "PENDING"
INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
DELETED = "DELETED"

RUNNING_STATUSES = frozenset({PENDING, INPROGRESS})


class Outcome(str, Enum):
    """
    What a wait reports: the status of a trigger event and of every finished wait.

    Anything that is not exactly ``success`` is a failure of the task.
    """

    SUCCESS = "success"
    FAILED = "failed"
    DELETED = "deleted"
    TIMEOUT = "timeout"
    ERROR = "error"


def outcome_of(status: str | None) -> Outcome | None:
    """
    Return the outcome a service status means, or None while the job is still running.

    ``COMPLETED`` is the only success. Any status the service may add later (AWS's own samples
    check ``INVALID``) is terminal and a failure, never something to wait on forever.
    """
    if status in RUNNING_STATUSES:
        return None
    if status == COMPLETED:
        return Outcome.SUCCESS
    if status == DELETED:
        return Outcome.DELETED
    return Outcome.FAILED
