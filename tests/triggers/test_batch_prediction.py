"""The trigger against the local service: one event with an explicit status, whatever happens."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.triggers import base as trigger_base
from airflow_ml_provider.triggers.base import MachineLearningEntityTrigger
from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
from airflow_ml_provider.utils.ownership import OWNER_TAG, Owner
from airflow_ml_provider.waiting import EntityWait
from tests.runtime import run_trigger


def test_serialize_round_trips_everything_a_restarted_triggerer_needs():
    trigger = BatchPredictionTrigger(
        batch_prediction_id="bp",
        waiter_delay=5,
        waiter_max_attempts=7,
        deadline=1234.5,
        delete_on_kill=True,
        aws_conn_id="ml",
        region_name="eu-west-1",
        verify=False,
        botocore_config={"retries": {"mode": "standard"}},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_ml_provider.triggers.batch_prediction.BatchPredictionTrigger"
    assert BatchPredictionTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert kwargs["batch_prediction_id"] == "bp"
    assert kwargs["deadline"] == 1234.5


async def test_a_completed_job_yields_exactly_one_success_event(submit):
    batch_prediction_id = submit()
    events = await run_trigger(
        BatchPredictionTrigger(batch_prediction_id=batch_prediction_id, waiter_delay=0.1)
    )
    assert len(events) == 1
    assert events[0]["status"] == "success"
    assert events[0]["entity_id"] == batch_prediction_id
    assert events[0]["description"]["Status"] == "COMPLETED"
    assert events[0]["description"]["TotalRecordCount"] > 0


async def test_a_failed_job_yields_failed_with_the_service_message(submit, emulator):
    batch_prediction_id = submit()
    emulator.fail_job(batch_prediction_id, message="The S3 input could not be read")
    events = await run_trigger(
        BatchPredictionTrigger(batch_prediction_id=batch_prediction_id, waiter_delay=0.1)
    )
    assert [(event["status"], event["message"]) for event in events] == [
        ("failed", "The S3 input could not be read")
    ]


async def test_a_deleted_job_yields_deleted(submit):
    batch_prediction_id = submit()
    MachineLearningHook().delete(BATCH_PREDICTION, batch_prediction_id)
    events = await run_trigger(
        BatchPredictionTrigger(batch_prediction_id=batch_prediction_id, waiter_delay=0.1)
    )
    assert [event["status"] for event in events] == ["deleted"]


async def test_an_unknown_status_is_a_failure_not_something_to_wait_on(submit, emulator):
    batch_prediction_id = submit()
    emulator.set_status(batch_prediction_id, "INVALID")
    events = await run_trigger(
        BatchPredictionTrigger(batch_prediction_id=batch_prediction_id, waiter_delay=0.1)
    )
    assert [event["status"] for event in events] == ["failed"]
    assert "unexpected status 'INVALID'" in events[0]["message"]


@pytest.mark.timing
async def test_the_deadline_ends_the_wait_with_a_timeout_event(submit, emulator):
    emulator.configure(job_duration=60)
    batch_prediction_id = submit()
    started = time.monotonic()
    trigger = BatchPredictionTrigger(
        batch_prediction_id=batch_prediction_id, waiter_delay=0.2, deadline=time.time() + 1
    )
    events = await run_trigger(trigger)
    assert [event["status"] for event in events] == ["timeout"]
    assert "the deadline passed" in events[0]["message"]
    assert time.monotonic() - started < 1 + 0.2 + 1


async def test_the_attempt_limit_counts_throttled_polls(submit, emulator):
    emulator.configure(job_duration=60)
    batch_prediction_id = submit()
    emulator.configure(throttle_rate=1.0, operations=["GetBatchPrediction"])
    trigger = BatchPredictionTrigger(
        batch_prediction_id=batch_prediction_id,
        waiter_delay=0.05,
        waiter_max_attempts=3,
        botocore_config={"retries": {"max_attempts": 1, "mode": "standard"}},
    )
    events = await run_trigger(trigger)
    assert [event["status"] for event in events] == ["timeout"]
    assert "3 polls made" in events[0]["message"]


async def test_a_missing_job_yields_an_error_event_with_the_service_message(emulator):
    events = await run_trigger(BatchPredictionTrigger(batch_prediction_id="never-created", waiter_delay=0.1))
    assert [event["status"] for event in events] == ["error"]
    assert events[0]["message"].startswith("ResourceNotFoundException")


async def test_an_unexpected_exception_becomes_an_error_event_with_its_reason(monkeypatch, emulator):
    def broken_hook(self):
        raise RuntimeError("connection 'aws_default' could not be read")

    monkeypatch.setattr(MachineLearningEntityTrigger, "hook", property(broken_hook))
    events = await run_trigger(BatchPredictionTrigger(batch_prediction_id="bp", waiter_delay=0.1))
    assert events == [
        {
            "status": "error",
            "entity_kind": "batch_prediction",
            "entity_id": "bp",
            "description": None,
            "message": "RuntimeError: connection 'aws_default' could not be read",
        }
    ]


@pytest.mark.parametrize(
    ("delete_on_kill", "task_state", "adopted", "deleted"),
    [
        (False, "failed", False, False),
        # The user marked the task failed or successful, or cleared it.
        (True, "failed", False, True),
        (True, "success", False, True),
        (True, None, False, True),
        (True, "restarting", False, True),
        # Still deferred: the trigger merely moved to another triggerer, which waits on the job.
        (True, "deferred", False, False),
        # The copy on the other triggerer fired and the task resumed: the try goes on.
        (True, "scheduled", False, False),
        (True, "running", False, False),
        # Cleared, and the next try already reattached to the job: it is that try's now.
        (True, None, True, False),
        # Unknown: deleting a job someone still waits for is worse than leaving one running.
        (True, RuntimeError("the API server did not answer"), False, False),
    ],
)
async def test_on_kill_deletes_the_job_only_when_the_user_acted_on_the_try_that_owns_it(
    submit, emulator, monkeypatch, delete_on_kill, task_state, adopted, deleted
):
    # The job runs while the kill decides, however slow the machine.
    emulator.configure(job_duration=30)
    asked = []

    def state_of(dag_id, task_id, run_id, map_index):
        asked.append((dag_id, task_id, run_id, map_index))
        if isinstance(task_state, Exception):
            raise task_state
        return task_state

    monkeypatch.setattr(trigger_base, "task_state", state_of)
    batch_prediction_id = submit()
    hook = MachineLearningHook()
    owner = Owner.of("d", "t", -1, 1)
    hook.add_tags(BATCH_PREDICTION, batch_prediction_id, {OWNER_TAG: owner.tag})
    if adopted:
        hook.add_tags(BATCH_PREDICTION, batch_prediction_id, {OWNER_TAG: Owner.of("d", "t", -1, 2).tag})
    trigger = BatchPredictionTrigger(
        batch_prediction_id=batch_prediction_id, delete_on_kill=delete_on_kill, owner_tag=owner.tag
    )
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    await trigger.on_kill()
    status = hook.get(BATCH_PREDICTION, batch_prediction_id)["Status"]
    assert (status == "DELETED") is deleted
    assert asked == ([("d", "t", "r", -1)] if delete_on_kill else [])


async def test_on_kill_never_deletes_a_job_that_completed(submit, monkeypatch, emulator):
    monkeypatch.setattr(trigger_base, "task_state", lambda *_: "success")
    batch_prediction_id = submit()
    hook = MachineLearningHook()
    owner = Owner.of("d", "t", -1, 1)
    hook.add_tags(BATCH_PREDICTION, batch_prediction_id, {OWNER_TAG: owner.tag})
    hook.wait(EntityWait(BATCH_PREDICTION, batch_prediction_id, delay=0.1, max_attempts=200))
    trigger = BatchPredictionTrigger(
        batch_prediction_id=batch_prediction_id, delete_on_kill=True, owner_tag=owner.tag
    )
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    await trigger.on_kill()
    assert hook.get(BATCH_PREDICTION, batch_prediction_id)["Status"] == "COMPLETED"


async def test_an_unreachable_endpoint_is_retried_until_the_limit_not_failed_at_once(monkeypatch, emulator):
    connection = json.loads(emulator.connection_json())
    connection["extra"]["endpoint_url"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    trigger = BatchPredictionTrigger(
        batch_prediction_id="bp",
        waiter_delay=0.05,
        waiter_max_attempts=3,
        botocore_config={"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 1},
    )
    events = await run_trigger(trigger)
    assert [event["status"] for event in events] == ["timeout"]
    assert "3 polls made" in events[0]["message"]
