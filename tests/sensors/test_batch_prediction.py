"""The batch prediction sensor: poke, reschedule and deferrable give the same answer at the same time."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_ml_provider import BatchPredictionSensor
from airflow_ml_provider.exceptions import BatchPredictionFailedError, InvalidParameterError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
from airflow_ml_provider.waiting import EntityWait
from tests.conftest import BUCKET
from tests.runtime import context_for, resume_after_deferral

RESULT_KEYS = {
    "batch_prediction_id",
    "status",
    "output_uri",
    "manifest_uri",
    "result_uris",
    "input_uris",
    "total_record_count",
    "invalid_record_count",
    "ml_model_id",
    "data_source_id",
    "input_data_location_s3",
    "finished_at",
}


async def run_sensor(sensor, context=None):
    """The whole sensor task in any mode: execute, and after a deferral run the trigger and resume."""
    context = context or context_for()
    try:
        return sensor.execute(context)
    except TaskDeferred as deferred:
        return await resume_after_deferral(sensor, context, deferred)


@pytest.mark.parametrize("deferrable", [False, True])
async def test_a_completed_job_returns_what_a_downstream_task_needs(submit, deferrable, binary_model):
    batch_prediction_id = submit()
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id=batch_prediction_id,
        deferrable=deferrable,
        poke_interval=0.1,
        timeout=60,
    )
    result = await run_sensor(sensor)
    assert set(result) == RESULT_KEYS
    assert result["batch_prediction_id"] == batch_prediction_id
    assert result["status"] == "COMPLETED"
    assert result["total_record_count"] == int(binary_model["record_count"])
    assert (
        result["manifest_uri"] == f"s3://{BUCKET}/submitted/batch-prediction/{batch_prediction_id}.manifest"
    )
    assert len(result["result_uris"]) == 1


def test_poke_says_not_yet_while_the_job_runs(submit, emulator):
    emulator.configure(job_duration=60)
    sensor = BatchPredictionSensor(task_id="wait", batch_prediction_id=submit(), poke_interval=1)
    assert sensor.poke(context_for()) is False


def test_a_throttled_poke_is_one_more_poke_not_a_failure(submit, emulator):
    batch_prediction_id = submit()
    emulator.configure(throttle_rate=1.0, operations=["GetBatchPrediction"])
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id=batch_prediction_id,
        botocore_config={"retries": {"max_attempts": 1, "mode": "standard"}},
    )
    assert sensor.poke(context_for()) is False


def test_the_deferred_sensor_pokes_first_then_defers_with_its_own_timeout(submit, emulator):
    emulator.configure(job_duration=60)
    sensor = BatchPredictionSensor(
        task_id="wait", batch_prediction_id=submit(), deferrable=True, poke_interval=5, timeout=120
    )
    emulator.reset_call_counts()
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context_for())
    assert emulator.call_counts() == {"GetBatchPrediction": 1}
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchPredictionTrigger)
    assert trigger.waiter_delay == 5
    assert before + 120 <= trigger.deadline <= time.time() + 120


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
@pytest.mark.timing
async def test_a_job_that_never_finishes_times_out_in_every_mode_within_one_interval(submit, emulator, mode):
    emulator.configure(job_duration=600)
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id=submit(),
        deferrable=mode == "deferrable",
        poke_interval=0.2,
        timeout=1,
    )
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout) as error:
        await run_sensor(sensor)
    assert 1 <= time.monotonic() - started < 1 + 0.2 + 1
    assert "timed out" in str(error.value) or "gave up waiting" in str(error.value)


@pytest.mark.parametrize("deferrable", [False, True])
async def test_a_failed_job_fails_the_sensor_with_the_service_message(submit, emulator, deferrable):
    batch_prediction_id = submit()
    emulator.fail_job(batch_prediction_id, message="Not enough records to score")
    sensor = BatchPredictionSensor(
        task_id="wait", batch_prediction_id=batch_prediction_id, deferrable=deferrable, poke_interval=0.1
    )
    with pytest.raises(
        BatchPredictionFailedError, match="status FAILED.*Not enough records to score"
    ) as error:
        await run_sensor(sensor)
    assert error.value.entity_id == batch_prediction_id


@pytest.mark.parametrize("status", ["DELETED", "INVALID"])
async def test_deleted_and_unknown_statuses_fail_the_sensor(submit, emulator, status):
    batch_prediction_id = submit()
    emulator.set_status(batch_prediction_id, status)
    sensor = BatchPredictionSensor(task_id="wait", batch_prediction_id=batch_prediction_id, poke_interval=0.1)
    with pytest.raises(BatchPredictionFailedError, match=f"status {status}"):
        await run_sensor(sensor)


@pytest.mark.parametrize("deferrable", [False, True])
async def test_soft_fail_skips_instead_in_both_modes(submit, emulator, deferrable):
    batch_prediction_id = submit()
    emulator.fail_job(batch_prediction_id, message="broken")
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id=batch_prediction_id,
        deferrable=deferrable,
        soft_fail=True,
        poke_interval=0.1,
    )
    with pytest.raises(AirflowSkipException, match="broken"):
        await run_sensor(sensor)


@pytest.mark.parametrize("deferrable", [False, True])
async def test_never_fail_skips_a_failure_seen_by_the_first_poke_in_both_modes(submit, emulator, deferrable):
    batch_prediction_id = submit()
    emulator.fail_job(batch_prediction_id, message="broken")
    sensor = BatchPredictionSensor(
        task_id="wait", batch_prediction_id=batch_prediction_id, deferrable=deferrable, never_fail=True
    )
    with pytest.raises(AirflowSkipException):
        await run_sensor(sensor)


async def test_never_fail_skips_a_failure_seen_while_deferred(submit, emulator):
    emulator.configure(job_duration=60)
    batch_prediction_id = submit()
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id=batch_prediction_id,
        deferrable=True,
        never_fail=True,
        poke_interval=0.1,
    )
    context = context_for()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    emulator.fail_job(batch_prediction_id, message="broken")
    with pytest.raises(AirflowSkipException, match="broken"):
        await resume_after_deferral(sensor, context, deferred.value)


@pytest.mark.parametrize(
    "event",
    [
        None,
        {"status": "success"},
        {
            "status": "success",
            "entity_kind": "batch_prediction",
            "entity_id": "bp",
            "description": {},
            "message": "",
        },
        {
            "status": "SUCCESS",
            "entity_kind": "batch_prediction",
            "entity_id": "bp",
            "description": {},
            "message": "",
        },
    ],
)
def test_only_an_explicit_success_event_succeeds(event):
    sensor = BatchPredictionSensor(task_id="wait", batch_prediction_id="bp")
    with pytest.raises(BatchPredictionFailedError, match="Malformed trigger event"):
        sensor.execute_complete(context_for(), event=event)


def test_a_timeout_event_is_a_sensor_timeout_naming_the_job():
    sensor = BatchPredictionSensor(task_id="wait", batch_prediction_id="bp")
    event = {
        "status": "timeout",
        "entity_kind": "batch_prediction",
        "entity_id": "bp",
        "description": {"Status": "INPROGRESS"},
        "message": "gave up waiting while it was INPROGRESS: the deadline passed",
    }
    with pytest.raises(AirflowSensorTimeout, match="Batch prediction bp: gave up waiting"):
        sensor.execute_complete(context_for(), event=event)


def test_an_invalid_id_fails_before_any_call(emulator):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match="batch_prediction_id"):
        BatchPredictionSensor(task_id="wait", batch_prediction_id="bad id").execute(context_for())
    assert emulator.call_counts() == {}


@pytest.mark.parametrize("deferrable", [False, True])
async def test_soft_fail_also_covers_results_that_cannot_be_read(submit, emulator, s3_client, deferrable):
    batch_prediction_id = submit()
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id=batch_prediction_id,
        deferrable=deferrable,
        soft_fail=True,
        poke_interval=0.1,
    )
    MachineLearningHook().wait(EntityWait(BATCH_PREDICTION, batch_prediction_id, delay=0.1, max_attempts=300))
    s3_client.delete_object(Bucket=BUCKET, Key=f"submitted/batch-prediction/{batch_prediction_id}.manifest")
    with pytest.raises(AirflowSkipException, match="NoSuchKey"):
        await run_sensor(sensor)
