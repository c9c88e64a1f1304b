"""The IAM policies are least privilege: every operator, sensor and hook method calls exactly the actions it declares.

Each runs against the local emulator in every mode it has (waiting in the worker, deferred to its trigger with
several jobs waiting, a retry that reattaches, a kill that deletes, outlets) while every AWS call made in this
process is recorded as the IAM action it needs. A call missing from the declaration would fail on a real account
with the documented policy; a declared action never called would grant more than the provider needs. The
service's own S3 calls (the emulator's jobs) must be allowed by the documented bucket policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from botocore.client import BaseClient

from airflow_ml_provider import (
    BatchPredictionSensor,
    CreateBatchPredictionOperator,
    CreateDataSourceFromRDSOperator,
    CreateDataSourceFromRedshiftOperator,
    CreateDataSourceFromS3Operator,
    CreateEvaluationOperator,
    CreateMLModelOperator,
    CreateRealtimeEndpointOperator,
    DataSourceSensor,
    DeleteRealtimeEndpointOperator,
    EvaluationSensor,
    MachineLearningHook,
    MLModelSensor,
    UpdateMLModelScoreThresholdOperator,
    iam,
)
from airflow_ml_provider.utils import ownership
from amazon_ml_emulator import datasets
from amazon_ml_emulator.datasets import TINY_SCHEMA
from tests.conftest import BUCKET, wait_for_status
from tests.databases import DATABASE, PASSWORD, USER
from tests.runtime import OutletEventsStub, context_for, run_trigger

QUICK = {"waiter_delay": 0.05, "waiter_max_attempts": 600}
ROLE_ARN = "arn:aws:iam::123456789012:role/AmazonMLRole"
QUERY = "SELECT x, label FROM observations WHERE x IS NOT NULL ORDER BY x"
# More jobs waiting at once than the poller's list calls cost: it lists them (DescribeBatchPredictions).
WAITING_TOGETHER = 6


class ActionLog:
    """Every AWS call made in this process while on, as the IAM action it needs, the provider's and the service's."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.service_calls: set[tuple[str, str, str]] = set()

    def record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        prefix = client.meta.service_model.signing_name
        action = f"{prefix}:{iam.action_of(prefix, operation)}"
        # The emulator runs in this process: its jobs' reads and writes of S3 are the service's, not the provider's.
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals.get("__name__", "").startswith("amazon_ml_emulator."):
                self.service_calls.add(
                    (action, params.get("Bucket", ""), params.get("Key", params.get("Prefix", "")))
                )
                return
            frame = frame.f_back
        self.actions.add(action)
        if any(member in params for member in iam.PASSED_ROLES):
            self.actions.add("iam:PassRole")

    @contextlib.contextmanager
    def on(self) -> Iterator[ActionLog]:
        import aiobotocore.client

        sync_call, async_call = BaseClient._make_api_call, aiobotocore.client.AioBaseClient._make_api_call
        log = self

        def recorded_sync(client: Any, operation: str, params: Any) -> Any:
            log.record(client, operation, params)
            return sync_call(client, operation, params)

        async def recorded_async(client: Any, operation: str, params: Any) -> Any:
            log.record(client, operation, params)
            return await async_call(client, operation, params)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(BaseClient, "_make_api_call", recorded_sync)
            patch.setattr(aiobotocore.client.AioBaseClient, "_make_api_call", recorded_async)
            yield self


def run_context() -> dict[str, Any]:
    return context_for(dag_id="iam", task_id="task", run_id=f"manual__{uuid.uuid4().hex}")


async def _resume_together(deferred: list[tuple[Any, dict[str, Any], TaskDeferred]]) -> None:
    """Run the deferrals' triggers at once in one event loop, as one triggerer does; resume each task."""
    events = await asyncio.gather(*(run_trigger(deferral.trigger) for _, _, deferral in deferred))
    for (task, context, deferral), (event,) in zip(deferred, events, strict=True):
        getattr(task, deferral.method_name)(context, event=event, **(deferral.kwargs or {}))


def deferred_together(tasks: list[Any]) -> None:
    deferred = []
    for task in tasks:
        context = run_context()
        try:
            task.execute(context)
        except TaskDeferred as deferral:
            deferred.append((task, context, deferral))
    assert len(deferred) == len(tasks)
    asyncio.run(_resume_together(deferred))


