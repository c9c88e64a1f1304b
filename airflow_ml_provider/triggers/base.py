"""The asynchronous wait for one Amazon ML object, shared by the triggers of every kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_ml_provider.utils.status import Outcome
from airflow_ml_provider.waiting import EntityWait, WaitResult

if TYPE_CHECKING:
    from airflow_ml_provider.kinds import EntityKind


class MachineLearningEntityTrigger(BaseTrigger):
    """
    Wait until an Amazon ML object reaches a final status and yield exactly one event saying how.

    The event's ``status`` is one of ``success``, ``failed``, ``deleted``, ``timeout`` and
    ``error``; it carries the object's kind and ID, its last description and the service's
    message. Everything the trigger needs is in its keyword arguments, so it resumes after a
    triggerer restart; it never touches the metadata database. Waiting triggers of the same
    connection share one aiobotocore client. Subclasses set ``kind`` and name the ID parameter.

    :param entity_id: The object to wait for.
    :param waiter_delay: Seconds between polls.
    :param waiter_max_attempts: Polls allowed, throttled and failed ones included; None for no limit
        but ``deadline``.
    :param deadline: Epoch seconds at which to give up, fixed when the task deferred so that a
        restart of the triggerer does not extend it; None for no limit but ``waiter_max_attempts``.
    :param delete_on_kill: Mark the object DELETED when a user kills the deferred task.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    kind: ClassVar[EntityKind]

    def __init__(
        self,
        *,
        entity_id: str,
        waiter_delay: float = 30,
        waiter_max_attempts: int | None = None,
        deadline: float | None = None,
        delete_on_kill: bool = False,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.entity_id = entity_id
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.deadline = deadline
        self.delete_on_kill = delete_on_kill
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                self.kind.id_param: self.entity_id,
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "deadline": self.deadline,
                "delete_on_kill": self.delete_on_kill,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def hook(self) -> Any:
        """Build the hook; imported here so that parsing a DAG never loads boto."""
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        return MachineLearningHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = EntityWait(
            self.kind,
            self.entity_id,
            delay=self.waiter_delay,
            max_attempts=self.waiter_max_attempts,
            deadline=self.deadline,
        )
        try:
            result = await self._wait(wait)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Whatever broke, the task hears about it with the reason, never a bare failure.
            result = WaitResult(
                Outcome.ERROR,
                self.kind,
                self.entity_id,
                wait.last_description,
                f"{type(error).__name__}: {error}",
            )
        self.log.info("%s %s: %s %s", self.kind.title, self.entity_id, result.outcome.value, result.message)
        yield TriggerEvent(result.to_event())

    async def _wait(self, wait: EntityWait) -> WaitResult:
        """Poll on the connection's shared client until ``wait`` answers a result."""
        hook = self.hook()
        async with hook.async_client() as shared:
            step: WaitResult | float = 0.0
            while not isinstance(step, WaitResult):
                await asyncio.sleep(step)
                step = await hook.poll_async(shared, wait)
            return step

    async def on_kill(self) -> None:
        """
        Mark the object DELETED if asked to, when the user killed, cleared or marked the deferred task.

        Airflow also cancels a trigger this way when it merely moves to another triggerer (one that
        missed its heartbeat comes back and drops what was taken over); the task instance is then still
        deferred, and the object that the other triggerer waits for is left alone. The triggerer cancels
        a trigger again on each of its loops until it ends, so the work runs shielded from those repeats.
        """
        if not self.delete_on_kill:
            return
        cleanup = asyncio.ensure_future(self._delete_if_the_user_acted())
        _cleanups.add(cleanup)
        cleanup.add_done_callback(_cleanups.discard)
        await asyncio.shield(cleanup)

    async def _delete_if_the_user_acted(self) -> None:
        try:
            state = await task_instance_state(self.task_instance)
        except Exception as error:
            # Deleting a job someone still waits for is worse than leaving one running.
            self.log.warning(
                "Not deleting %s %s: its task's state is unknown (%s)",
                self.kind.title.lower(),
                self.entity_id,
                error,
            )
            return
        if state == "deferred":
            self.log.info(
                "Not deleting %s %s: its task is still deferred, so this trigger moved to another triggerer",
                self.kind.title.lower(),
                self.entity_id,
            )
            return
        self.log.info("Deleting %s %s as its task was %s", self.kind.title.lower(), self.entity_id, state)
        await self.hook().delete_async(self.kind, self.entity_id)


# Deletions under way after a kill; kept here so that a cancelled on_kill leaves them running to the end.
_cleanups: set[asyncio.Future[None]] = set()


async def task_instance_state(task_instance: Any) -> str | None:
    """
    The current state of a trigger's task instance, as Airflow's metadata database holds it.

    Airflow 3 asks the API server through the triggerer's supervisor; Airflow 2's triggerer reads
    the database itself.
    """
    if task_instance is None:
        raise RuntimeError("the triggerer gave this trigger no task instance")
    from asgiref.sync import sync_to_async

    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:
        return await sync_to_async(_database_state)(task_instance)
    states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
        dag_id=task_instance.dag_id,
        task_ids=[task_instance.task_id],
        run_ids=[task_instance.run_id],
        map_index=task_instance.map_index,
    )
    key = (
        task_instance.task_id
        if task_instance.map_index < 0
        else f"{task_instance.task_id}_{task_instance.map_index}"
    )
    state = states.get(task_instance.run_id, {}).get(key)
    return None if state is None else str(getattr(state, "value", state))


def _database_state(task_instance: Any) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        state = (
            session.query(TaskInstance.state)
            .filter_by(
                dag_id=task_instance.dag_id,
                task_id=task_instance.task_id,
                run_id=task_instance.run_id,
                map_index=task_instance.map_index,
            )
            .scalar()
        )
    return None if state is None else str(getattr(state, "value", state))
