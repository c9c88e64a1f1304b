"""Retries reattach, re-runs create: what a create task does with the object an earlier try left behind."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_ml_provider import (
    CreateBatchPredictionOperator,
    CreateDataSourceFromS3Operator,
    CreateMLModelOperator,
)
from airflow_ml_provider.exceptions import (
    BatchPredictionFailedError,
    InvalidParameterError,
    ServiceRejectedError,
)
from airflow_ml_provider.hooks.machine_learning import REQUEST_TAG, SUCCEEDED_TAG, MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION, DATA_SOURCE, ML_MODEL
from airflow_ml_provider.utils.ownership import OWNER_TAG
from airflow_ml_provider.utils.validation import derive_entity_id
from amazon_ml_emulator import datasets
from tests.conftest import BUCKET, wait_for_status
from tests.runtime import RUN_STARTED, context_for, resume_after_deferral, worker_dies


@pytest.fixture(scope="module")
def iris(s3_client: Any) -> dict[str, str]:
    csv_bytes, schema = datasets.make_dataset("iris")
    s3_client.put_object(Bucket=BUCKET, Key="reruns/iris.csv", Body=csv_bytes)
    s3_client.put_object(Bucket=BUCKET, Key="reruns/iris.schema", Body=schema.encode())
    s3_client.put_object(Bucket=BUCKET, Key="reruns/other.schema", Body=schema.encode())
    s3_client.put_object(Bucket=BUCKET, Key="reruns/recipe.json", Body=b'{"outputs": ["ALL_INPUTS"]}')
    return {
        "data": f"s3://{BUCKET}/reruns/iris.csv",
        "schema": schema,
        "schema_location": f"s3://{BUCKET}/reruns/iris.schema",
        "other_schema_location": f"s3://{BUCKET}/reruns/other.schema",
        "recipe_uri": f"s3://{BUCKET}/reruns/recipe.json",
    }


def task_instance(task_id: str = "task") -> dict[str, Any]:
    return {"dag_id": "reruns", "task_id": task_id, "run_id": f"scheduled__{uuid.uuid4().hex}"}


def first_try_dies_after_creating(operator: Any, identity: dict[str, Any]) -> str:
    """Run a try that creates its object and dies before anything else; return the object's ID."""
    operator.on_submitted = worker_dies
    with pytest.raises(SystemExit):
        operator.execute(context_for(**identity))
    return derive_entity_id(identity["dag_id"], identity["task_id"], identity["run_id"], -1)


def batch_prediction(binary_model: dict[str, str], **overrides: Any) -> CreateBatchPredictionOperator:
    arguments: dict[str, Any] = {
        "task_id": "task",
        "ml_model_id": binary_model["ml_model_id"],
        "data_source_id": binary_model["data_source_id"],
        "output_uri": f"s3://{BUCKET}/reruns/out/",
        **overrides,
    }
    return CreateBatchPredictionOperator(**arguments)


def test_a_rerun_of_a_task_that_succeeded_creates_a_fresh_job(binary_model, emulator):
    identity = task_instance()
    emulator.reset_call_counts()
    first = context_for(**identity)
    # Clearing the task moves Airflow's max_tries on (try 1 done, no retries: 1).
    cleared = context_for(**identity, max_tries=1)
    # The run deleted and triggered again with the same run ID: a DAG run that started later.
    recreated = context_for(**identity, run_started=RUN_STARTED + timedelta(hours=1))
    first_id = batch_prediction(binary_model).execute(first)
    assert batch_prediction(binary_model).execute(cleared) == f"{first_id}-r1"
    assert batch_prediction(binary_model).execute(recreated) == f"{first_id}-r2"
    assert [context["ti"].xcoms["created"] for context in (first, cleared, recreated)] == [True] * 3
    assert emulator.call_counts()["CreateBatchPrediction"] == 3
    hook = MachineLearningHook()
    assert hook.get_tags(BATCH_PREDICTION, first_id)[SUCCEEDED_TAG].startswith("try 1 of the run started")
    # A retry of the re-created run after its try failed once execute had returned (the XCom push or the
    # report of success failed): the same run, so it reattaches.
    retry = context_for(**identity, run_started=RUN_STARTED + timedelta(hours=1))
    assert batch_prediction(binary_model).execute(retry) == f"{first_id}-r2"
    assert retry["ti"].xcoms["created"] is False
    assert emulator.call_counts()["CreateBatchPrediction"] == 3


