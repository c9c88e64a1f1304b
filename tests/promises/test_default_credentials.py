"""Promise: a missing ``aws_default`` falls back to boto3's default credential chain with a warning; an
explicitly named connection that does not exist is a clear error naming ``aws_conn_id``, before any call.

Checked on every path that talks to the service, against the local emulator. boto3's default chain is
pointed at the emulator through the environment (``AWS_ENDPOINT_URL``), so a path that silently falls
back where it must not shows up as calls the emulator counts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred
from airflow.sdk.exceptions import AirflowRescheduleException

from airflow_ml_provider import (
    BatchPredictionSensor,
    CreateBatchPredictionOperator,
    DataSourceSensor,
)
from airflow_ml_provider.exceptions import InvalidParameterError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
from airflow_ml_provider.triggers.data_source import DataSourceTrigger
from airflow_ml_provider.utils.status import Outcome
from airflow_ml_provider.waiting import WaitResult, json_safe
from amazon_ml_emulator import Emulator
from tests.conftest import BUCKET, wait_for_status
from tests.runtime import context_for, resume_after_deferral, run_trigger

FALLBACK_WARNING = "No Airflow connection 'aws_default'"
UNKNOWN = "no_such_connection"


@pytest.fixture
def default_chain(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """No ``aws_default``; boto3's default chain (environment) reaches the emulator, S3 included."""
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", emulator.s3_endpoint_url)
    emulator.reset_call_counts()
    return emulator


def started_job(ml_client: Any, model: dict[str, str]) -> str:
    """A batch prediction made with a plain client (no Airflow connection involved)."""
    job_id = f"bp-{uuid.uuid4().hex[:12]}"
    ml_client.create_batch_prediction(
        BatchPredictionId=job_id,
        MLModelId=model["ml_model_id"],
        BatchPredictionDataSourceId=model["data_source_id"],
        OutputUri=f"s3://{BUCKET}/default-credentials/",
    )
    return job_id


def completed_job(ml_client: Any, model: dict[str, str]) -> str:
    """A COMPLETED batch prediction."""
    job_id = started_job(ml_client, model)
    assert wait_for_status(lambda: ml_client.get_batch_prediction(BatchPredictionId=job_id)) == "COMPLETED"
    return job_id


def running_job(ml_client: Any, model: dict[str, str], emulator: Emulator) -> str:
    """A batch prediction that runs for a second."""
    emulator.configure(job_duration=1.0, pending_duration=0.1)
    return started_job(ml_client, model)


def sensor(job_id: str, **kwargs: Any) -> BatchPredictionSensor:
    return BatchPredictionSensor(
        task_id=f"wait_{uuid.uuid4().hex[:6]}",
        batch_prediction_id=job_id,
        poke_interval=0.1,
        timeout=30,
        **kwargs,
    )


def create_operator(model: dict[str, str], **kwargs: Any) -> CreateBatchPredictionOperator:
    return CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id=model["ml_model_id"],
        data_source_id=model["data_source_id"],
        output_uri=f"s3://{BUCKET}/default-credentials/",
        **kwargs,
    )


def fresh_context() -> dict[str, Any]:
    return context_for(dag_id="default_credentials", run_id=f"run-{uuid.uuid4().hex[:8]}")


def fails_clearly_before_any_call(service: Emulator, run: Any) -> None:
    """``run()`` raises the unknown connection's error, and the service saw no call."""
    service.reset_call_counts()
    with pytest.raises(InvalidParameterError) as raised:
        run()
    assert_clear_unknown_connection_error(raised.value)
    assert service.call_counts() == {}


def assert_clear_unknown_connection_error(error: BaseException) -> None:
    assert isinstance(error, InvalidParameterError), f"{type(error).__name__}: {error}"
    assert isinstance(error, AirflowFailException)
    text = str(error)
    assert "aws_conn_id" in text, text
    assert UNKNOWN in text, text
    assert "no Airflow connection" in text, text


# -- missing aws_default: fallback with a warning, on every path ------------------------------------


