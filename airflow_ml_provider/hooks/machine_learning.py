"""Every call this provider makes to Amazon Machine Learning and to the S3 results, sync and async."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, TypeVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from airflow_ml_provider.exceptions import (
    BatchPredictionFailedError,
    InvalidParameterError,
    ServiceRejectedError,
    WaitTimeoutError,
)
from airflow_ml_provider.hooks.connection import check_connection_id
from airflow_ml_provider.kinds import BATCH_PREDICTION, ML_MODEL, EntityKind
from airflow_ml_provider.utils.entities import identity_differences, identity_digest
from airflow_ml_provider.utils.ownership import OWNER_TAG, REQUEST_TAG, SUCCEEDED_TAG, Owner, foreign
from airflow_ml_provider.utils.realtime import (
    endpoint_reached,
    endpoint_status,
    predict_record,
    ready_endpoint_url,
)
from airflow_ml_provider.utils.status import COMPLETED, Outcome, outcome_of
from airflow_ml_provider.utils.validation import (
    MAX_GENERATIONS,
    retry_entity_id,
    validate_entity_id,
    validate_https_url,
)
from airflow_ml_provider.waiting import (
    EntityWait,
    WaitResult,
    is_credential_error,
    is_retryable,
    json_safe,
    lag_grace,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A shared client is rebuilt from its connection this often, so that an edited connection (a rotated
# key, another extra) reaches the waits that are already running.
CLIENT_RENEW_SECONDS = 900
# After the service refused a client's credentials, it is rebuilt at most this often.
CREDENTIAL_RENEW_MIN_SECONDS = 5.0
# After a rebuild of a shared client failed, the next one is tried this much later.
CLIENT_RENEW_RETRY_SECONDS = 30.0


def manifest_uri(output_uri: str, batch_prediction_id: str) -> str:
    """Where the service writes the manifest of a completed batch prediction."""
    return f"{output_uri}batch-prediction/{batch_prediction_id}.manifest"


def error_code(error: ClientError) -> str:
    """The service's error code of a botocore ``ClientError``."""
    return error.response.get("Error", {}).get("Code", "Unknown")


def error_message(error: ClientError) -> str:
    """The service's own message of a botocore ``ClientError``."""
    return error.response.get("Error", {}).get("Message", str(error))


# What a call to the service can fail with and still be judged by its code: the service's
# answers, and a connection that was lost or never made (judged as ``ConnectionError``).
CALL_ERRORS = (ClientError, BotocoreConnectionError, HTTPClientError)


def describe_call_error(error: Exception) -> tuple[str, str]:
    """The code and message by which a failed call is judged retryable or not."""
    if isinstance(error, ClientError):
        return error_code(error), error_message(error)
    return "ConnectionError", str(error)