def test_a_retry_with_changed_parameters_names_each_difference_and_creates_nothing(binary_model, emulator):
    identity = task_instance()
    job_id = first_try_dies_after_creating(batch_prediction(binary_model), identity)
    emulator.reset_call_counts()
    with pytest.raises(ServiceRejectedError) as error:
        batch_prediction(binary_model, output_uri=f"s3://{BUCKET}/reruns/elsewhere/").execute(
            context_for(**identity)
        )
    message = str(error.value)
    assert job_id in message
    assert f"OutputUri was 's3://{BUCKET}/reruns/out/', now 's3://{BUCKET}/reruns/elsewhere/'" in message
    assert "CreateBatchPrediction" not in emulator.call_counts()


def test_a_new_name_is_not_a_new_identity(binary_model, emulator):
    identity = task_instance()
    job_id = first_try_dies_after_creating(batch_prediction(binary_model), identity)
    renamed = batch_prediction(binary_model, batch_prediction_name="nightly scoring")
    assert renamed.execute(context_for(**identity)) == job_id


def data_source(iris: dict[str, str], **overrides: Any) -> CreateDataSourceFromS3Operator:
    arguments: dict[str, Any] = {
        "task_id": "task",
        "data_location_s3": iris["data"],
        "data_schema": iris["schema"],
        "data_rearrangement": {"splitting": {"percentBegin": 0, "percentEnd": 70}},
        "compute_statistics": True,
        **overrides,
    }
    return CreateDataSourceFromS3Operator(**arguments)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data_schema": None, "data_schema_location_s3": "schema_location"}, "DataSchemaLocationS3"),
        ({"data_rearrangement": None}, "DataRearrangement"),
        ({"data_rearrangement": {"splitting": {"percentBegin": 70, "percentEnd": 100}}}, "DataRearrangement"),
        ({"compute_statistics": False}, "ComputeStatistics"),
        ({"data_location_s3": "other"}, "DataLocationS3"),
    ],
)
def test_every_data_source_parameter_is_part_of_its_identity(iris, emulator, change, field):
    identity = task_instance()
    first_try_dies_after_creating(data_source(iris), identity)
    change = {
        key: iris.get(value, value) if isinstance(value, str) else value for key, value in change.items()
    }
    if change.get("data_location_s3") == "other":
        change["data_location_s3"] = f"s3://{BUCKET}/reruns/"
    with pytest.raises(ServiceRejectedError, match=f"{field} was .*, now "):
        data_source(iris, **change).execute(context_for(**identity))


def test_a_changed_schema_or_schema_location_is_named(iris, emulator):
    identity = task_instance()
    located = {"data_schema": None, "data_schema_location_s3": iris["schema_location"]}
    first_try_dies_after_creating(data_source(iris, **located), identity)
    elsewhere = {"data_schema": None, "data_schema_location_s3": iris["other_schema_location"]}
    with pytest.raises(ServiceRejectedError) as error:
        data_source(iris, **elsewhere).execute(context_for(**identity))
    assert "DataSchemaLocationS3 was <not reported by the service>" in str(error.value)
    assert iris["other_schema_location"] in str(error.value)
    # The same request, its schema spelled with other key order and spacing, reattaches.
    respelled = json.dumps(json.loads(iris["schema"]), indent=2, sort_keys=False)
    identity = task_instance()
    created = first_try_dies_after_creating(data_source(iris), identity)
    assert data_source(iris, data_schema=respelled).execute(context_for(**identity)) == created


@pytest.mark.parametrize(
    "change",
    [
        {"parameters": {"sgd.maxPasses": "5"}},
        {"recipe": {"outputs": ["ALL_INPUTS"]}},
        {"recipe_uri": "recipe_uri"},
        {"ml_model_type": "BINARY"},
    ],
)
def test_every_model_parameter_is_part_of_its_identity(iris, emulator, change):
    source = data_source(iris, task_id="source").execute(context_for(**task_instance("source")))
    assert wait_for_status(lambda: MachineLearningHook().get(DATA_SOURCE, source)) == "COMPLETED"

    def model(**overrides: Any) -> CreateMLModelOperator:
        arguments = {"ml_model_type": "MULTICLASS", "training_data_source_id": source, **overrides}
        return CreateMLModelOperator(task_id="task", **arguments)

    identity = task_instance()
    first_try_dies_after_creating(model(), identity)
    change = {
        key: iris.get(value, value) if isinstance(value, str) else value for key, value in change.items()
    }
    with pytest.raises(ServiceRejectedError, match="was .*, now "):
        model(**change).execute(context_for(**identity))