def test_poking_sensor_without_aws_default_falls_back_and_reads_results_from_s3(
    default_chain, binary_model, ml_client, caplog
):
    job_id = completed_job(ml_client, binary_model)
    default_chain.reset_call_counts()
    with caplog.at_level("WARNING"):
        result = sensor(job_id, mode="poke").execute(fresh_context())
    assert FALLBACK_WARNING in caplog.text
    assert default_chain.call_counts().get("GetBatchPrediction", 0) >= 1
    # The results reader (S3Hook on the same missing connection) also fell back, to the emulator's S3.
    assert result["batch_prediction_id"] == job_id, result
    assert result["result_uris"], result


def test_reschedule_sensor_without_aws_default_falls_back(default_chain, binary_model, ml_client, caplog):
    job_id = running_job(ml_client, binary_model, default_chain)

    def reschedule_context() -> dict[str, Any]:
        context = fresh_context()
        context["ti"].get_first_reschedule_date = lambda _context: None
        return context

    with caplog.at_level("WARNING"):
        # First try: the job still runs, the sensor gives its slot back.
        with pytest.raises(AirflowRescheduleException):
            sensor(job_id, mode="reschedule").execute(reschedule_context())
        assert FALLBACK_WARNING in caplog.text
        assert default_chain.call_counts().get("GetBatchPrediction", 0) >= 1
        wait_for_status(lambda: ml_client.get_batch_prediction(BatchPredictionId=job_id))
        # A later try, in a new process: the job completed.
        result = sensor(job_id, mode="reschedule").execute(reschedule_context())
    assert result["batch_prediction_id"] == job_id


def test_poking_sensor_warns_about_the_fallback_once_not_on_every_poke(
    default_chain, binary_model, ml_client, caplog, capsys
):
    job_id = running_job(ml_client, binary_model, default_chain)
    with caplog.at_level("WARNING"):
        sensor(job_id, mode="poke").execute(fresh_context())
    assert default_chain.call_counts().get("GetBatchPrediction", 0) >= 2, "the test needs several pokes"
    logged = caplog.text + capsys.readouterr().out
    provider_warnings = logged.count(FALLBACK_WARNING)
    amazon_warnings = logged.count("Unable to find AWS Connection ID 'aws_default'")
    assert provider_warnings == 1, caplog.text
    # One per hook (the service's and S3's), never one per poke.
    assert amazon_warnings <= 2, caplog.text


async def test_deferrable_sensor_without_aws_default_falls_back_in_the_trigger_too(
    default_chain, binary_model, ml_client, caplog
):
    job_id = running_job(ml_client, binary_model, default_chain)
    task = sensor(job_id, deferrable=True)
    context = fresh_context()
    with caplog.at_level("WARNING"):
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(context)
        events = await run_trigger(deferred.value.trigger)
    assert FALLBACK_WARNING in caplog.text
    assert [event["status"] for event in events] == ["success"], events
    result = task.execute_complete(context, event=events[0])
    assert result["batch_prediction_id"] == job_id


async def test_batch_prediction_trigger_alone_without_aws_default_falls_back_with_a_warning(
    default_chain, binary_model, ml_client, caplog, capsys
):
    # As a triggerer runs it after a restart: no task process, only the serialized kwargs.
    job_id = running_job(ml_client, binary_model, default_chain)
    with caplog.at_level("WARNING"):
        events = await run_trigger(BatchPredictionTrigger(batch_prediction_id=job_id, waiter_delay=0.1))
    assert [event["status"] for event in events] == ["success"], events
    assert default_chain.call_counts(), "the trigger never reached the emulator"
    logged = caplog.text + capsys.readouterr().out
    assert "aws_default" in logged, "the fallback in the triggerer logged no warning"


async def test_data_source_trigger_without_aws_default_falls_back(
    default_chain, binary_model, caplog, capsys
):
    # The generic trigger path (shared client, no poller).
    with caplog.at_level("WARNING"):
        events = await run_trigger(
            DataSourceTrigger(data_source_id=binary_model["data_source_id"], waiter_delay=0.1)
        )
    assert [event["status"] for event in events] == ["success"], events
    assert default_chain.call_counts().get("GetDataSource", 0) >= 1
    assert "aws_default" in caplog.text + capsys.readouterr().out


