"""Create an Amazon ML object once per task instance, whatever the retries, and optionally wait for it."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_ml_provider.exceptions import InvalidParameterError
from airflow_ml_provider.hooks.connection import MachineLearningHookMixin
from airflow_ml_provider.utils.clock import deadline_in
from airflow_ml_provider.utils.outlets import annotate_outlets
from airflow_ml_provider.utils.ownership import Owner, kill_keeps, not_a_kill, task_state_within
from airflow_ml_provider.utils.status import COMPLETED
from airflow_ml_provider.utils.validation import (
    derive_entity_id,
    entity_id_chain,
    validate_entity_id,
    validate_tags,
    validate_waiter,
)
from airflow_ml_provider.waiting import EntityWait, WaitResult

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_ml_provider.kinds import EntityKind

# The service allows 10 tags per object (its AddTags reference; 50 by its quota page); three are the
# provider's (the request's digest, the owner, the succeeded mark).
USER_TAG_ROOM = 7
# Jobs running over 7 days are failed by the service, so a longer default wait is pointless.
DEFAULT_WAITER_DELAY = 30
DEFAULT_WAITER_MAX_ATTEMPTS = 7 * 24 * 60 * 60 // DEFAULT_WAITER_DELAY
# A killed worker is given a few seconds before SIGKILL: the state query of its kill must fit in them.
KILL_STATE_SECONDS = 3.0


class MachineLearningCreateOperator(MachineLearningHookMixin, BaseOperator):
    """
    Base of the operators that create an Amazon ML object.

    Subclasses set ``kind``, keep the object's ID and name under their own parameter names (e.g.
    ``batch_prediction_id``), return the ID from :meth:`given_id` and build the create request.

    The object's ID is the subclass's ``<kind>_id`` parameter, or, when it is not given, derived
    from the DAG, task, run and map index (and ``[amazon_ml] id_namespace``), so a retry, or a
    re-run after a worker died, finds the object an earlier try created and reattaches to it instead
    of creating another. After an object FAILED or was DELETED, or once a try that used it succeeded
    (a cleared task, a reprocessing backfill, a re-created run), the next try creates one fresh object
    under the next ID of the same chain. XCom ``created`` says whether this try created the object.

    :param wait_for_completion: Wait until the object reaches a final status, failing the task
        unless it is COMPLETED.
    :param deferrable: With ``wait_for_completion``, wait in the triggerer instead of a worker slot.
        Defaults to ``[operators] default_deferrable``.
    :param waiter_delay: Seconds between status polls while waiting.
    :param waiter_max_attempts: Polls allowed while waiting; the wait also ends
        ``waiter_delay * waiter_max_attempts`` seconds after it began, in both modes.
    :param delete_on_kill: When the task is killed, mark the object DELETED (the service has no
        cancel), also while the task is deferred.
    :param tags: Tags for the object, as a dict; (re)applied on every try. (templated)
    :param aws_conn_id: The Airflow connection used for AWS credentials. If None or empty, the
        default boto3 behaviour is used.
    :param region_name: AWS region; if not set, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates, or a path to a CA bundle.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    kind: ClassVar[EntityKind]
    ui_color = "#f1c68b"

    def __init__(
        self,
        *,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = DEFAULT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_WAITER_MAX_ATTEMPTS,
        delete_on_kill: bool = False,
        tags: dict[str, str] | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        id_given: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # An ID that was given but renders to None (an empty XCom, say) is an error, not a request to derive one.
        self._id_given = id_given
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.delete_on_kill = delete_on_kill
        self.tags = tags
        self._set_aws_params(aws_conn_id, region_name, verify, botocore_config)
        self.submitted: dict[str, Any] | None = None
        # The try that runs, and its task instance, for the tags it leaves and the rule of its kill.
        self._try_owner: Owner | None = None
        self._task_instance_key: tuple[str, str, str, int | None] | None = None
        if self.outlets and not wait_for_completion:
            # Airflow emits outlet events when the task succeeds: without waiting, that is at creation.
            raise InvalidParameterError(
                "outlets",
                self.outlets,
                f"need wait_for_completion=True, or declare them on the {self.kind.title.lower()} sensor, "
                f"so the asset event means the {self.kind.title.lower()} COMPLETED",
            )

    def given_id(self) -> str | None:
        """The ID the DAG gave, after templating: the subclass's ``<kind>_id`` parameter."""
        raise NotImplementedError

    def build_request(self) -> dict[str, Any]:
        """The create request without the ID, validated after templating."""
        raise NotImplementedError

    def on_submitted(self, context: Context, description: dict[str, Any]) -> None:
        """Called once the object exists, before any wait; subclasses push extra XComs here."""

    def _entity_id(self, context: Context) -> str:
        given = self.given_id()
        if given is None and not self._id_given:
            ti = context["ti"]
            return derive_entity_id(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, _id_namespace())
        return validate_entity_id(self.kind.id_param, given)

    def execute(self, context: Context) -> str:
        self.check_connection()
        validate_waiter(self.waiter_delay, self.waiter_max_attempts)
        entity_id, request = self._entity_id(context), self.build_request()
        tags = validate_tags("tags", self.tags, room=USER_TAG_ROOM)
        ti = context["ti"]
        self._try_owner = Owner.of(
            ti.dag_id, ti.task_id, ti.map_index, ti.try_number, _id_namespace(), run_id=ti.run_id
        )
        self._task_instance_key = (ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        submission = self.hook.submit(
            self.kind, entity_id, request, tags, self._run_of(context), self._try_owner
        )
        self.submitted = description = submission.description
        entity_id = description[self.kind.id_key]
        context["ti"].xcom_push(key="created", value=submission.created)
        self.on_submitted(context, description)
        self.kind.link_class.persist(
            context,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            entity_id=entity_id,
            description=description,
        )
        if not self.wait_for_completion or description["Status"] == COMPLETED:
            return self._succeed(context, description)
        timeout = self.waiter_delay * self.waiter_max_attempts
        if self.deferrable:
            self.defer(
                trigger=self._trigger(entity_id, deadline_in(timeout)),
                method_name="execute_complete",
                kwargs={"entity_id": entity_id},
                # Only a safety net: the trigger reports its own timeout at the deadline.
                timeout=timedelta(seconds=timeout + 2 * self.waiter_delay + 60),
            )
        wait = EntityWait(
            self.kind,
            entity_id,
            delay=self.waiter_delay,
            max_attempts=self.waiter_max_attempts,
            deadline=time.monotonic() + timeout,
        )
        return self._succeed(context, self.hook.wait(wait))

    def outlet_extra(self, description: dict[str, Any]) -> dict[str, Any]:
        """The ``extra`` of the asset events emitted for a COMPLETED object."""
        return {self.kind.id_param: description[self.kind.id_key], "status": description["Status"]}

    def _succeed(self, context: Context, description: dict[str, Any]) -> str:
        """
        Finish the task: tell the outlet assets which object COMPLETED, then mark the object as used.

        The mark comes last, so that a try that fails before it leaves the object to its retry.
        """
        entity_id = description[self.kind.id_key]
        if self.outlets:
            annotate_outlets(self, context, self.outlet_extra(description))
        self.hook.mark_succeeded(self.kind, entity_id, self._run_of(context))
        return entity_id

    def _run_of(self, context: Context) -> str:
        """
        Which run of the task instance this try belongs to, as the object's succeeded tag records it.

        Its retries share it: the first try of the chain (Airflow's ``max_tries - retries + 1``, which
        a clear moves on) and the start of the DAG run (another for a run created anew under the same
        run ID). So a retry after a try that failed once ``execute`` had returned still reattaches.
        """
        ti, dag_run = context["ti"], context["dag_run"]
        first_try = ti.max_tries - (self.retries or 0) + 1
        started = dag_run.start_date.isoformat() if dag_run.start_date else "unknown"
        return f"try {first_try} of the run started {started}"

    def _trigger(self, entity_id: str, deadline: float) -> Any:
        return self.kind.new_trigger(
            entity_id,
            waiter_delay=self.waiter_delay,
            waiter_max_attempts=self.waiter_max_attempts,
            deadline=deadline,
            delete_on_kill=self.delete_on_kill,
            owner_tag=self._try_owner.tag if self._try_owner else None,
            **self.aws_params,
        )

    def execute_complete(self, context: Context, event: Any = None, entity_id: str | None = None) -> str:
        """Resume after the trigger fired: return the ID if the object COMPLETED, else raise."""
        description = WaitResult.from_event(
            event, self.kind, entity_id or self._deferred_entity_id(context, event)
        ).description_or_raise()
        self.submitted = description
        return self._succeed(context, description)

    def _deferred_entity_id(self, context: Context, event: Any) -> str:
        """
        The object the task deferred for, when the resume did not pass it on (``airflow dags test``).

        Only an object of this task instance's own ID chain can be it: an event about any other
        object is then judged foreign.
        """
        chain = entity_id_chain(self._entity_id(context))
        named = event.get("entity_id") if isinstance(event, dict) else None
        return named if named in chain else chain[0]

    def on_kill(self) -> None:
        """
        Mark the object DELETED if asked to, when a user's action killed this try: the service has no cancel.

        The rule is :func:`~airflow_ml_provider.utils.ownership.kill_keeps`, the trigger's too: a worker that
        shuts down (SIGTERM of a deploy or an eviction) or a try that hit ``execution_timeout`` finds its task
        still running and leaves the job to the next try, which reattaches.
        """
        if not (self.delete_on_kill and self.submitted and self._try_owner and self._task_instance_key):
            return
        entity_id = self.submitted[self.kind.id_key]
        try:
            state = task_state_within(KILL_STATE_SECONDS, *self._task_instance_key)
            reason = not_a_kill(state)
            if reason is None:
                description = self.hook.find(self.kind, entity_id)
                tags = self.hook.get_tags(self.kind, entity_id) if description else None
                reason = kill_keeps(state, description, tags, self._try_owner)
        except Exception as error:
            reason = f"whose it is could not be read ({error})"
        if reason:
            self.log.info("Not deleting %s %s: %s", self.kind.title.lower(), entity_id, reason)
            return
        self.log.info("Deleting %s %s as its task was %s", self.kind.title.lower(), entity_id, state)
        self.hook.delete(self.kind, entity_id)


def _id_namespace() -> str:
    """``[amazon_ml] id_namespace``: what keeps two deployments on one account apart."""
    return conf.get("amazon_ml", "id_namespace", fallback="") or ""
