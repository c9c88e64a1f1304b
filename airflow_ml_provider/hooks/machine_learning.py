"""Every call this provider makes to Amazon Machine Learning and to the S3 results, sync and async."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from botocore import xform_name
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from airflow_ml_provider.exceptions import BatchPredictionFailedError, ServiceRejectedError
from airflow_ml_provider.utils.entities import BATCH_PREDICTION, EntityKind
from airflow_ml_provider.utils.polling import EntityWait, WaitResult, is_retryable, json_safe
from airflow_ml_provider.utils.status import COMPLETED, Outcome, outcome_of
from airflow_ml_provider.utils.validation import retry_entity_id

# A task instance that needed more fresh objects than this is misconfigured, not unlucky.
MAX_GENERATIONS = 100
# How long new triggers keep joining the same shared client before a fresh one is opened.
CLIENT_GENERATION_SECONDS = 900


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


class _SharedClients:
    """
    One aiobotocore client per event loop and connection settings, shared by all waiting triggers.

    A client costs about half a megabyte and tens of milliseconds of CPU; a triggerer with a
    thousand waiting tasks must not pay that a thousand times. A client closes when its last user
    leaves.
    """

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def client(self, key: str, open_client: Callable[[], Awaitable[Any]]) -> AsyncIterator[Any]:
        entries = self._loops.setdefault(asyncio.get_running_loop(), {})
        entry = entries.setdefault(key, {"lock": asyncio.Lock(), "users": 0, "context": None, "client": None})
        async with entry["lock"]:
            if entry["client"] is None:
                context = await open_client()
                entry["client"] = await context.__aenter__()
                entry["context"] = context
            entry["users"] += 1
        try:
            yield entry["client"]
        finally:
            async with entry["lock"]:
                entry["users"] -= 1
                if entry["users"] == 0 and entry["client"] is not None:
                    context, entry["context"], entry["client"] = entry["context"], None, None
                    await context.__aexit__(None, None, None)

    def open_count(self) -> int:
        """How many clients are open in the running event loop."""
        entries = self._loops.get(asyncio.get_running_loop(), {})
        return sum(entry["client"] is not None for entry in entries.values())


shared_clients = _SharedClients()


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
    def waiter_path(self) -> Path:
        """The package's own waiter definitions (the Amazon hook only looks in its own folder)."""
        return Path(__file__).parents[1] / "waiters" / "machinelearning.json"

    @contextmanager
    def _service_call(self, operation: str) -> Iterator[None]:
        # Errors a retry cannot fix fail the task at once, carrying the service's own message.
        try:
            yield
        except ClientError as error:
            if is_retryable(error_code(error)):
                raise
            raise ServiceRejectedError(operation, error_code(error), error_message(error)) from error

    # -- any kind of object ------------------------------------------------------------------

    def create(self, kind: EntityKind, request: dict[str, Any]) -> str:
        """Call the kind's create operation with ``request`` (including the ID); return the ID."""
        with self._service_call(kind.create_operation):
            return getattr(self.conn, xform_name(kind.create_operation))(**request)[kind.id_key]

    @staticmethod
    def _call(client: Any, verb: str, kind: EntityKind, entity_id: str) -> Any:
        """Call ``<verb><Kind>`` on a sync or async client, e.g. ``GetBatchPrediction``."""
        return getattr(client, xform_name(f"{verb}{kind.operation}"))(**{kind.id_key: entity_id})

    def get(self, kind: EntityKind, entity_id: str) -> dict[str, Any]:
        """Call ``Get<Kind>`` and return the response without its metadata."""
        with self._service_call(f"Get{kind.operation}"):
            return json_safe(self._call(self.conn, "Get", kind, entity_id))

    def find(self, kind: EntityKind, entity_id: str) -> dict[str, Any] | None:
        """Like :meth:`get`, but None when no object of the kind has that ID."""
        try:
            return json_safe(self._call(self.conn, "Get", kind, entity_id))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            with self._service_call(f"Get{kind.operation}"):
                raise

    def delete(self, kind: EntityKind, entity_id: str) -> None:
        """Mark an object ``DELETED``; the service has no cancel, and this is irreversible."""
        with self._service_call(f"Delete{kind.operation}"):
            self._call(self.conn, "Delete", kind, entity_id)

    def submit(self, kind: EntityKind, entity_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """
        Create an object, or reattach to the one an earlier try of the same task created.

        ``entity_id`` starts a chain of IDs (see
        :func:`~airflow_ml_provider.utils.validation.retry_entity_id`): an object that is pending,
        in progress or completed with the same identity is reused; one that FAILED, was DELETED or
        has an unknown status is passed over for the next ID in the chain, which the next try finds
        again. An object under the ID with other parameters is an error, never overwritten or
        duplicated.

        :param kind: The kind of object.
        :param entity_id: The first ID of the chain.
        :param request: The create request without the ID.
        :return: The object's ``Get`` response.
        """
        wanted = kind.identity(request)
        for generation in range(MAX_GENERATIONS):
            candidate_id = retry_entity_id(entity_id, generation)
            existing = self.find(kind, candidate_id)
            if existing is None:
                self.log.info("Creating %s %s", kind.title.lower(), candidate_id)
                self.create(kind, {kind.id_key: candidate_id, **request})
                return self.get(kind, candidate_id)
            differences = {
                key: existing.get(key) for key, value in wanted.items() if existing.get(key) != value
            }
            if differences:
                raise ServiceRejectedError(
                    kind.create_operation,
                    "IdempotentParameterMismatchException",
                    f"{kind.title.lower()} {candidate_id} already exists with {differences}, which differs "
                    f"from this task's { ({key: wanted[key] for key in differences}) }; give a new "
                    f"{kind.id_param} to create one with other parameters",
                )
            if outcome_of(existing["Status"]) in (None, Outcome.SUCCESS):
                self.log.info(
                    "Reattaching to %s %s (%s)", kind.title.lower(), candidate_id, existing["Status"]
                )
                return existing
            self.log.info(
                "%s %s is %s (%s); trying the next ID",
                kind.title,
                candidate_id,
                existing["Status"],
                existing.get("Message", ""),
            )
        raise ServiceRejectedError(
            kind.create_operation,
            "TooManyGenerations",
            f"{MAX_GENERATIONS} objects under {entity_id} failed or were deleted",
        )

    def poll(self, wait: EntityWait) -> WaitResult | float:
        """Call ``Get<Kind>`` once and let ``wait`` judge the answer."""
        try:
            response = self._call(self.conn, "Get", wait.kind, wait.entity_id)
        except CALL_ERRORS as error:
            return wait.on_error(*describe_call_error(error))
        return wait.on_description(response)

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

    # -- batch predictions -------------------------------------------------------------------

    def create_batch_prediction(
        self,
        *,
        batch_prediction_id: str,
        ml_model_id: str,
        data_source_id: str,
        output_uri: str,
        batch_prediction_name: str | None = None,
    ) -> str:
        """Call ``CreateBatchPrediction`` and return the ``BatchPredictionId``."""
        request = batch_prediction_request(ml_model_id, data_source_id, output_uri, batch_prediction_name)
        return self.create(BATCH_PREDICTION, {"BatchPredictionId": batch_prediction_id, **request})

    def get_batch_prediction(self, batch_prediction_id: str) -> dict[str, Any]:
        """Call ``GetBatchPrediction`` and return the response without its metadata."""
        return self.get(BATCH_PREDICTION, batch_prediction_id)

    def describe_batch_predictions(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the jobs ``DescribeBatchPredictions`` lists with ``filters``, following every page."""
        paginator = self.conn.get_paginator("describe_batch_predictions")
        with self._service_call("DescribeBatchPredictions"):
            for page in paginator.paginate(**filters):
                yield from (json_safe(result) for result in page.get("Results", []))

    def delete_batch_prediction(self, batch_prediction_id: str) -> None:
        """Mark a job ``DELETED``: the service has no cancel, and this is irreversible."""
        self.delete(BATCH_PREDICTION, batch_prediction_id)

    def submit_batch_prediction(
        self,
        *,
        batch_prediction_id: str,
        ml_model_id: str,
        data_source_id: str,
        output_uri: str,
        batch_prediction_name: str | None = None,
    ) -> dict[str, Any]:
        """Create a batch prediction or reattach to an earlier try's (see :meth:`submit`)."""
        request = batch_prediction_request(ml_model_id, data_source_id, output_uri, batch_prediction_name)
        return self.submit(BATCH_PREDICTION, batch_prediction_id, request)

    # -- results -----------------------------------------------------------------------------

    @cached_property
    def s3_hook(self) -> S3Hook:
        """The S3 hook on the same connection; it honours the connection's S3 ``service_config``."""
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
            results = self.get_results(self.get_batch_prediction(results))
        for result_uri in results["result_uris"]:
            # gzip does not close the stream it reads; closing it returns the connection to the pool.
            with closing(self._open_s3(result_uri)) as body, gzip.open(body, mode="rt", newline="") as lines:
                reader = csv.reader(lines)
                header = next(reader, [])
                for row in reader:
                    yield dict(zip(header, row, strict=True)) if row else {}

    # -- async -------------------------------------------------------------------------------

    def _client_key(self) -> str:
        config = getattr(self._config, "_user_provided_options", None)
        # A new generation of clients every so often picks up rotated keys or an edited connection
        # for the triggers that start from then on; the old one closes when its last user leaves.
        generation = int(time.monotonic() // CLIENT_GENERATION_SECONDS)
        return json.dumps(
            [self.aws_conn_id, self._region_name, self._verify, config, generation],
            sort_keys=True,
            default=str,
        )

    @asynccontextmanager
    async def async_client(self) -> AsyncIterator[Any]:
        """An aiobotocore client shared with every other user of the same settings in this loop."""
        async with shared_clients.client(self._client_key(), self.get_async_conn) as client:
            yield client

    async def poll_async(self, client: Any, wait: EntityWait) -> WaitResult | float:
        """Call ``Get<Kind>`` once with an aiobotocore client and let ``wait`` judge the answer."""
        try:
            response = await self._call(client, "Get", wait.kind, wait.entity_id)
        except CALL_ERRORS as error:
            return wait.on_error(*describe_call_error(error))
        return wait.on_description(response)

    async def delete_async(self, kind: EntityKind, entity_id: str) -> None:
        """Mark an object ``DELETED`` from the event loop."""
        async with self.async_client() as client:
            await self._call(client, "Delete", kind, entity_id)

    async def describe_batch_predictions_async(self, client: Any, **filters: Any) -> dict[str, Any]:
        """Call ``DescribeBatchPredictions`` once (one page) with an aiobotocore client."""
        return await client.describe_batch_predictions(**filters)


def batch_prediction_request(
    ml_model_id: str, data_source_id: str, output_uri: str, batch_prediction_name: str | None
) -> dict[str, Any]:
    """A ``CreateBatchPrediction`` request without its ID."""
    request = {
        "MLModelId": ml_model_id,
        "BatchPredictionDataSourceId": data_source_id,
        "OutputUri": output_uri,
    }
    if batch_prediction_name is not None:
        request["BatchPredictionName"] = batch_prediction_name
    return request
