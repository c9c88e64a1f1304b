"""The batch prediction operator: validation before any call, one job per task instance, one timeout rule."""

from __future__ import annotations

import time
import uuid

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_ml_provider import CreateBatchPredictionOperator
from airflow_ml_provider.exceptions import BatchPredictionFailedError, InvalidParameterError, WaitTimeoutError
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
from airflow_ml_provider.utils import ownership
from airflow_ml_provider.utils.validation import derive_entity_id
from tests.conftest import BUCKET
from tests.runtime import OutletEventsStub, context_for, resume_after_deferral, worker_dies


@pytest.fixture
def operator_for(binary_model):
    def build(**overrides):
        arguments = {
            "task_id": "score",
            "ml_model_id": binary_model["ml_model_id"],
            "data_source_id": binary_model["data_source_id"],
            "output_uri": f"s3://{BUCKET}/operator/{uuid.uuid4().hex[:8]}",
            **overrides,
        }
        return CreateBatchPredictionOperator(**arguments)

    return build


async def execute_to_the_end(operator, context):
    """Execute, and if the task defers, run the trigger and resume: the whole task in either mode."""
    try:
        return operator.execute(context)
    except TaskDeferred as deferred:
        return await resume_after_deferral(operator, context, deferred)


def run_id() -> str:
    return f"manual__{uuid.uuid4().hex}"


def test_templated_fields_cover_every_service_parameter():
    assert set(CreateBatchPredictionOperator.template_fields) == {
        "aws_conn_id",
        "region_name",
        "verify",
        "tags",
        "batch_prediction_id",
        "batch_prediction_name",
        "ml_model_id",
        "data_source_id",
        "output_uri",
    }


def test_the_id_is_derived_from_the_task_instance_and_output_uri_is_pushed(operator_for, emulator):
    context = context_for(dag_id="nightly", task_id="score", run_id=run_id(), map_index=3)
    operator = operator_for()
    batch_prediction_id = operator.execute(context)
    ti = context["ti"]
    assert batch_prediction_id == derive_entity_id("nightly", "score", ti.run_id, 3)
    assert ti.xcoms["output_uri"] == operator.output_uri
    assert operator.output_uri.endswith("/")
    assert ti.xcoms["ml_batch_prediction"]["entity_id"] == batch_prediction_id
    link = operator.operator_extra_links[0].format_str.format(**ti.xcoms["ml_batch_prediction"])
    assert link == (
        "https://console.aws.amazon.com/machinelearning/home?region=us-east-1"
        f"#/predictor-insight/{operator.ml_model_id}?tabId=summary"
    )


def test_a_retry_after_the_worker_died_reattaches_instead_of_creating_a_second_job(operator_for, emulator):
    identity = {"dag_id": "nightly", "task_id": "score", "run_id": run_id()}
    emulator.reset_call_counts()
    first_try = operator_for(output_uri=f"s3://{BUCKET}/retry/")
    # The worker dies right after the create call: nothing of the first try survives but the job.
    first_try.on_submitted = worker_dies
    with pytest.raises(SystemExit):
        first_try.execute(context_for(**identity))
    second_try = operator_for(output_uri=f"s3://{BUCKET}/retry/")
    context = context_for(**identity)
    assert second_try.execute(context) == derive_entity_id("nightly", "score", identity["run_id"], -1)
    assert context["ti"].xcoms["created"] is False
    assert emulator.call_counts()["CreateBatchPrediction"] == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"batch_prediction_id": "has space"}, "batch_prediction_id"),
        ({"batch_prediction_id": "x" * 65}, "batch_prediction_id"),
        ({"batch_prediction_id": ""}, "batch_prediction_id"),
        ({"ml_model_id": "bad/model"}, "ml_model_id"),
        ({"data_source_id": None}, "data_source_id"),
        ({"output_uri": "https://bucket/out/"}, "output_uri"),
        ({"output_uri": "s3://bucket/a//b/"}, "output_uri"),
        ({"batch_prediction_name": "   "}, "batch_prediction_name"),
        ({"waiter_delay": 0}, "waiter_delay"),
        ({"waiter_max_attempts": "ten"}, "waiter_max_attempts"),
    ],
)
def test_bad_input_fails_before_any_call_and_names_the_field(operator_for, emulator, overrides, field):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError) as error:
        operator_for(**overrides).execute(context_for(run_id=run_id()))
    assert error.value.field.startswith(field)
    assert emulator.call_counts() == {}


def test_an_id_templated_to_none_is_an_error_not_a_derived_id(operator_for, emulator):
    operator = operator_for(batch_prediction_id="{{ params.id }}")
    operator.batch_prediction_id = None  # what rendering a missing value natively gives
    with pytest.raises(InvalidParameterError, match="batch_prediction_id None"):
        operator.execute(context_for(run_id=run_id()))


def test_wait_for_completion_in_the_worker_returns_when_completed(operator_for, emulator):
    operator = operator_for(
        wait_for_completion=True, deferrable=False, waiter_delay=0.1, waiter_max_attempts=300
    )
    batch_prediction_id = operator.execute(context_for(run_id=run_id()))
    assert operator.hook.get(BATCH_PREDICTION, batch_prediction_id)["Status"] == "COMPLETED"