def every_mode(operator_class: type, arguments: dict[str, Any], together: int = 1) -> None:
    """Wait in the worker, retry (reattaching), defer to the trigger, and be killed with ``delete_on_kill``."""
    context = run_context()
    for retry_context in (context, run_context() | {"ti": context["ti"]}):
        operator_class(**arguments, wait_for_completion=True, deferrable=False, **QUICK).execute(
            retry_context
        )
    deferred_together(
        [
            operator_class(
                **{**arguments, "task_id": f"{arguments['task_id']}_{index}"},
                wait_for_completion=True,
                deferrable=True,
                **QUICK,
            )
            for index in range(together)
        ]
    )
    # The killed job still runs when the kill decides, however slow the machine: a kill deletes only a running job.
    service, quick = SERVICE[0], SERVICE[0].config.job_duration
    service.configure(job_duration=30.0)
    try:
        killed = operator_class(**arguments, wait_for_completion=False, delete_on_kill=True, **QUICK)
        killed.execute(run_context())
        # A user marked the running task failed: the one state in which a kill deletes (utils/ownership.py).
        with mock.patch.object(ownership, "task_state", return_value="failed"):
            killed.on_kill()
    finally:
        service.configure(job_duration=quick)


def sensed(sensor_class: type, id_argument: str, entity_ids: list[str]) -> None:
    """Defer on every entity at once while they run, then poke the first one, now done, until it is."""
    deferred_together(
        [
            sensor_class(
                task_id=f"defer_{index}", **{id_argument: entity_id}, poke_interval=0.05, deferrable=True
            )
            for index, entity_id in enumerate(entity_ids)
        ]
    )
    sensor = sensor_class(task_id="poke", **{id_argument: entity_ids[0]}, poke_interval=0.05, mode="poke")
    sensor.execute(run_context())


def fresh_entities(ml_client: Any, model: dict[str, str], operation: str, count: int = 1) -> list[str]:
    """Start ``count`` new objects of one kind with a plain client, before the action log is on."""
    found = []
    for _ in range(count):
        entity_id = f"iam-{uuid.uuid4().hex[:12]}"
        if operation == "DataSource":
            ml_client.create_data_source_from_s3(
                DataSourceId=entity_id,
                DataSpec={
                    "DataLocationS3": f"s3://{BUCKET}/breast_cancer/data.csv",
                    "DataSchema": model["schema"],
                },
            )
        elif operation == "MLModel":
            ml_client.create_ml_model(
                MLModelId=entity_id, MLModelType="BINARY", TrainingDataSourceId=model["data_source_id"]
            )
        elif operation == "Evaluation":
            ml_client.create_evaluation(
                EvaluationId=entity_id,
                MLModelId=model["ml_model_id"],
                EvaluationDataSourceId=model["data_source_id"],
            )
        else:
            ml_client.create_batch_prediction(
                BatchPredictionId=entity_id,
                MLModelId=model["ml_model_id"],
                BatchPredictionDataSourceId=model["data_source_id"],
                OutputUri=f"s3://{BUCKET}/iam-scores/",
            )
        found.append(entity_id)
    return found


def _database(**members: Any) -> dict[str, Any]:
    return {
        "database_name": DATABASE,
        "select_sql_query": QUERY,
        "s3_staging_location": f"s3://{BUCKET}/iam-staging/",
        "role_arn": ROLE_ARN,
        "data_schema": TINY_SCHEMA,
        **members,
    }


def _batch_prediction(model: dict[str, str]) -> None:
    arguments = {
        "task_id": "scores",
        "ml_model_id": model["ml_model_id"],
        "data_source_id": model["data_source_id"],
        "output_uri": f"s3://{BUCKET}/iam-scores/",
    }
    from airflow.providers.common.compat.sdk import Asset

    every_mode(CreateBatchPredictionOperator, arguments, together=WAITING_TOGETHER)
    # With outlets the operator reads the manifest for the asset's extra.
    CreateBatchPredictionOperator(
        **arguments | {"task_id": "scores_asset"},
        outlets=[Asset(f"s3://{BUCKET}/iam-scores/")],
        wait_for_completion=True,
        deferrable=False,
        **QUICK,
    ).execute(run_context() | {"outlet_events": OutletEventsStub()})


def _completed_batch_prediction(model: dict[str, str]) -> str:
    hook = MachineLearningHook()
    batch_prediction_id = f"iam-{uuid.uuid4().hex[:12]}"
    request = {
        "MLModelId": model["ml_model_id"],
        "BatchPredictionDataSourceId": model["data_source_id"],
        "OutputUri": f"s3://{BUCKET}/iam-scores/",
    }
    hook.submit(iam_kind("BATCH_PREDICTION"), batch_prediction_id, request)
    assert wait_for_status(lambda: hook.get(iam_kind("BATCH_PREDICTION"), batch_prediction_id)) == "COMPLETED"
    return batch_prediction_id