class SharedClient:
    """
    The aiobotocore client that every waiting trigger of one connection's settings shares in one loop.

    A client costs about half a megabyte and tens of milliseconds of CPU; a triggerer with a
    thousand waiting tasks must not pay that a thousand times. It is rebuilt from the connection
    every :data:`CLIENT_RENEW_SECONDS`, and at once when the service refuses its credentials (an
    expired session token, a rotated key): :meth:`call` then retries the call once on the new one.
    A replaced client closes when its last call in flight returns; a rebuild that fails (the
    connection could not be read for a moment) keeps the current client and tries again later.

    :param hook: The hook whose connection the client is built from.
    """

    def __init__(self, hook: MachineLearningHook) -> None:
        self.hook = hook
        self.users = 0
        self.renewals = 0
        self._client: Any = None
        self._context: Any = None
        self._opened_at = 0.0
        self._credentials_renewed_at = -math.inf
        self._lock = asyncio.Lock()
        # Calls in flight per client, and the replaced clients that wait for theirs to return.
        self._in_flight: dict[int, int] = {}
        self._retired: dict[int, Any] = {}

    async def client(self) -> Any:
        """The current client, rebuilt first if it is due for renewal."""
        client = self._client
        if client is None or time.monotonic() - self._opened_at >= CLIENT_RENEW_SECONDS:
            await self._renew(client)
        return self._client

    async def call(self, request: Callable[[Any], Awaitable[Any]]) -> Any:
        """
        Make one call, e.g. ``call(lambda client: client.get_batch_prediction(BatchPredictionId=...))``.

        When the service refuses the credentials, the client is rebuilt from the connection (read
        anew) and the call made once more; refused again, the error names the connection.
        """
        client = await self.client()
        try:
            return await self._call_on(client, request)
        except ClientError as error:
            if not is_credential_error(error_code(error)):
                raise
            if not await self._renew_credentials(client):
                _name_connection(error, self.hook.aws_conn_id)
                raise
        try:
            return await self._call_on(self._client, request)
        except ClientError as error:
            if is_credential_error(error_code(error)):
                _name_connection(error, self.hook.aws_conn_id)
            raise

    async def _call_on(self, client: Any, request: Callable[[Any], Awaitable[Any]]) -> Any:
        key = id(client)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            return await request(client)
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
                retired = self._retired.pop(key, None)
                if retired is not None:
                    await retired.__aexit__(None, None, None)

    async def _renew_credentials(self, refused: Any) -> bool:
        """Rebuild the client whose credentials were refused, unless that was done a moment ago."""
        if self._client is not refused:
            return True
        if time.monotonic() - self._credentials_renewed_at < CREDENTIAL_RENEW_MIN_SECONDS:
            return False
        self._credentials_renewed_at = time.monotonic()
        await self._renew(refused)
        return True

    async def _renew(self, stale: Any) -> None:
        async with self._lock:
            if self._client is not stale:
                return  # another caller renewed it meanwhile
            try:
                hook = self.hook if stale is None else self.hook.renewed()
                context = await hook.get_async_conn()
                client = await context.__aenter__()
            except Exception as error:
                if stale is None:
                    raise
                # Serving on with the current client beats failing every wait on a passing hiccup.
                log.warning(
                    "Could not rebuild the client from the connection (%s); keeping the current one", error
                )
                self._opened_at = time.monotonic() - CLIENT_RENEW_SECONDS + CLIENT_RENEW_RETRY_SECONDS
                return
            retired, self._context, self._client, self.hook = self._context, context, client, hook
            self._opened_at = time.monotonic()
            if retired is not None:
                self.renewals += 1
                if id(stale) in self._in_flight:
                    self._retired[id(stale)] = retired
                else:
                    await retired.__aexit__(None, None, None)

    async def close(self) -> None:
        contexts = [self._context, *self._retired.values()]
        self._context, self._client = None, None
        self._retired.clear()
        for context in contexts:
            if context is not None:
                await context.__aexit__(None, None, None)


def _name_connection(error: ClientError, aws_conn_id: str | None, read_again: bool = True) -> None:
    """Say in the error's message which connection's credentials the service refused."""
    details = error.response.setdefault("Error", {})
    connection = f"Airflow connection {aws_conn_id!r}" if aws_conn_id else "boto3's default credentials"
    again = ", also after reading the connection again" if read_again else ""
    details["Message"] = (
        f"{details.get('Message', '')} (the credentials of {connection} were refused{again})".lstrip()
    )


