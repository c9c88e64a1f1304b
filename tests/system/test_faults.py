"""Faults injected into a real Airflow and into the service: no job is lost, none is run twice, no failure passes as success."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.system.conftest import HOLD, RELEASE, Figures, jobs_of
from tests.system.stack import AirflowStack, wait_until

pytestmark = pytest.mark.system
RUNNING = {"PENDING", "INPROGRESS"}


def create_calls(service: Any) -> int:
    """CreateBatchPrediction calls the service accepted since the test began."""
    return service.call_details().get("CreateBatchPrediction", {}).get("succeeded", 0)


def job_status(ml_service: Any, batch_prediction_id: str) -> str:
    return ml_service.get_batch_prediction(BatchPredictionId=batch_prediction_id)["Status"]


@pytest.mark.timeout(300)
def test_triggerer_killed_while_sensors_wait_every_sensor_still_succeeds_once(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id, runs = "example_batch_prediction", 3
    service.configure(job_duration=HOLD)
    run_ids = [airflow_stack.trigger(dag_id) for _ in range(runs)]
    airflow_stack.wait_for_deferred(dag_id, run_ids, "wait_for_batch_prediction", 150)
    job_ids = {run_id: airflow_stack.xcom(dag_id, run_id, "create_batch_prediction") for run_id in run_ids}
    assert {job_status(ml_service, job_id) for job_id in job_ids.values()} <= RUNNING
    airflow_stack.kill_component("triggerer")
    killed_at = time.monotonic()
    # The jobs end while no triggerer runs: their completion must not be missed.
    service.configure(job_duration=RELEASE)
    wait_until(
        lambda: {job_status(ml_service, job_id) for job_id in job_ids.values()} == {"COMPLETED"},
        60,
        0.5,
        "the jobs to complete",
    )
    airflow_stack.start_component("triggerer")

    states = airflow_stack.wait_for_runs(dag_id, run_ids, timeout=200)
    assert states == dict.fromkeys(run_ids, "success")
    for run_id, job_id in job_ids.items():
        sensor = airflow_stack.task_instances(dag_id, run_id)["wait_for_batch_prediction"]
        assert (sensor["state"], sensor["try_number"]) == ("success", 1)
        results = airflow_stack.xcom(dag_id, run_id, "wait_for_batch_prediction")
        assert (results["batch_prediction_id"], results["status"]) == (job_id, "COMPLETED")
        # One event per job, fired by the restarted triggerer: none lost, none doubled.
        assert len(airflow_stack.fired_events(dag_id, run_id, "wait_for_batch_prediction", job_id)) == 1
        assert len(airflow_stack.trigger_log_files(dag_id, run_id, "wait_for_batch_prediction")) >= 1
    assert create_calls(service) == runs
    figures.record(
        "triggerer_killed",
        faults_injected=1,
        runs=runs,
        sensors_deferred_when_killed=runs,
        jobs_completed_while_no_triggerer_ran=runs,
        jobs_expected=runs,
        jobs_created=create_calls(service),
        sensors_succeeded=runs,
        sensor_retries=0,
        events_lost=0,
        seconds_from_kill_to_last_success=round(time.monotonic() - killed_at, 1),
    )


@pytest.mark.timeout(240)
def test_worker_dying_after_create_is_retried_onto_the_same_job(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id = "reliability_worker_dies_after_create"
    run_id = airflow_stack.trigger(dag_id)
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=200) == {run_id: "success"}

    tries = airflow_stack.tries(dag_id, run_id, "create_batch_prediction")
    assert [attempt["state"] for attempt in tries] == ["failed", "success"]
    jobs = jobs_of(ml_service, dag_id)
    assert len(jobs) == 1
    job_id = jobs[0]["BatchPredictionId"]
    assert airflow_stack.xcom(dag_id, run_id, "create_batch_prediction") == job_id
    assert airflow_stack.xcom(dag_id, run_id, "wait_for_batch_prediction")["batch_prediction_id"] == job_id
    assert f"Reattaching to batch prediction {job_id}" in airflow_stack.task_log(
        dag_id, run_id, "create_batch_prediction", try_number=2
    )
    assert create_calls(service) == 1
    figures.record(
        "worker_dies_after_create",
        faults_injected=1,
        runs=1,
        create_task_tries=len(tries),
        jobs_expected=1,
        jobs_created=len(jobs),
        events_lost=0,
    )


@pytest.mark.timeout(240)
def test_failed_job_fails_the_sensor_with_the_services_message_and_a_retried_create_makes_one_new_job(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    message = "Record 17 of s3://reliability/data/records.csv is not valid CSV (injected)"
    service.fail_next_jobs(2, message=message)
    sensed = airflow_stack.trigger("reliability_sensor_sees_failure")
    retried = airflow_stack.trigger("reliability_create_retries_after_failure")

    assert airflow_stack.wait_for_runs("reliability_sensor_sees_failure", [sensed], 200) == {sensed: "failed"}
    sensor = airflow_stack.task_instances("reliability_sensor_sees_failure", sensed)[
        "wait_for_batch_prediction"
    ]
    assert sensor["state"] == "failed"
    sensor_log = airflow_stack.task_log(
        "reliability_sensor_sees_failure", sensed, "wait_for_batch_prediction"
    )
    assert "BatchPredictionFailedError" in sensor_log
    assert message in sensor_log
    assert [job["Status"] for job in jobs_of(ml_service, "reliability_sensor_sees_failure")] == ["FAILED"]

    dag_id = "reliability_create_retries_after_failure"
    assert airflow_stack.wait_for_runs(dag_id, [retried], 200) == {retried: "success"}
    tries = airflow_stack.tries(dag_id, retried, "create_batch_prediction")
    assert [attempt["state"] for attempt in tries] == ["failed", "success"]
    assert message in airflow_stack.task_log(dag_id, retried, "create_batch_prediction", try_number=1)
    jobs = sorted(jobs_of(ml_service, dag_id), key=lambda job: job["BatchPredictionId"])
    assert [job["Status"] for job in jobs] == ["FAILED", "COMPLETED"]
    assert jobs[1]["BatchPredictionId"] == f"{jobs[0]['BatchPredictionId']}-r1"
    assert airflow_stack.xcom(dag_id, retried, "create_batch_prediction") == jobs[1]["BatchPredictionId"]
    assert create_calls(service) == 3
    figures.record(
        "job_fails_with_message",
        faults_injected=2,
        runs=2,
        sensor_failed_with_service_message=True,
        create_task_tries=len(tries),
        jobs_expected=3,
        jobs_created=create_calls(service),
        events_lost=0,
    )


@pytest.mark.timeout(240)
def test_deleted_job_unknown_status_and_malformed_events_fail_the_task_never_succeed(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    service.configure(job_duration=HOLD)
    dag_id = "reliability_job_vanishes"
    deleted_run, invalid_run = airflow_stack.trigger(dag_id), airflow_stack.trigger(dag_id)
    malformed_run = airflow_stack.trigger("reliability_malformed_events")
    jobs = {}
    airflow_stack.wait_for_deferred(dag_id, [deleted_run, invalid_run], "wait_deferred", 120)
    for run_id in (deleted_run, invalid_run):
        airflow_stack.wait_for_task_state(dag_id, run_id, "wait_poke", {"running"}, 120)
        jobs[run_id] = airflow_stack.xcom(dag_id, run_id, "create_batch_prediction")
    ml_service.delete_batch_prediction(BatchPredictionId=jobs[deleted_run])
    service.set_status(jobs[invalid_run], "INVALID")

    assert airflow_stack.wait_for_runs(dag_id, [deleted_run, invalid_run], 120) == {
        deleted_run: "failed",
        invalid_run: "failed",
    }
    for run_id, status in ((deleted_run, "DELETED"), (invalid_run, "INVALID")):
        for task_id in ("wait_deferred", "wait_poke"):
            instance = airflow_stack.task_instances(dag_id, run_id)[task_id]
            assert instance["state"] == "failed", (status, task_id)
            log = airflow_stack.task_log(dag_id, run_id, task_id)
            assert f"did not complete (status {status})" in log, (status, task_id)

    malformed_dag = "reliability_malformed_events"
    assert airflow_stack.wait_for_runs(malformed_dag, [malformed_run], 120) == {malformed_run: "failed"}
    sensors = {
        task: instance
        for task, instance in airflow_stack.task_instances(malformed_dag, malformed_run).items()
        if task.startswith("wait_with_malformed_event")
    }
    assert len(sensors) == 4
    assert {instance["state"] for instance in sensors.values()} == {"failed"}
    for instance in sensors.values():
        log = airflow_stack.task_log(
            malformed_dag, malformed_run, instance["task_id"], map_index=instance["map_index"]
        )
        assert "Malformed trigger event" in log, instance["map_index"]
    jobs = jobs_of(ml_service, dag_id) + jobs_of(ml_service, malformed_dag)
    assert len(jobs) == 3
    figures.record(
        "job_deleted_unknown_status_malformed_event",
        runs=3,
        faults_injected=2 + len(sensors),
        waits=4 + len(sensors),
        taken_as_success=0,
        failed_with_reason=4 + len(sensors),
        jobs_expected=3,
        jobs_created=len(jobs),
    )