def iam_kind(name: str) -> Any:
    from airflow_ml_provider import kinds

    return getattr(kinds, name)


TASKS: dict[type, Callable[[dict[str, str]], None]] = {
    CreateDataSourceFromS3Operator: lambda model: every_mode(
        CreateDataSourceFromS3Operator,
        {
            "task_id": "s3",
            "data_location_s3": f"s3://{BUCKET}/breast_cancer/data.csv",
            "data_schema": model["schema"],
        },
    ),
    CreateDataSourceFromRedshiftOperator: lambda model: every_mode(
        CreateDataSourceFromRedshiftOperator, _database(task_id="redshift", cluster_identifier="analytics")
    ),
    CreateDataSourceFromRDSOperator: lambda model: every_mode(
        CreateDataSourceFromRDSOperator,
        _database(
            task_id="rds",
            instance_identifier="orders-db",
            resource_role="DataPipelineDefaultResourceRole",
            service_role="DataPipelineDefaultRole",
            subnet_id="subnet-0abc",
            security_group_ids=["sg-0abc"],
        ),
    ),
    CreateMLModelOperator: lambda model: every_mode(
        CreateMLModelOperator,
        {"task_id": "model", "ml_model_type": "BINARY", "training_data_source_id": model["data_source_id"]},
    ),
    UpdateMLModelScoreThresholdOperator: lambda model: UpdateMLModelScoreThresholdOperator(
        task_id="threshold", ml_model_id=model["ml_model_id"], score_threshold=0.5
    ).execute(run_context()),
    CreateEvaluationOperator: lambda model: every_mode(
        CreateEvaluationOperator,
        {
            "task_id": "evaluation",
            "ml_model_id": model["ml_model_id"],
            "evaluation_data_source_id": model["data_source_id"],
        },
    ),
    CreateBatchPredictionOperator: _batch_prediction,
    CreateRealtimeEndpointOperator: lambda model: CreateRealtimeEndpointOperator(
        task_id="endpoint", ml_model_id=model["ml_model_id"], **QUICK
    ).execute(run_context()),
    DeleteRealtimeEndpointOperator: lambda model: DeleteRealtimeEndpointOperator(
        task_id="endpoint", ml_model_id=model["ml_model_id"], **QUICK
    ).execute(run_context()),
    DataSourceSensor: lambda model: sensed(DataSourceSensor, "data_source_id", model["DataSource"]),
    MLModelSensor: lambda model: sensed(MLModelSensor, "ml_model_id", model["MLModel"]),
    EvaluationSensor: lambda model: sensed(EvaluationSensor, "evaluation_id", model["Evaluation"]),
    BatchPredictionSensor: lambda model: sensed(
        BatchPredictionSensor, "batch_prediction_id", model["BatchPrediction"]
    ),
}


# The emulator of the running test, for the steps that hold its jobs.
SERVICE: list[Any] = []


@pytest.fixture(autouse=True)
def service(emulator):
    SERVICE[:] = [emulator]
    yield emulator
    SERVICE.clear()


@pytest.fixture
def databases(emulator, redshift, rds, breast_cancer_tables, monkeypatch):
    """The emulator reaches the test servers as cluster ``analytics`` and instance ``orders-db``."""
    emulator.configure(
        redshift_clusters={"analytics": redshift.address}, rds_instances={"orders-db": rds.address}
    )
    login = json.dumps({"conn_type": "generic", "login": USER, "password": PASSWORD})
    monkeypatch.setenv("AIRFLOW_CONN_REDSHIFT_DEFAULT", login)
    monkeypatch.setenv("AIRFLOW_CONN_RDS_DEFAULT", login)
    yield emulator
    emulator.configure(redshift_clusters={}, rds_instances={})


@pytest.fixture
def model(emulator, binary_model) -> dict[str, Any]:
    """The session's trained model and its data source, and the schema of its data."""
    _, schema = datasets.make_dataset("breast_cancer")
    return {**binary_model, "schema": schema}


def test_every_operator_and_sensor_has_its_actions_declared_and_tested():
    assert sorted(task.__name__ for task in TASKS) == sorted(iam.TASKS)