class _SharedClients:
    """The shared clients of each event loop, by connection settings; one closes when its last user leaves."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedClient]] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def client(self, hook: MachineLearningHook) -> AsyncIterator[SharedClient]:
        entries = self._loops.setdefault(asyncio.get_running_loop(), {})
        key = hook.connection_key()
        shared = entries.get(key)
        if shared is None:
            shared = entries[key] = SharedClient(hook)
        shared.users += 1
        try:
            await shared.client()
            yield shared
        finally:
            shared.users -= 1
            if shared.users == 0:
                if entries.get(key) is shared:
                    del entries[key]
                await shared.close()

    def entries(self) -> int:
        """How many shared clients the running event loop holds (open or not)."""
        return len(self._loops.get(asyncio.get_running_loop(), {}))

    def open_count(self) -> int:
        """How many clients are open in the running event loop."""
        entries = self._loops.get(asyncio.get_running_loop(), {})
        return sum(entry._client is not None for entry in entries.values())


shared_clients = _SharedClients()


@dataclass(frozen=True)
class Submission:
    """
    The object a create task works on: its ``Get`` response, and whether this try created it.

    :param description: The object's ``Get`` response.
    :param created: True when this call created it, False when it reattached to an earlier try's.
    """

    description: dict[str, Any]
    created: bool


class MachineLearningHook(AwsGenericHook):
    """
    Interact with Amazon Machine Learning, synchronously with boto3 and asynchronously with aiobotocore.

    Credentials, region, ``endpoint_url``, role assumption, ``verify`` and ``botocore_config`` come
    from the Amazon provider's :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsGenericHook`.
    Results are read from S3 with the Amazon provider's ``S3Hook`` on the same connection, so an
    S3 ``endpoint_url`` in the connection's ``service_config`` applies to them.

    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region; if not set, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates.
    :param config: Configuration for the botocore client.
    """

    hook_name = "Amazon Machine Learning"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "machinelearning"
        super().__init__(*args, **kwargs)

    @cached_property
    def conn_config(self) -> AwsConnectionWrapper:
        """The Amazon provider's connection wrapper, once :func:`check_connection_id` allowed the connection ID."""
        check_connection_id(self.aws_conn_id)
        return super().conn_config

    def renewed(self) -> MachineLearningHook:
        """A hook with the same settings that reads its connection, and so its credentials, anew."""
        return type(self)(
            aws_conn_id=self.aws_conn_id,
            region_name=self._region_name,
            verify=self._verify,
            config=self._config,
        )

    def connection_key(self) -> str:
        """What identifies this hook's connection settings, for sharing clients and pollers."""
        config = getattr(self._config, "_user_provided_options", None)
        return json.dumps(
            [self.aws_conn_id, self._region_name, self._verify, config], sort_keys=True, default=str
        )

    @contextmanager
    def _service_call(self, operation: str) -> Iterator[None]:
        # Errors a retry cannot fix fail the task at once, carrying the service's own message.
        try:
            yield
        except ClientError as error:
            if is_retryable(error_code(error)):
                raise
            if is_credential_error(error_code(error)):
                _name_connection(error, self.aws_conn_id, read_again=False)
            raise ServiceRejectedError(operation, error_code(error), error_message(error)) from error

    # -- any kind of object ------------------------------------------------------------------

    def create(self, kind: EntityKind, request: dict[str, Any]) -> str:
        """Call the kind's create operation with ``request`` (including the ID); return the ID."""
        with self._service_call(kind.create_operation):
            return kind.create(self.conn, request)[kind.id_key]

    def get(self, kind: EntityKind, entity_id: str) -> dict[str, Any]:
        """Call ``Get<Kind>`` and return the response without its metadata."""
        with self._service_call(f"Get{kind.operation}"):
            return json_safe(kind.get(self.conn, entity_id))

    def find(self, kind: EntityKind, entity_id: str) -> dict[str, Any] | None:
        """Like :meth:`get`, but None when no object of the kind has that ID."""
        try:
            return json_safe(kind.get(self.conn, entity_id))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            with self._service_call(f"Get{kind.operation}"):
                raise

    def delete(self, kind: EntityKind, entity_id: str) -> None:
        """Mark an object ``DELETED``; the service has no cancel, and this is irreversible."""
        with self._service_call(f"Delete{kind.operation}"):
            kind.delete(self.conn, entity_id)

    def get_tags(self, kind: EntityKind, entity_id: str) -> dict[str, str]:
        """Call ``DescribeTags``: the object's tags as a dict."""
        with self._service_call("DescribeTags"):
            response = self.conn.describe_tags(ResourceId=entity_id, ResourceType=kind.operation)
        return {tag["Key"]: tag.get("Value", "") for tag in response.get("Tags", [])}

    def add_tags(self, kind: EntityKind, entity_id: str, tags: Mapping[str, str]) -> None:
        """Call ``AddTags``: add or overwrite these tags, so adding them again changes nothing."""
        if tags:
            with self._service_call("AddTags"):
                self.conn.add_tags(
                    ResourceId=entity_id,
                    ResourceType=kind.operation,
                    Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
                )

    def mark_succeeded(self, kind: EntityKind, entity_id: str, run: str) -> None:
        """
        Tag the object as used by a try of ``run`` that succeeded: a later run of the task creates anew.

        :param run: Which run of the task instance the try belongs to (see :meth:`submit`).
        """
        self._riding_lag(kind, entity_id, partial(self.add_tags, kind, entity_id, {SUCCEEDED_TAG: run}))

    def submit(
        self,
        kind: EntityKind,
        entity_id: str,
        request: dict[str, Any],
        tags: Mapping[str, str] | None = None,
        run: str = "",
        owner: Owner | None = None,
    ) -> Submission:
        """
        Create an object, or reattach to the one an earlier try of the same task run created.

        ``entity_id`` starts a chain of IDs (see
        :func:`~airflow_ml_provider.utils.validation.retry_entity_id`). Along it, an object is passed
        over when it FAILED, was DELETED or has an unknown status (whatever its parameters), or when
        a try of an earlier run of the task instance succeeded with it (tag :data:`SUCCEEDED_TAG`
        naming another ``run``: a re-run wants a fresh object).
        The first other object is reattached to if every parameter that shapes it (the kind's
        identity) is the request's, and is an error naming each difference otherwise. Where the
        chain has no object left, one is created. Every try (re)applies ``tags``, the request's
        digest (tag :data:`REQUEST_TAG`), which later tries compare, and its ``owner`` (tag
        :data:`OWNER_TAG`): an object on the chain that another task created is an error naming the ID
        parameter, never reattached to nor passed over, and a kill deletes only what its try still owns.

        :param kind: The kind of object.
        :param entity_id: The first ID of the chain.
        :param request: The create request without the ID.
        :param tags: The user's tags for the object.
        :param run: Which run of the task instance this try belongs to: the same for its retries,
            another after a clear or for a run created anew under the same run ID.
        :param owner: The try that submits; None when the hook is used outside a task.
        """
        identity = kind.identity(request)
        digest = identity_digest(identity)
        tags = {**(tags or {}), REQUEST_TAG: digest, **({OWNER_TAG: owner.tag} if owner else {})}
        for generation in range(MAX_GENERATIONS):
            candidate_id = retry_entity_id(entity_id, generation)
            existing = self._riding_lag(kind, candidate_id, partial(self.find, kind, candidate_id))
            if existing is None:
                return self._create_tagged(kind, candidate_id, request, tags)
            existing_tags = self._riding_lag(kind, candidate_id, partial(self.get_tags, kind, candidate_id))
            whose = foreign(existing_tags, owner) if owner else None
            if whose:
                raise InvalidParameterError(
                    kind.id_param,
                    candidate_id,
                    f"names a {kind.title.lower()} that is not this task's ({whose}); give an ID of its own",
                )
            if outcome_of(existing["Status"]) not in (None, Outcome.SUCCESS):
                self.log.info(
                    "%s %s is %s (%s); trying the next ID",
                    kind.title,
                    candidate_id,
                    existing["Status"],
                    existing.get("Message", ""),
                )
                continue
            if existing_tags.get(SUCCEEDED_TAG, run) != run:
                self.log.info(
                    "%s %s served an earlier run of this task that succeeded; trying the next ID",
                    kind.title,
                    candidate_id,
                )
                continue
            old_digest = existing_tags.get(REQUEST_TAG)
            differences = identity_differences(
                identity,
                kind.reported(existing, identity),
                None if old_digest is None else old_digest == digest,
            )
            if differences:
                raise ServiceRejectedError(
                    kind.create_operation,
                    "IdempotentParameterMismatchException",
                    f"{kind.title.lower()} {candidate_id} was created by an earlier try of this task with "
                    f"other parameters ({_describe_differences(differences)}); it is still "
                    f"{existing['Status']}. Let it finish or delete it, or give a new {kind.id_param}",
                )
            self.log.info("Reattaching to %s %s (%s)", kind.title.lower(), candidate_id, existing["Status"])
            self.add_tags(kind, candidate_id, tags)
            return Submission(existing, created=False)
        raise ServiceRejectedError(
            kind.create_operation,
            "TooManyGenerations",
            f"{MAX_GENERATIONS} objects under {entity_id} failed, were deleted or served earlier runs",
        )

    def _create_tagged(
        self, kind: EntityKind, entity_id: str, request: dict[str, Any], tags: Mapping[str, str]
    ) -> Submission:
        self.log.info("Creating %s %s", kind.title.lower(), entity_id)
        self._riding_lag(kind, entity_id, lambda: self.create(kind, {kind.id_key: entity_id, **request}))
        self._riding_lag(kind, entity_id, lambda: self.add_tags(kind, entity_id, tags))
        return Submission(self._riding_lag(kind, entity_id, lambda: self.get(kind, entity_id)), created=True)

    def _riding_lag(self, kind: EntityKind, entity_id: str, call: Callable[[], _T]) -> _T:
        """
        Make a call of a create, asking again while the service's answer may be its lag: the object just
        created not found yet (its reads lag its writes), or credentials refused while a rotated key reaches
        the connection after the service (the connection is read anew first).

        It backs off as a wait does and gives up when the wait would
        (:data:`~airflow_ml_provider.waiting.LAG_GRACE_SECONDS`).
        """
        lag = EntityWait(kind, entity_id, delay=1.0)
        while True:
            try:
                return call()
            except ServiceRejectedError as error:
                step = lag.on_error(error.code, error.service_message)
                if isinstance(step, WaitResult) or not lag_grace(error.code):
                    raise
                if is_credential_error(error.code):
                    self._forget_connection()
                self.log.info(
                    "%s %s: %s, perhaps the service's lag; asking again in %.1f s",
                    kind.title,
                    entity_id,
                    error.code,
                    step,
                )
                time.sleep(step)

    def poll(self, wait: EntityWait) -> WaitResult | float:
        """
        Call ``Get<Kind>`` and let ``wait`` judge the answer; return its result or the seconds to sleep.

        Refused credentials are read anew. A refusal that may be the service's lag (see
        :data:`~airflow_ml_provider.waiting.LAG_GRACE_SECONDS`) is asked again here, backing off, until the
        wait calls it final: a poke rides out a rotation lag as a deferred wait does, in every sensor mode.
        """
        while True:
            try:
                response = self._with_fresh_credentials(lambda: wait.kind.get(self.conn, wait.entity_id))
            except CALL_ERRORS as error:
                step = wait.on_error(*describe_call_error(error))
                if isinstance(step, WaitResult) or wait.lagging_since is None:
                    return step
                time.sleep(step)
                continue
            return wait.on_description(response)

    def _with_fresh_credentials(self, call: Callable[[], Any]) -> Any:
        """
        Make a call; when the service refuses the credentials, read the connection anew and make it once more.

        The in-worker counterpart of :meth:`SharedClient.call`: refused again, the error names the connection.
        """
        try:
            return call()
        except ClientError as error:
            if not is_credential_error(error_code(error)):
                raise
            self.log.warning(
                "The service refused the credentials (%s); reading the connection again", error_code(error)
            )
            self._forget_connection()
        try:
            return call()
        except ClientError as error:
            if is_credential_error(error_code(error)):
                _name_connection(error, self.aws_conn_id)
            raise

    def _forget_connection(self) -> None:
        """Drop the cached connection and clients, so the next call reads the connection anew."""
        for name in ("conn_config", "conn", "_client"):
            self.__dict__.pop(name, None)

    def wait(self, wait: EntityWait) -> dict[str, Any]:
        """
        Poll in this process until the object reaches a final status; return it if COMPLETED.

        :raises EntityFailedError: it FAILED, was DELETED or reached an unknown status.
        :raises WaitTimeoutError: the wait ran out of attempts or time.
        """
        step: WaitResult | float = 0.0
        while not isinstance(step, WaitResult):
            time.sleep(step)
            step = self.poll(wait)
        return step.description_or_raise()

    def update_ml_model(
        self, ml_model_id: str, *, score_threshold: float | None = None, ml_model_name: str | None = None
    ) -> None:
        """Call ``UpdateMLModel``: set a BINARY model's ``ScoreThreshold`` and/or its name."""
        request: dict[str, Any] = {"MLModelId": ml_model_id}
        if score_threshold is not None:
            request["ScoreThreshold"] = score_threshold
        if ml_model_name is not None:
            request["MLModelName"] = ml_model_name
        with self._service_call("UpdateMLModel"):
            self.conn.update_ml_model(**request)

    # -- results -----------------------------------------------------------------------------

    @cached_property
    def s3_hook(self) -> S3Hook:
        """The S3 hook on the same connection; it honours the connection's S3 ``service_config``."""
        # The service's rule for a connection that does not exist holds for S3 too, before S3 is asked.
        _ = self.conn_config
        return S3Hook(
            aws_conn_id=self.aws_conn_id,
            region_name=self._region_name,
            verify=self._verify,
            config=self._config,
        )

    def _open_s3(self, url: str) -> Any:
        bucket, key = S3Hook.parse_s3_url(url)
        with self._service_call("GetObject"):
            return self.s3_hook.conn.get_object(Bucket=bucket, Key=key)["Body"]

    def get_results(self, batch_prediction: dict[str, Any]) -> dict[str, Any]:
        """
        Describe where a completed job's predictions are: what a downstream task needs to read them.

        :param batch_prediction: The job's ``GetBatchPrediction`` response.
        """
        if batch_prediction.get("Status") != COMPLETED:
            raise BatchPredictionFailedError(
                BATCH_PREDICTION.title,
                batch_prediction.get("BatchPredictionId"),
                batch_prediction.get("Status"),
                "it has no results",
            )
        batch_prediction_id = batch_prediction["BatchPredictionId"]
        output_uri = batch_prediction["OutputUri"]
        manifest_url = manifest_uri(output_uri, batch_prediction_id)
        with closing(self._open_s3(manifest_url)) as body:
            manifest = json.load(body)
        return {
            "batch_prediction_id": batch_prediction_id,
            "status": batch_prediction["Status"],
            "output_uri": output_uri,
            "manifest_uri": manifest_url,
            "result_uris": list(manifest.values()),
            "input_uris": list(manifest),
            "total_record_count": batch_prediction.get("TotalRecordCount"),
            "invalid_record_count": batch_prediction.get("InvalidRecordCount"),
            "ml_model_id": batch_prediction.get("MLModelId"),
            "data_source_id": batch_prediction.get("BatchPredictionDataSourceId"),
            "input_data_location_s3": batch_prediction.get("InputDataLocationS3"),
            "finished_at": batch_prediction.get("FinishedAt"),
        }

    def iter_results(self, results: dict[str, Any] | str) -> Iterator[dict[str, str]]:
        """
        Stream the predictions of a completed job as dicts keyed by the result files' header.

        A record the service could not score comes as ``{}`` at its place, so rows stay aligned
        with the input records.

        :param results: The sensor's result dict, or a batch prediction ID.
        """
        if isinstance(results, str):
            results = self.get_results(self.get(BATCH_PREDICTION, results))
        for result_uri in results["result_uris"]:
            # gzip does not close the stream it reads; closing it returns the connection to the pool.
            with closing(self._open_s3(result_uri)) as body, gzip.open(body, mode="rt", newline="") as lines:
                reader = csv.reader(lines)
                header = next(reader, [])
                for row in reader:
                    yield dict(zip(header, row, strict=True)) if row else {}

    # -- async -------------------------------------------------------------------------------

    @asynccontextmanager
    async def async_client(self) -> AsyncIterator[SharedClient]:
        """The aiobotocore client shared with every other user of the same settings in this loop."""
        async with shared_clients.client(self) as shared:
            yield shared

    async def poll_async(self, shared: SharedClient, wait: EntityWait) -> WaitResult | float:
        """Call ``Get<Kind>`` once on the shared client and let ``wait`` judge the answer."""
        try:
            response = await shared.call(lambda client: wait.kind.get(client, wait.entity_id))
        except CALL_ERRORS as error:
            return wait.on_error(*describe_call_error(error))
        return wait.on_description(response)

    async def delete_async(self, kind: EntityKind, entity_id: str) -> None:
        """Mark an object ``DELETED`` from the event loop."""
        async with self.async_client() as shared:
            await shared.call(lambda client: kind.delete(client, entity_id))

    async def describe_with_tags_async(
        self, kind: EntityKind, entity_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        """The object's ``Get`` response and its tags, from the event loop; (None, None) if it does not exist."""
        async with self.async_client() as shared:
            try:
                description = await shared.call(lambda client: kind.get(client, entity_id))
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    return None, None
                raise
            response = await shared.call(
                lambda client: client.describe_tags(ResourceId=entity_id, ResourceType=kind.operation)
            )
        return json_safe(description), {tag["Key"]: tag.get("Value", "") for tag in response.get("Tags", [])}

    async def describe_batch_predictions_async(self, shared: SharedClient, **filters: Any) -> dict[str, Any]:
        """Call ``DescribeBatchPredictions`` once (one page) on the shared client."""
        return await shared.call(lambda client: client.describe_batch_predictions(**filters))

    # -- real-time endpoints -----------------------------------------------------------------

    def get_endpoint_info(self, ml_model_id: str) -> dict[str, Any]:
        """The ``EndpointInfo`` that ``GetMLModel`` reports for the model's real-time endpoint."""
        return self.get(ML_MODEL, ml_model_id).get("EndpointInfo") or {}

    def create_realtime_endpoint(self, ml_model_id: str) -> dict[str, Any]:
        """Call ``CreateRealtimeEndpoint`` and return its ``RealtimeEndpointInfo`` (status UPDATING at first)."""
        with self._service_call("CreateRealtimeEndpoint"):
            response = self.conn.create_realtime_endpoint(MLModelId=ml_model_id)
        return json_safe(response["RealtimeEndpointInfo"])

    def delete_realtime_endpoint(self, ml_model_id: str) -> dict[str, Any]:
        """Call ``DeleteRealtimeEndpoint`` and return its ``RealtimeEndpointInfo``."""
        with self._service_call("DeleteRealtimeEndpoint"):
            response = self.conn.delete_realtime_endpoint(MLModelId=ml_model_id)
        return json_safe(response["RealtimeEndpointInfo"])

    def wait_for_realtime_endpoint(
        self, ml_model_id: str, status: str, delay: float, max_attempts: int
    ) -> dict[str, Any]:
        """
        Poll ``GetMLModel`` until the model's endpoint is ``status`` (READY or NONE); return its ``EndpointInfo``.

        A throttled or failed poll counts as an attempt, so the wait always ends.

        :raises RealtimeEndpointFailedError: the endpoint FAILED or reported an unknown status.
        :raises WaitTimeoutError: ``max_attempts`` polls did not see ``status``.
        """
        info: dict[str, Any] = {}
        for attempt in range(max_attempts):
            if attempt:
                time.sleep(delay)
            try:
                info = self.get_endpoint_info(ml_model_id)
            except CALL_ERRORS as error:
                code, message = describe_call_error(error)
                if not is_retryable(code):
                    raise
                self.log.warning("Polling the endpoint of %s failed (%s: %s)", ml_model_id, code, message)
                continue
            if endpoint_reached(ml_model_id, info, status):
                return info
        raise WaitTimeoutError(
            "Real-time endpoint of ML model",
            ml_model_id,
            endpoint_status(info) if info else None,
            f"not {status} after {max_attempts} polls {delay}s apart",
        )

    def predict(
        self, ml_model_id: str, record: Mapping[str, Any], predict_endpoint: str | None = None
    ) -> dict[str, Any]:
        """
        Call ``Predict`` for one record on the model's real-time endpoint; return the ``Prediction``.

        :param ml_model_id: The model, which must have a READY real-time endpoint.
        :param record: Attribute names to values; numbers and booleans are sent as text, None as missing.
        :param predict_endpoint: The endpoint's URL; read from the model's ``EndpointInfo`` when not given.
        """
        ml_model_id = validate_entity_id("ml_model_id", ml_model_id)
        values = predict_record(record)
        if predict_endpoint is not None:
            predict_endpoint = validate_https_url("predict_endpoint", predict_endpoint)
        else:
            predict_endpoint = ready_endpoint_url(ml_model_id, self.get_endpoint_info(ml_model_id))
        with self._service_call("Predict"):
            response = self.conn.predict(
                MLModelId=ml_model_id, Record=values, PredictEndpoint=predict_endpoint
            )
        return json_safe(response["Prediction"])


def _describe_differences(differences: Mapping[str, tuple[Any, Any]]) -> str:
    return "; ".join(f"{key} was {old!r}, now {new!r}" for key, (old, new) in differences.items())