async def test_deferrable_operator_without_aws_default_falls_back_end_to_end(
    default_chain, binary_model, caplog
):
    task = create_operator(binary_model, wait_for_completion=True, deferrable=True, waiter_delay=1)
    context = fresh_context()
    with caplog.at_level("WARNING"):
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(context)
        entity_id = await resume_after_deferral(task, context, deferred.value)
    assert FALLBACK_WARNING in caplog.text
    assert default_chain.call_counts().get("CreateBatchPrediction", 0) == 1
    assert entity_id.startswith("default_credentials.")


def test_sync_waiting_operator_without_aws_default_falls_back(default_chain, binary_model, caplog):
    task = create_operator(binary_model, wait_for_completion=True, waiter_delay=1)
    with caplog.at_level("WARNING"):
        task.execute(fresh_context())
    assert FALLBACK_WARNING in caplog.text
    assert default_chain.call_counts().get("CreateBatchPrediction", 0) == 1


# -- aws_conn_id=None: boto3's default chain, no connection looked up ------------------------------


def test_poking_sensor_with_no_connection_uses_the_default_chain_without_a_fallback_warning(
    default_chain, binary_model, ml_client, caplog
):
    job_id = completed_job(ml_client, binary_model)
    with caplog.at_level("WARNING"):
        result = sensor(job_id, aws_conn_id=None).execute(fresh_context())
    assert result["batch_prediction_id"] == job_id
    assert "No Airflow connection" not in caplog.text
    assert "Unable to find AWS Connection" not in caplog.text


async def test_deferrable_sensor_with_no_connection_uses_the_default_chain(
    default_chain, binary_model, ml_client, caplog
):
    job_id = running_job(ml_client, binary_model, default_chain)
    task = sensor(job_id, aws_conn_id=None, deferrable=True)
    context = fresh_context()
    with caplog.at_level("WARNING"):
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(context)
        assert deferred.value.trigger.aws_conn_id is None
        events = await run_trigger(deferred.value.trigger)
    assert [event["status"] for event in events] == ["success"], events
    assert task.execute_complete(context, event=events[0])["batch_prediction_id"] == job_id
    assert "Unable to find AWS Connection" not in caplog.text


# -- an explicit unknown ID: a clear error naming aws_conn_id, before any call ---------------------


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_with_an_unknown_connection_fails_clearly_before_any_call(
    default_chain, binary_model, ml_client, mode
):
    job_id = completed_job(ml_client, binary_model)
    fails_clearly_before_any_call(
        default_chain, lambda: sensor(job_id, mode=mode, aws_conn_id=UNKNOWN).execute(fresh_context())
    )


def test_deferrable_sensor_with_an_unknown_connection_fails_clearly_before_any_call(
    default_chain, binary_model, ml_client
):
    job_id = running_job(ml_client, binary_model, default_chain)
    fails_clearly_before_any_call(
        default_chain, lambda: sensor(job_id, deferrable=True, aws_conn_id=UNKNOWN).execute(fresh_context())
    )


def test_deferrable_operator_with_an_unknown_connection_fails_clearly_before_any_call(
    default_chain, binary_model
):
    task = create_operator(binary_model, wait_for_completion=True, deferrable=True, aws_conn_id=UNKNOWN)
    fails_clearly_before_any_call(default_chain, lambda: task.execute(fresh_context()))


def test_data_source_sensor_with_an_unknown_connection_fails_clearly_before_any_call(
    default_chain, binary_model
):
    task = DataSourceSensor(
        task_id="wait_ds",
        data_source_id=binary_model["data_source_id"],
        aws_conn_id=UNKNOWN,
        poke_interval=0.1,
    )
    fails_clearly_before_any_call(default_chain, lambda: task.execute(fresh_context()))


async def test_trigger_with_an_unknown_connection_makes_no_call_and_names_aws_conn_id(
    default_chain, binary_model, ml_client
):
    # The connection was deleted (or renamed) while the task was deferred; a restarted triggerer
    # builds the trigger from its kwargs. It must not quietly use other credentials.
    job_id = running_job(ml_client, binary_model, default_chain)
    default_chain.reset_call_counts()
    events = await run_trigger(
        BatchPredictionTrigger(batch_prediction_id=job_id, waiter_delay=0.1, aws_conn_id=UNKNOWN)
    )
    calls = default_chain.call_counts()
    assert calls == {}, f"the trigger fell back to the default chain: {calls}, events {events}"
    assert [event["status"] for event in events] == ["error"], events
    assert "aws_conn_id" in events[0]["message"], events
    assert UNKNOWN in events[0]["message"], events


