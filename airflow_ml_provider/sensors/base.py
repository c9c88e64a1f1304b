"""Wait for an Amazon ML object to complete, poking or deferred, with one timeout rule for both."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_ml_provider.exceptions import EntityFailedError
from airflow_ml_provider.hooks.connection import MachineLearningHookMixin
from airflow_ml_provider.utils.clock import deadline_in
from airflow_ml_provider.utils.outlets import annotate_outlets
from airflow_ml_provider.utils.status import Outcome
from airflow_ml_provider.utils.validation import validate_duration, validate_entity_id
from airflow_ml_provider.waiting import EntityWait, WaitResult

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_ml_provider.kinds import EntityKind


class MachineLearningEntitySensor(MachineLearningHookMixin, BaseSensorOperator):
    """
    Base of the sensors that wait until an Amazon ML object is ``COMPLETED``; any other end fails.

    ``FAILED``, ``DELETED``, an unknown status or a malformed trigger event raise the kind's
    :class:`~airflow_ml_provider.exceptions.EntityFailedError` with the object's ID, status and the
    service's message (a skip instead with ``soft_fail``, in every mode). With ``deferrable=True``
    the sensor pokes once, then hands the wait to the kind's trigger with the same
    ``poke_interval`` and a deadline at ``timeout``, so it gives up when a poking sensor would.
    Subclasses set ``kind``, keep the ID under ``<kind>_id``, return it as :attr:`entity_id` and may
    shape the returned value.

    :param deferrable: Wait in the triggerer instead of a worker slot. Defaults to
        ``[operators] default_deferrable``.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region; if not set, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates, or a path to a CA bundle.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    kind: ClassVar[EntityKind]
    ui_color = "#f1c68b"

    def __init__(
        self,
        *,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self._set_aws_params(aws_conn_id, region_name, verify, botocore_config)

    @property
    def entity_id(self) -> str:
        """The ID of the object waited for; each subclass returns its own ``<kind>_id`` parameter."""
        raise NotImplementedError

    def result(self, description: dict[str, Any]) -> Any:
        """What the sensor returns for a COMPLETED object; by default its ``Get`` response."""
        return description

    def outlet_extra(self, description: dict[str, Any], value: Any) -> dict[str, Any]:
        """The ``extra`` of the asset events the sensor emits for a COMPLETED object."""
        return {self.kind.id_param: self.entity_id, "status": description["Status"]}

    def execute(self, context: Context) -> Any:
        validate_entity_id(self.kind.id_param, self.entity_id)
        # Airflow takes NaN and infinity here; neither bounds a wait.
        validate_duration("poke_interval", self.poke_interval, zero_allowed=True)
        validate_duration("timeout", self.timeout, zero_allowed=True)
        self.check_connection()
        # A poke that rides out the service's lag (refused credentials, not found) stops at the timeout.
        self._poke_deadline = time.monotonic() + self.timeout
        if not self.deferrable:
            return super().execute(context)
        deadline = deadline_in(self.timeout)
        try:
            poked = self.poke(context)
        except AirflowSkipException:
            raise
        except Exception as error:
            # The same rule as a poking sensor's: never_fail skips on any error of a poke.
            if getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping as never_fail is set: {error}") from error
            raise
        if isinstance(poked, PokeReturnValue):
            return poked.xcom_value
        self.defer(
            trigger=self.kind.new_trigger(
                self.entity_id,
                waiter_delay=self.poke_interval,
                deadline=deadline,
                **self.aws_params,
            ),
            method_name="execute_complete",
            # Only a safety net: the trigger reports its own timeout at the deadline.
            timeout=timedelta(seconds=self.timeout + 2 * self.poke_interval + 60),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        # A throttled poll is one more poke, not a failure: the sensor's timeout bounds them.
        deadline = getattr(self, "_poke_deadline", None)
        step = self.hook.poll(
            EntityWait(self.kind, self.entity_id, delay=self.poke_interval, deadline=deadline)
        )
        if not isinstance(step, WaitResult):
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, step))

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger fired; only an explicit success for this object succeeds."""
        return self._finish(context, WaitResult.from_event(event, self.kind, self.entity_id))

    def _finish(self, context: Context, result: WaitResult) -> Any:
        if result.outcome is Outcome.TIMEOUT:
            raise AirflowSensorTimeout(f"{self.kind.title} {self.entity_id}: {result.message}")
        try:
            description = result.description_or_raise()
            value = self.result(description)
        except (EntityFailedError, AirflowFailException) as error:
            # The same rule whether a poke or the trigger saw the failure.
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(str(error)) from error
            raise
        annotate_outlets(self, context, self.outlet_extra(description, value))
        return value