@pytest.mark.parametrize("task", list(TASKS), ids=lambda task: task.__name__)
def test_a_task_calls_exactly_the_actions_it_declares(task, model, databases, ml_client):
    hook = MachineLearningHook()
    if task is DeleteRealtimeEndpointOperator:
        hook.create_realtime_endpoint(model["ml_model_id"])
    if task is CreateBatchPredictionOperator:
        # The deferred jobs run long enough to be due together in the poller's cycles, which then list them.
        databases.configure(job_duration=1.0)
    if task.__name__.endswith("Sensor"):
        kind = task.__name__.removesuffix("Sensor")
        count = WAITING_TOGETHER if kind == "BatchPrediction" else 1
        # Still running when the sensors defer on them, on a busy machine too (the fixture restores quick jobs).
        databases.configure(job_duration=3.0)
        model = {**model, kind: fresh_entities(ml_client, model, kind, count)}
    try:
        with ActionLog().on() as log:
            TASKS[task](model)
    finally:
        hook.delete_realtime_endpoint(model["ml_model_id"])
    declared = {permission.action for permission in iam.TASKS[task.__name__]}
    assert sorted(log.actions - declared) == [], "called but not declared"
    assert sorted(declared - log.actions) == [], "declared but never called"


HOOK_METHODS: dict[str, Callable[[MachineLearningHook, dict[str, str]], Any]] = {
    "get_results": lambda hook, model: hook.get_results(model["batch_prediction"]),
    "iter_results": lambda hook, model: list(hook.iter_results(model["batch_prediction_id"])),
    "update_ml_model": lambda hook, model: hook.update_ml_model(model["ml_model_id"], score_threshold=0.5),
    "get_endpoint_info": lambda hook, model: hook.get_endpoint_info(model["ml_model_id"]),
    "create_realtime_endpoint": lambda hook, model: hook.create_realtime_endpoint(model["ml_model_id"]),
    "wait_for_realtime_endpoint": lambda hook, model: hook.wait_for_realtime_endpoint(
        model["ml_model_id"], "READY", delay=0.05, max_attempts=400
    ),
    "predict": lambda hook, model: hook.predict(model["ml_model_id"], {"mean_radius": 14.0}),
    "delete_realtime_endpoint": lambda hook, model: hook.delete_realtime_endpoint(model["ml_model_id"]),
}


def test_every_declared_hook_method_is_tested():
    assert list(HOOK_METHODS) == sorted(iam.HOOK_METHODS, key=list(HOOK_METHODS).index)
    assert set(HOOK_METHODS) == set(iam.HOOK_METHODS)


@pytest.mark.parametrize("method", list(HOOK_METHODS))
def test_a_hook_method_calls_exactly_the_actions_it_declares(method, model, emulator):
    hook = MachineLearningHook()
    batch_prediction_id = _completed_batch_prediction(model)
    batch_prediction = hook.get(iam_kind("BATCH_PREDICTION"), batch_prediction_id)
    model = {**model, "batch_prediction_id": batch_prediction_id, "batch_prediction": batch_prediction}
    if method in ("wait_for_realtime_endpoint", "predict", "delete_realtime_endpoint"):
        hook.create_realtime_endpoint(model["ml_model_id"])
        hook.wait_for_realtime_endpoint(model["ml_model_id"], "READY", delay=0.05, max_attempts=400)
    try:
        with ActionLog().on() as log:
            HOOK_METHODS[method](hook, model)
    finally:
        hook.delete_realtime_endpoint(model["ml_model_id"])
    declared = {permission.action for permission in iam.HOOK_METHODS[method]}
    assert sorted(log.actions - declared) == [], "called but not declared"
    assert sorted(declared - log.actions) == [], "declared but never called"


def _allows(policy: dict[str, Any], action: str, bucket: str, key: str) -> bool:
    """Whether an Allow statement of a bucket policy lets the service make this call (conditions on s3:prefix)."""
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if action not in actions:
            continue
        if action == "s3:ListBucket":
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            if f"arn:aws:s3:::{bucket}" in resources and any(
                fnmatch.fnmatch(key, pattern) for pattern in prefixes
            ):
                return True
        elif any(fnmatch.fnmatch(f"arn:aws:s3:::{bucket}/{key}", resource) for resource in resources):
            return True
    return False


def test_the_bucket_policy_allows_every_call_the_service_makes(model, databases):
    with ActionLog().on() as log:
        TASKS[CreateDataSourceFromS3Operator](model)
        TASKS[CreateDataSourceFromRedshiftOperator](model)
        TASKS[CreateBatchPredictionOperator](model)
    policy = iam.bucket_policy(
        BUCKET, inputs=("breast_cancer/",), outputs=("iam-scores/",), staging=("iam-staging/",)
    )
    assert {action for action, _, _ in log.service_calls} == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    refused = sorted(call for call in log.service_calls if not _allows(policy, *call))
    assert refused == []
    for statement in policy["Statement"]:
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:aws:machinelearning:")
