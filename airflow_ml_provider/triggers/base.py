"""The asynchronous wait for one Amazon ML object, shared by the triggers of every kind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_ml_provider.hooks.connection import MachineLearningHookMixin
from airflow_ml_provider.utils.clock import local_deadline
from airflow_ml_provider.utils.ownership import Owner, kill_keeps, not_a_kill, task_state
from airflow_ml_provider.utils.status import Outcome
from airflow_ml_provider.waiting import EntityWait, WaitResult

if TYPE_CHECKING:
    from airflow_ml_provider.kinds import EntityKind


class MachineLearningEntityTrigger(MachineLearningHookMixin, BaseTrigger):
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
    :param delete_on_kill: Mark the object DELETED when a user kills the deferred task (see :meth:`on_kill`).
    :param owner_tag: The owner tag of the try that deferred (see :class:`~airflow_ml_provider.utils.ownership.Owner`):
        a kill deletes only an object that this try still owns.
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
        owner_tag: str | None = None,
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
        self.owner_tag = owner_tag
        self._set_aws_params(aws_conn_id, region_name, verify, botocore_config)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                self.kind.id_param: self.entity_id,
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "deadline": self.deadline,
                "delete_on_kill": self.delete_on_kill,
                "owner_tag": self.owner_tag,
                **self.aws_params,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = EntityWait(
            self.kind,
            self.entity_id,
            delay=self.waiter_delay,
            max_attempts=self.waiter_max_attempts,
            deadline=self._local_deadline(),
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
        hook = self.hook
        async with hook.async_client() as shared:
            step: WaitResult | float = 0.0
            while not isinstance(step, WaitResult):
                await asyncio.sleep(step)
                step = await hook.poll_async(shared, wait)
            return step

    def _local_deadline(self) -> float | None:
        """The deadline on this process's monotonic clock, taken once (see :mod:`~airflow_ml_provider.utils.clock`)."""
        if self.deadline is not None and not hasattr(self, "_deadline_here"):
            self._deadline_here = local_deadline(self.deadline)
        return None if self.deadline is None else self._deadline_here

    def _wait_over(self) -> bool:
        """
        Whether the wait had ended by its own limits when a kill comes: its deadline passed, or, with polls
        counted, it is within the last two delays before it, where the limit of polls ends a wait that began
        then (the first interval joins the grid of its delay, shortened by up to one delay).
        """
        ends_at = self._local_deadline()
        if ends_at is None:
            return False
        return time.monotonic() >= ends_at - (2 * self.waiter_delay if self.waiter_max_attempts else 0.0)

    async def on_kill(self) -> None:
        """
        Mark the object DELETED if asked to, when a user's action killed the deferred task.

        Airflow also cancels a trigger this way when it merely moves to another triggerer (one that
        missed its heartbeat comes back and drops what was taken over), and after the copy there fired.
        The rule is :func:`~airflow_ml_provider.utils.ownership.kill_keeps`, the worker's too: the task's
        state must show a user's action, the object must still be PENDING or INPROGRESS and owned by the
        try that deferred, and the wait's deadline must not have passed. The triggerer cancels a trigger
        again on each of its loops until it ends, so the work runs shielded from those repeats.
        """
        if not self.delete_on_kill:
            return
        cleanup = asyncio.ensure_future(self._delete_if_the_user_acted())
        _cleanups.add(cleanup)
        cleanup.add_done_callback(_cleanups.discard)
        await asyncio.shield(cleanup)

    async def _delete_if_the_user_acted(self) -> None:
        from asgiref.sync import sync_to_async

        state = None
        try:
            ti = self.task_instance
            if ti is None:
                raise RuntimeError("the triggerer gave this trigger no task instance")
            state = await sync_to_async(task_state)(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
            reason = not_a_kill(state, self._wait_over())
            if reason is None:
                description, tags = await self.hook.describe_with_tags_async(self.kind, self.entity_id)
                reason = kill_keeps(state, description, tags, Owner.parse(self.owner_tag), self._wait_over())
        except Exception as error:
            reason = f"whose it is could not be read ({error})"
        if reason:
            self.log.info("Not deleting %s %s: %s", self.kind.title.lower(), self.entity_id, reason)
            return
        self.log.info("Deleting %s %s as its task was %s", self.kind.title.lower(), self.entity_id, state)
        await self.hook.delete_async(self.kind, self.entity_id)


# Deletions under way after a kill; kept here so that a cancelled on_kill leaves them running to the end.
_cleanups: set[asyncio.Future[None]] = set()