async def test_deferrable_wait_hands_the_same_limits_to_the_trigger_and_resumes(operator_for, emulator):
    context = context_for(run_id=run_id())
    operator = operator_for(
        wait_for_completion=True, deferrable=True, waiter_delay=0.2, waiter_max_attempts=50
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchPredictionTrigger)
    assert trigger.waiter_delay == 0.2
    assert trigger.waiter_max_attempts == 50
    assert before + 10 <= trigger.deadline <= time.time() + 10
    batch_prediction_id = await resume_after_deferral(operator, context, deferred.value)
    assert batch_prediction_id == trigger.entity_id


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.timing
async def test_both_modes_give_up_by_the_same_rule(operator_for, emulator, deferrable):
    emulator.configure(job_duration=60)
    context = context_for(run_id=run_id())
    operator = operator_for(
        wait_for_completion=True, deferrable=deferrable, waiter_delay=0.2, waiter_max_attempts=5
    )
    started = time.monotonic()
    # One budget, waiter_delay x waiter_max_attempts: the worker counts polls; the trigger also has the
    # deadline it makes of them, which a first poll made late (its client being built) reaches first.
    limit = "5 polls made, the limit is 5" + ("|the deadline passed" if deferrable else "")
    with pytest.raises(WaitTimeoutError, match=limit):
        await execute_to_the_end(operator, context)
    assert 0.8 <= time.monotonic() - started < 3


async def test_a_failed_job_fails_the_deferred_task_with_the_service_message(operator_for, emulator):
    emulator.fail_next_jobs(1, message="Model is not ready", kind="BatchPrediction")
    context = context_for(run_id=run_id())
    operator = operator_for(wait_for_completion=True, deferrable=True, waiter_delay=0.1)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    with pytest.raises(BatchPredictionFailedError, match="Model is not ready"):
        await resume_after_deferral(operator, context, deferred.value)


def test_a_malformed_event_fails_the_task(operator_for, emulator):
    context = context_for(run_id=run_id())
    operator = operator_for()
    operator.execute(context)
    with pytest.raises(BatchPredictionFailedError, match="Malformed trigger event"):
        operator.execute_complete(context, event={"status": "success"})
    with pytest.raises(BatchPredictionFailedError, match="Malformed trigger event"):
        operator.execute_complete(context, event=None)


@pytest.mark.parametrize(
    ("delete_on_kill", "task_state", "deleted"),
    [
        (False, "failed", False),
        # A user marked the running task, or cleared it (restarting).
        (True, "failed", True),
        (True, "success", True),
        (True, "restarting", True),
        # Still running: the worker shut down (a deploy, an eviction) or the try hit execution_timeout.
        (True, "running", False),
    ],
)
def test_the_workers_kill_deletes_the_job_only_when_a_user_acted(
    operator_for, emulator, monkeypatch, delete_on_kill, task_state, deleted
):
    monkeypatch.setattr(ownership, "task_state", lambda *_: task_state)
    # The job runs while the kill decides, however slow the machine.
    emulator.configure(job_duration=30)
    operator = operator_for(delete_on_kill=delete_on_kill)
    job_id = operator.execute(context_for(run_id=run_id()))
    operator.on_kill()
    assert (operator.hook.get(BATCH_PREDICTION, job_id)["Status"] == "DELETED") is deleted


def test_the_workers_kill_keeps_the_job_when_the_tasks_state_cannot_be_read(operator_for, emulator):
    # Outside a task runner the state query fails: deleting a job someone waits for is worse than not.
    operator = operator_for(delete_on_kill=True)
    job_id = operator.execute(context_for(run_id=run_id()))
    operator.on_kill()
    assert operator.hook.get(BATCH_PREDICTION, job_id)["Status"] != "DELETED"


def test_lineage_reads_the_data_source_location_in_and_the_output_uri_out(operator_for, emulator):
    operator = operator_for(output_uri=f"s3://{BUCKET}/lineage/run-1/")
    operator.execute(context_for(run_id=run_id()))
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert [(dataset.namespace, dataset.name) for dataset in lineage.inputs] == [
        (f"s3://{BUCKET}", "breast_cancer/data.csv")
    ]
    assert [(dataset.namespace, dataset.name) for dataset in lineage.outputs] == [
        (f"s3://{BUCKET}", "lineage/run-1")
    ]


def test_outlets_without_waiting_are_refused_since_success_would_only_mean_created():
    from airflow.providers.common.compat.sdk import Asset

    with pytest.raises(InvalidParameterError, match="outlets.*wait_for_completion=True"):
        CreateBatchPredictionOperator(
            task_id="score",
            ml_model_id="m",
            data_source_id="d",
            output_uri="s3://b/o/",
            outlets=[Asset("s3://b/o/")],
        )


def test_a_waiting_operator_tells_its_outlet_asset_where_the_results_are(operator_for, emulator):
    from airflow.providers.common.compat.sdk import Asset

    predictions = Asset(f"s3://{BUCKET}/asset/")
    context = context_for(run_id=run_id())
    context["outlet_events"] = OutletEventsStub()
    operator = operator_for(
        output_uri=f"s3://{BUCKET}/asset/",
        wait_for_completion=True,
        deferrable=False,
        waiter_delay=0.1,
        outlets=[predictions],
    )
    batch_prediction_id = operator.execute(context)
    extra = context["outlet_events"][predictions].extra
    assert extra["batch_prediction_id"] == batch_prediction_id
    assert extra["result_uris"] == [
        f"s3://{BUCKET}/asset/batch-prediction/result/{batch_prediction_id}-data.csv.gz"
    ]
    assert list(operator.hook.iter_results(extra))