def test_after_an_upstream_failure_a_cleared_run_recovers_without_editing_the_dag(iris, emulator):
    source_identity, model_identity = task_instance("source"), task_instance("model")
    model_identity["run_id"] = source_identity["run_id"]
    hook = MachineLearningHook()

    def run_once() -> tuple[str, str]:
        source = data_source(iris, task_id="source").execute(context_for(**source_identity))
        model = CreateMLModelOperator(
            task_id="model", ml_model_type="MULTICLASS", training_data_source_id=source
        ).execute(context_for(**model_identity))
        return source, model

    emulator.fail_next_jobs(1, message="The data could not be read", kind="DataSource")
    source, model = run_once()
    assert wait_for_status(lambda: hook.get(ML_MODEL, model)) == "FAILED"
    # The user fixes the data and clears the run: both tasks move on to fresh objects.
    new_source, new_model = run_once()
    assert (new_source, new_model) == (f"{source}-r1", f"{model}-r1")
    assert wait_for_status(lambda: hook.get(ML_MODEL, new_model), timeout=60) == "COMPLETED"


def test_tags_are_applied_on_every_try_and_never_duplicated(binary_model, emulator):
    identity = task_instance()
    tags = {"team": "scoring", "cost-center": "4711"}
    job_id = first_try_dies_after_creating(batch_prediction(binary_model, tags=tags), identity)
    hook = MachineLearningHook()
    assert hook.get_tags(BATCH_PREDICTION, job_id).items() >= tags.items()
    emulator.reset_call_counts()
    assert batch_prediction(binary_model, tags=tags).execute(context_for(**identity)) == job_id
    carried = hook.get_tags(BATCH_PREDICTION, job_id)
    assert carried == {
        **tags,
        REQUEST_TAG: carried[REQUEST_TAG],
        SUCCEEDED_TAG: carried[SUCCEEDED_TAG],
        OWNER_TAG: carried[OWNER_TAG],
    }
    assert carried[REQUEST_TAG].startswith("sha256:")
    assert carried[OWNER_TAG].endswith("/1")
    assert carried[SUCCEEDED_TAG].startswith("try 1 of the run started")
    assert "CreateBatchPrediction" not in emulator.call_counts()


def test_more_tags_than_the_service_leaves_room_for_fail_before_any_call(binary_model, emulator):
    emulator.reset_call_counts()
    tags = {f"key-{index}": "x" for index in range(8)}
    with pytest.raises(InvalidParameterError, match="at most 7 tags") as error:
        batch_prediction(binary_model, tags=tags).execute(context_for(**task_instance()))
    assert error.value.field == "tags"
    assert emulator.call_counts() == {}


def test_an_id_namespace_keeps_two_deployments_apart(binary_model, emulator, monkeypatch):
    identity = task_instance()
    production_id = batch_prediction(binary_model).execute(context_for(**identity))
    monkeypatch.setenv("AIRFLOW__AMAZON_ML__ID_NAMESPACE", "staging")
    staging_id = batch_prediction(binary_model).execute(context_for(**identity))
    assert staging_id != production_id
    assert not staging_id.endswith("-r1")
    assert production_id == derive_entity_id(identity["dag_id"], "task", identity["run_id"], -1)


async def test_a_resumed_task_knows_its_job_from_the_deferral_not_from_a_link(binary_model, emulator):
    identity = task_instance()
    context = context_for(**identity)
    operator = batch_prediction(binary_model, wait_for_completion=True, deferrable=True, waiter_delay=0.1)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert deferred.value.kwargs == {"entity_id": deferred.value.trigger.entity_id}
    context["ti"].xcoms.clear()  # nothing the resumed task needs lives in XCom
    resumed = batch_prediction(binary_model, wait_for_completion=True, deferrable=True)
    assert await resume_after_deferral(resumed, context, deferred.value) == deferred.value.trigger.entity_id
    # Lineage after a deferral still names the input the job read.
    lineage = resumed.get_openlineage_facets_on_complete(None)
    assert [dataset.name for dataset in lineage.inputs] == ["breast_cancer/data.csv"]


def test_without_the_deferral_kwargs_only_an_object_of_the_tasks_own_chain_is_accepted(
    binary_model, emulator
):
    # `airflow dags test` resumes with the event alone.
    identity = task_instance()
    context = context_for(**identity)
    job_id = batch_prediction(
        binary_model, wait_for_completion=True, deferrable=False, waiter_delay=0.1
    ).execute(context)
    description = MachineLearningHook().get(BATCH_PREDICTION, job_id)
    event = {"status": "success", "entity_kind": "batch_prediction", "message": ""}
    resumed = batch_prediction(binary_model, wait_for_completion=True, deferrable=True)
    assert (
        resumed.execute_complete(context, event={**event, "entity_id": job_id, "description": description})
        == job_id
    )
    foreign = {**description, "BatchPredictionId": "someone-elses-job"}
    with pytest.raises(BatchPredictionFailedError, match="Malformed trigger event"):
        resumed.execute_complete(
            context, event={**event, "entity_id": "someone-elses-job", "description": foreign}
        )
    with pytest.raises(BatchPredictionFailedError, match="describes BatchPredictionId 'someone-elses-job'"):
        resumed.execute_complete(context, event={**event, "entity_id": job_id, "description": foreign})