async def test_generic_trigger_with_an_unknown_connection_makes_no_call(default_chain, binary_model):
    events = await run_trigger(
        DataSourceTrigger(
            data_source_id=binary_model["data_source_id"], waiter_delay=0.1, aws_conn_id=UNKNOWN
        )
    )
    calls = default_chain.call_counts()
    assert calls == {}, f"the trigger fell back to the default chain: {calls}, events {events}"
    assert [event["status"] for event in events] == ["error"], events


def test_results_reader_with_an_unknown_connection_fails_clearly_before_any_call(
    default_chain, binary_model, ml_client
):
    # A downstream task reading predictions with the hook, as the sensor's docs suggest.
    job_id = completed_job(ml_client, binary_model)
    default_chain.reset_call_counts()
    with pytest.raises(InvalidParameterError) as raised:
        list(MachineLearningHook(aws_conn_id=UNKNOWN).iter_results(job_id))
    assert default_chain.call_counts() == {}, "the hook fell back to the default chain"
    assert "aws_conn_id" in str(raised.value), str(raised.value)
    assert UNKNOWN in str(raised.value), str(raised.value)


def test_execute_complete_after_the_connection_vanished_reads_no_results_with_other_credentials(
    default_chain, binary_model, ml_client, monkeypatch
):
    # The sensor deferred with a named connection that existed; when it resumes on a worker, the
    # connection is gone. Reading the results must not quietly use the default chain.
    job_id = completed_job(ml_client, binary_model)
    monkeypatch.setenv(f"AIRFLOW_CONN_{UNKNOWN.upper()}", default_chain.connection_json())
    task = sensor(job_id, aws_conn_id=UNKNOWN, deferrable=True)
    context = fresh_context()
    description = json_safe(ml_client.get_batch_prediction(BatchPredictionId=job_id))
    description.pop("ResponseMetadata", None)
    event = WaitResult(Outcome.SUCCESS, BATCH_PREDICTION, job_id, description, "").to_event()
    monkeypatch.delenv(f"AIRFLOW_CONN_{UNKNOWN.upper()}")
    default_chain.reset_call_counts()
    with pytest.raises(InvalidParameterError) as raised:
        task.execute_complete(context, event=event)
    assert "aws_conn_id" in str(raised.value), str(raised.value)
    assert UNKNOWN in str(raised.value), str(raised.value)


def other_tasks(model: dict[str, str], **aws: Any) -> dict[str, Any]:
    from airflow_ml_provider import (
        CreateRealtimeEndpointOperator,
        DeleteRealtimeEndpointOperator,
        UpdateMLModelScoreThresholdOperator,
    )

    ml_model_id = model["ml_model_id"]
    return {
        "update_score_threshold": lambda: UpdateMLModelScoreThresholdOperator(
            task_id="threshold", ml_model_id=ml_model_id, score_threshold=0.5, **aws
        ),
        "create_endpoint": lambda: CreateRealtimeEndpointOperator(
            task_id="create_endpoint", ml_model_id=ml_model_id, wait_for_completion=False, **aws
        ),
        "delete_endpoint": lambda: DeleteRealtimeEndpointOperator(
            task_id="delete_endpoint", ml_model_id=ml_model_id, wait_for_completion=False, **aws
        ),
    }


@pytest.mark.parametrize("name", ["update_score_threshold", "create_endpoint", "delete_endpoint"])
def test_other_operators_with_an_unknown_connection_fail_clearly_before_any_call(
    default_chain, binary_model, name
):
    task = other_tasks(binary_model, aws_conn_id=UNKNOWN)[name]()
    fails_clearly_before_any_call(default_chain, lambda: task.execute(fresh_context()))


@pytest.mark.parametrize("name", ["delete_endpoint"])  # leaves the shared model as it is
def test_other_operators_without_aws_default_fall_back_with_a_warning(
    default_chain, binary_model, name, caplog
):
    task = other_tasks(binary_model)[name]()
    with caplog.at_level("WARNING"):
        task.execute(fresh_context())
    assert FALLBACK_WARNING in caplog.text
    assert default_chain.call_counts(), "no call reached the emulator"
