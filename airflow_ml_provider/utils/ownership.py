"""Whose an object is, and the one rule by which a kill may delete it, for the worker and the triggerer alike.

Every try that creates or reattaches to an object tags it with its owner: the task (DAG, task, map index and
``[amazon_ml] id_namespace``) and the try. A create or reattach only ever concerns an object of this task,
and a kill only ever deletes an object that its own try still owns.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ml_provider.utils.status import RUNNING_STATUSES

OWNER_TAG = "airflow-ml-provider:owner"
REQUEST_TAG = "airflow-ml-provider:request"
SUCCEEDED_TAG = "airflow-ml-provider:succeeded"
# The states in which a task instance can only be found after someone acted on the try that a kill belongs
# to: marked it (success, failed, skipped), cleared it (restarting while it ran; no state until the scheduler
# takes it again), or removed it from the DAG. In every other state the try, or its successor, goes on: a
# trigger moved to another triggerer (deferred), fired there and resumed its task (scheduled, queued,
# running), or a worker shut down or hit execution_timeout (running); the next try reattaches.
USER_ACTION_STATES = frozenset(
    {"success", "failed", "skipped", "upstream_failed", "removed", "restarting", None}
)


@dataclass(frozen=True)
class Owner:
    """
    The try of a task instance that created or reattached to an object.

    :param task: A digest of the DAG, task, map index and ID namespace: the same on every try and run.
    :param run: A digest of the DAG run's ID: two runs of a task given one explicit ID are told apart.
    :param try_number: The try, as Airflow counts them.
    """

    task: str
    run: str
    try_number: int

    @classmethod
    def of(
        cls,
        dag_id: str,
        task_id: str,
        map_index: int | None,
        try_number: int,
        namespace: str = "",
        run_id: str = "",
    ) -> Owner:
        index = -1 if map_index is None else map_index
        task = f"{namespace}\x00{dag_id}\x00{task_id}\x00{index}"
        return cls(_digest(task, 16), _digest(run_id, 8), int(try_number))

    @classmethod
    def parse(cls, tag: str | None) -> Owner | None:
        """The owner an object's tag names, or None for an object without one (or a tag not of this form)."""
        parts = (tag or "").split("/")
        if len(parts) != 3 or not all(parts) or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]))

    @property
    def tag(self) -> str:
        return f"{self.task}/{self.run}/{self.try_number}"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def foreign(tags: Mapping[str, str], owner: Owner) -> str | None:
    """
    Why an existing object is not this task's, or None when it may be.

    Only an owner tag naming another task makes it foreign. An object without one is taken as this task's: a
    try that died between the create call and its tags leaves it so (the service takes no tags on create),
    and an earlier release tagged no owner; the request's parameters are still compared before reattaching.
    """
    named = Owner.parse(tags.get(OWNER_TAG))
    if named is None or named.task == owner.task:
        return None
    return "another task (DAG, task or map index) created it"


def kill_keeps(
    task_state: str | None,
    description: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
    owner: Owner | None,
    deadline_passed: bool = False,
) -> str | None:
    """
    Why a kill must leave the object alone, or None when it may delete it: the one rule of ``delete_on_kill``.

    A kill deletes an object only while it is PENDING or INPROGRESS, only while its owner tag still names the
    killed try (no later try adopted it, it is this task's), only when the task instance's state shows a user's
    action (see :data:`USER_ACTION_STATES`), and, for a trigger, before the wait's deadline (a timeout is not
    a kill). Whatever is unknown keeps it: deleting a job someone waits for is worse than leaving one running.

    :param task_state: The task instance's state now, as Airflow holds it.
    :param description: The object's ``Get`` response now; None if it could not be read.
    :param tags: The object's tags now; None if they could not be read.
    :param owner: The try the kill belongs to; None if not known.
    :param deadline_passed: Whether the wait's deadline has passed.
    """
    reason = not_a_kill(task_state, deadline_passed)
    if reason is not None:
        return reason
    if description is None or tags is None or owner is None:
        return "whose it is could not be read"
    if description.get("Status") not in RUNNING_STATUSES:
        return f"it is {description.get('Status')}: a kill deletes only a PENDING or INPROGRESS job"
    named = Owner.parse(tags.get(OWNER_TAG))
    if named is None or named.task != owner.task:
        return "no try of this task owns it"
    if named != owner:
        return f"try {named.try_number} of {'this' if named.run == owner.run else 'another'} run adopted it"
    return None


def not_a_kill(task_state: str | None, deadline_passed: bool = False) -> str | None:
    """The part of :func:`kill_keeps` that needs no call to the service: why this is no user's kill, or None."""
    if task_state not in USER_ACTION_STATES:
        return f"its task is {task_state}: the try goes on (moved, resumed or shut down) and reattaches"
    if deadline_passed:
        return "the wait's deadline passed: a timeout is not a kill"
    return None


def task_state(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str | None:
    """
    The current state of a task instance, as Airflow's metadata database holds it.

    Airflow 3 asks the API server through the process's supervisor (a worker's or the triggerer's); Airflow 2
    reads the database. Raises when the state cannot be had: the caller then keeps the object.
    """
    index = -1 if map_index is None else map_index
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:
        return _database_state(dag_id, task_id, run_id, index)
    states = RuntimeTaskInstance.get_task_states(
        dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=index
    )
    key = task_id if index < 0 else f"{task_id}_{index}"
    if key not in states.get(run_id, {}):
        return None
    state = states[run_id][key]
    return None if state is None else str(getattr(state, "value", state))


def _database_state(dag_id: str, task_id: str, run_id: str, map_index: int) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        state = (
            session.query(TaskInstance.state)
            .filter_by(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
            .scalar()
        )
    return None if state is None else str(getattr(state, "value", state))


def task_state_within(
    seconds: float, dag_id: str, task_id: str, run_id: str, map_index: int | None
) -> str | None:
    """
    :func:`task_state`, given up after ``seconds``: a worker's kill runs in a signal handler, which may have
    interrupted its own process in a call to the supervisor, and must not wait for it.
    """
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["state"] = task_state(dag_id, task_id, run_id, map_index)
        except Exception as error:
            answer["error"] = error

    thread = threading.Thread(target=ask, name="task-state", daemon=True)
    thread.start()
    thread.join(seconds)
    if "error" in answer:
        raise answer["error"]
    if "state" not in answer:
        raise TimeoutError(f"the task's state was not known within {seconds} s")
    return answer["state"]
