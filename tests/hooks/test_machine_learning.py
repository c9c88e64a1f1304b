"""The hook against the local service over HTTP: real boto3 and aiobotocore clients, no stubs."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from airflow_ml_provider.exceptions import BatchPredictionFailedError, ServiceRejectedError, WaitTimeoutError
from airflow_ml_provider.hooks.machine_learning import (
    REQUEST_TAG,
    SUCCEEDED_TAG,
    MachineLearningHook,
    shared_clients,
)
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.utils.status import Outcome
from airflow_ml_provider.waiting import EntityWait, WaitResult
from tests.conftest import BUCKET


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def hook(emulator):
    return MachineLearningHook()


@pytest.fixture
def request_for(binary_model):
    def build(**overrides):
        return {
            "MLModelId": binary_model["ml_model_id"],
            "BatchPredictionDataSourceId": binary_model["data_source_id"],
            "OutputUri": f"s3://{BUCKET}/{unique('out')}/",
            **overrides,
        }

    return build


def wait_for(hook, batch_prediction_id, **limits):
    return hook.wait(
        EntityWait(BATCH_PREDICTION, batch_prediction_id, delay=0.1, **(limits or {"max_attempts": 300}))
    )


def test_submit_creates_once_and_reattaches_on_the_next_try(hook, emulator, request_for):
    emulator.reset_call_counts()
    batch_prediction_id = unique("bp")
    request = request_for()
    first = hook.submit(BATCH_PREDICTION, batch_prediction_id, request).description
    second = hook.submit(BATCH_PREDICTION, batch_prediction_id, request).description
    assert first["BatchPredictionId"] == second["BatchPredictionId"] == batch_prediction_id
    assert emulator.call_counts()["CreateBatchPrediction"] == 1
    wait_for(hook, batch_prediction_id)
    completed = hook.submit(BATCH_PREDICTION, batch_prediction_id, request).description
    assert completed["Status"] == "COMPLETED"
    assert emulator.call_counts()["CreateBatchPrediction"] == 1


def test_submit_after_a_failed_job_creates_exactly_one_fresh_job_the_next_try_finds(
    hook, emulator, request_for
):
    batch_prediction_id = unique("bp")
    request = request_for()
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request)
    emulator.fail_job(batch_prediction_id, message="Input data could not be read")
    emulator.reset_call_counts()
    retried = hook.submit(BATCH_PREDICTION, batch_prediction_id, request).description
    assert retried["BatchPredictionId"] == f"{batch_prediction_id}-r1"
    again = hook.submit(BATCH_PREDICTION, batch_prediction_id, request).description
    assert again["BatchPredictionId"] == f"{batch_prediction_id}-r1"
    assert emulator.call_counts()["CreateBatchPrediction"] == 1


def test_submit_after_a_deleted_job_moves_on_too(hook, emulator, request_for):
    batch_prediction_id = unique("bp")
    request = request_for()
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request)
    hook.delete(BATCH_PREDICTION, batch_prediction_id)
    assert hook.get(BATCH_PREDICTION, batch_prediction_id)["Status"] == "DELETED"
    retried = hook.submit(BATCH_PREDICTION, batch_prediction_id, request).description
    assert retried["BatchPredictionId"] == f"{batch_prediction_id}-r1"


def test_an_existing_id_with_other_parameters_is_a_clear_error_not_a_second_job(hook, emulator, request_for):
    batch_prediction_id = unique("bp")
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())
    emulator.reset_call_counts()
    with pytest.raises(
        ServiceRejectedError, match="IdempotentParameterMismatchException.*OutputUri"
    ) as error:
        hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())
    assert "give a new batch_prediction_id" in str(error.value)
    assert "CreateBatchPrediction" not in emulator.call_counts()


def test_the_service_rejection_carries_its_message_and_does_not_retry(hook, request_for):
    with pytest.raises(ServiceRejectedError, match="InvalidInputException.*no-such-model") as error:
        hook.create(
            BATCH_PREDICTION, {"BatchPredictionId": unique("bp"), **request_for(MLModelId="no-such-model")}
        )
    assert error.value.code == "InvalidInputException"


def test_a_closed_account_is_rejected_with_the_service_message(hook, emulator):
    emulator.configure(unavailable=True)
    with pytest.raises(ServiceRejectedError, match="AccessDeniedException.*no longer available"):
        hook.get(BATCH_PREDICTION, "anything")


def test_wait_returns_the_completed_job_and_results_describe_every_file(hook, request_for, binary_model):
    batch_prediction_id = unique("bp")
    request = request_for()
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request)
    description = wait_for(hook, batch_prediction_id)
    results = hook.get_results(description)
    assert results["manifest_uri"] == f"{request['OutputUri']}batch-prediction/{batch_prediction_id}.manifest"
    assert results["result_uris"] == [
        f"{request['OutputUri']}batch-prediction/result/{batch_prediction_id}-data.csv.gz"
    ]
    assert results["total_record_count"] == int(binary_model["record_count"])
    rows = list(hook.iter_results(results))
    assert len(rows) == results["total_record_count"]
    assert set(rows[0]) == {"trueLabel", "bestAnswer", "score"}
    accuracy = sum(row["bestAnswer"] == row["trueLabel"] for row in rows) / len(rows)
    assert accuracy > 0.9
    assert list(hook.iter_results(batch_prediction_id)) == rows


def test_wait_raises_the_service_message_of_a_failed_job(hook, emulator, request_for):
    emulator.fail_next_jobs(1, message="The data source has no records", kind="BatchPrediction")
    batch_prediction_id = unique("bp")
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())
    with pytest.raises(BatchPredictionFailedError, match="status FAILED.*The data source has no records"):
        wait_for(hook, batch_prediction_id)


def test_wait_gives_up_at_its_attempt_limit_while_the_job_runs(hook, emulator, request_for):
    emulator.configure(job_duration=60)
    batch_prediction_id = unique("bp")
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())
    with pytest.raises(WaitTimeoutError, match="3 polls made"):
        wait_for(hook, batch_prediction_id, max_attempts=3)


def test_a_throttled_service_slows_the_wait_down_but_it_ends_correctly(emulator, request_for, caplog):
    # Without botocore's own retries every throttled or failed call reaches the wait.
    hook = MachineLearningHook(config={"retries": {"max_attempts": 1, "mode": "standard"}})
    batch_prediction_id = unique("bp")
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())
    emulator.configure(throttle_rate=0.3, error_rate=0.1, seed=7, operations=["GetBatchPrediction"])
    with caplog.at_level("WARNING", logger="airflow_ml_provider.waiting"):
        description = wait_for(hook, batch_prediction_id, max_attempts=200)
    assert description["Status"] == "COMPLETED"
    backoffs = [record.getMessage() for record in caplog.records if "backing off" in record.getMessage()]
    assert backoffs, "no throttled poll was seen"
    assert any("ThrottlingException" in message for message in backoffs)


def test_results_of_a_job_that_did_not_complete_are_refused(hook):
    with pytest.raises(BatchPredictionFailedError, match="it has no results"):
        hook.get_results({"BatchPredictionId": "bp", "Status": "FAILED"})


async def test_async_polls_share_one_client_and_close_it_when_the_last_user_leaves(hook, request_for):
    batch_prediction_ids = [unique("bp") for _ in range(5)]
    for batch_prediction_id in batch_prediction_ids:
        hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())

    async def wait_async(batch_prediction_id: str) -> WaitResult:
        async with hook.async_client() as client:
            assert shared_clients.open_count() == 1
            wait = EntityWait(BATCH_PREDICTION, batch_prediction_id, delay=0.1, max_attempts=300)
            step = 0.0
            while not isinstance(step, WaitResult):
                await asyncio.sleep(step)
                step = await hook.poll_async(client, wait)
            return step

    results = await asyncio.gather(
        *(wait_async(batch_prediction_id) for batch_prediction_id in batch_prediction_ids)
    )
    assert [result.outcome for result in results] == [Outcome.SUCCESS] * 5
    assert shared_clients.open_count() == 0


def test_a_wait_in_the_worker_outlives_a_key_rotation(emulator, request_for, monkeypatch):
    def connection_with_key(access_key):
        connection = json.loads(emulator.connection_json())
        connection.update(login=access_key, password=f"secret-of-{access_key}")
        return json.dumps(connection)

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key("old-key"))
    hook = MachineLearningHook()
    batch_prediction_id = unique("bp")
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request_for())
    emulator.configure(refused_access_keys={"old-key": "UnrecognizedClientException"})
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key("new-key"))
    assert wait_for(hook, batch_prediction_id)["Status"] == "COMPLETED"
    # A key that is simply wrong is still refused, and the error says which connection holds it.
    emulator.configure(refused_access_keys={"new-key": "UnrecognizedClientException"})
    with pytest.raises(ServiceRejectedError, match="Airflow connection 'aws_default'"):
        wait_for(hook, batch_prediction_id)


def test_the_provider_tags_every_object_it_creates_and_marks_what_a_successful_try_used(hook, request_for):
    batch_prediction_id = unique("bp")
    request = request_for()
    submission = hook.submit(BATCH_PREDICTION, batch_prediction_id, request, {"team": "x"})
    assert submission.created is True
    tags = hook.get_tags(BATCH_PREDICTION, batch_prediction_id)
    assert tags["team"] == "x"
    assert tags[REQUEST_TAG].startswith("sha256:")
    assert SUCCEEDED_TAG not in tags
    hook.mark_succeeded(BATCH_PREDICTION, batch_prediction_id, "run 1")
    # A retry of the run whose try succeeded (its success was not recorded) reattaches; another run creates.
    retried = hook.submit(BATCH_PREDICTION, batch_prediction_id, request, run="run 1")
    assert (retried.created, retried.description["BatchPredictionId"]) == (False, batch_prediction_id)
    again = hook.submit(BATCH_PREDICTION, batch_prediction_id, request, run="run 2")
    assert (again.created, again.description["BatchPredictionId"]) == (True, f"{batch_prediction_id}-r1")
