"""A faulty service, waits that must time out, a user killing a deferred task, and fifty runs at once, on a real Airflow."""

from __future__ import annotations

import itertools
import re
import time
from datetime import datetime
from typing import Any

import pytest

from tests.system.conftest import HOLD, RELEASE, Figures, jobs_of
from tests.system.stack import AirflowStack, wait_until

pytestmark = pytest.mark.system
POLL_OPERATIONS = ("GetBatchPrediction", "DescribeBatchPredictions")
# As set on the sensors of reliability_sensor_timeouts in tests/dags/reliability_dags.py.
SENSOR_TIMEOUT = 24
SENSOR_POKE_INTERVAL = 6
# Seconds every wait of the throttling test polls a faulty service before its job ends.
FAULTY_SECONDS = 10


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def log_lines(log: str) -> list[tuple[float, str]]:
    return [
        (timestamp(match.group(1)), line)
        for line in log.splitlines()
        if (match := re.search(r'"timestamp":"([^"]+)"', line))
    ]


def restart_overhead(log: str) -> float:
    """
    The longest time a rescheduled sensor took between two pokes' answers beyond its poke interval.

    It covers Airflow scheduling the task again, starting it and the poke itself: under load each
    can take a second or more, and the last gap before the timeout is the one that counts.
    """
    lines = log_lines(log)
    answers = sorted(
        moment
        for moment, line in lines
        if "Rescheduling task" in line or "Task failed with exception" in line
    )
    gaps = [later - earlier - SENSOR_POKE_INTERVAL for earlier, later in itertools.pairwise(answers)]
    return max([0.0, *gaps])


def seconds_until_timeout(log: str, mode: str) -> float:
    """
    From the moment the sensor's clock starts to the moment it (or its trigger) gave up, from its log.

    Poke mode and the deferrable sensor start the clock when ``execute`` starts; Airflow's reschedule mode
    starts it when the first poke asks to be rescheduled, which the provider cannot change.
    """
    lines = log_lines(log)
    clock_start = "Rescheduling task" if mode == "reschedule" else '"event":"::endgroup::"'
    started = min(moment for moment, line in lines if clock_start in line)
    gave_up = min(
        moment
        for moment, line in lines
        if "Task failed with exception" in line or "timeout gave up waiting" in line
    )
    return gave_up - started


@pytest.mark.timeout(300)
@pytest.mark.timing
def test_throttled_and_failing_service_every_wait_ends_right_with_bounded_polls_and_backoff(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id, runs = "reliability_faulty_service", 2
    service.configure(job_duration=HOLD)
    run_ids = [airflow_stack.trigger(dag_id) for _ in range(runs)]
    for run_id in run_ids:
        airflow_stack.wait_for_task_state(dag_id, run_id, "wait_deferred", {"deferred"}, 150)
        airflow_stack.wait_for_task_state(dag_id, run_id, "wait_poke", {"running"}, 150)
    # Every wait polls a faulty service for a while, then the jobs end while the faults go on.
    service.reset_call_counts()
    service.configure(throttle_rate=0.3, error_rate=0.1, seed=20141212)
    started = time.monotonic()
    time.sleep(FAULTY_SECONDS)
    service.configure(job_duration=RELEASE)
    states = airflow_stack.wait_for_runs(dag_id, run_ids, timeout=120)
    elapsed = time.monotonic() - started
    details = service.call_details()
    service.configure(throttle_rate=0.0, error_rate=0.0)

    assert states == dict.fromkeys(run_ids, "success")
    logs = ""
    for run_id in run_ids:
        job_id = airflow_stack.xcom(dag_id, run_id, "create_batch_prediction")
        for task_id in ("wait_deferred", "wait_poke"):
            assert airflow_stack.xcom(dag_id, run_id, task_id)["batch_prediction_id"] == job_id
            logs += airflow_stack.task_log(dag_id, run_id, task_id)
    logs += airflow_stack.component_log("triggerer")
    assert len(jobs_of(ml_service, dag_id)) == runs
    injected = sum(operation["injected"] for operation in details.values())
    assert injected > 0
    backoffs = len(re.findall(r"backing off|pausing the poller", logs))
    assert backoffs > 0
    # Each wait polls at most once per second (its poke interval), faults included: none spins.
    polls = sum(details.get(operation, {}).get("calls", 0) for operation in POLL_OPERATIONS)
    waits = 2 * runs
    poll_ceiling = waits * (int(elapsed) + 2)
    assert polls <= poll_ceiling
    figures.record(
        "throttled_and_failing_service",
        throttle_rate=0.3,
        error_rate=0.1,
        runs=runs,
        waits=waits,
        seconds_under_faults=round(elapsed, 1),
        calls=sum(operation["calls"] for operation in details.values()),
        faults_injected=injected,
        polls=polls,
        poll_ceiling=poll_ceiling,
        backoff_log_lines=backoffs,
        jobs_expected=runs,
        jobs_created=len(jobs_of(ml_service, dag_id)),
        waits_ended_right=waits,
        events_lost=0,
    )


@pytest.mark.timeout(240)
@pytest.mark.timing
def test_sensor_times_out_at_the_same_moment_in_poke_reschedule_and_deferrable_mode(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id = "reliability_sensor_timeouts"
    service.configure(job_duration=HOLD)
    run_id = airflow_stack.trigger(dag_id)
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=200) == {run_id: "failed"}

    durations = {}
    for mode in ("poke", "reschedule", "deferrable"):
        task_id = f"wait_{mode}"
        instance = airflow_stack.task_instances(dag_id, run_id)[task_id]
        assert (instance["state"], instance["try_number"]) == ("failed", 1), mode
        log = airflow_stack.task_log(dag_id, run_id, task_id)
        assert "AirflowSensorTimeout" in log, mode
        durations[mode] = seconds_until_timeout(log, mode)
    print(f"sensor timeout {SENSOR_TIMEOUT} s, poke interval {SENSOR_POKE_INTERVAL} s: {durations}")
    # A rescheduled sensor decides only when it runs again; what Airflow takes to start it again is not
    # the provider's, so it is measured and allowed on top of the poke interval.
    overhead = restart_overhead(airflow_stack.task_log(dag_id, run_id, "wait_reschedule"))
    for mode, seconds in durations.items():
        allowed = SENSOR_POKE_INTERVAL + 1 + (overhead if mode == "reschedule" else 0)
        assert SENSOR_TIMEOUT - 1 <= seconds <= SENSOR_TIMEOUT + allowed, (mode, durations, overhead)
    assert abs(durations["poke"] - durations["deferrable"]) <= SENSOR_POKE_INTERVAL + 1, durations
    jobs = jobs_of(ml_service, dag_id)
    assert len(jobs) == 1
    figures.record(
        "sensor_timeouts",
        runs=1,
        faults_injected=1,
        jobs_expected=1,
        jobs_created=len(jobs),
        taken_as_success=0,
        timeout_seconds=SENSOR_TIMEOUT,
        poke_interval_seconds=SENSOR_POKE_INTERVAL,
        seconds_until_failed={mode: round(seconds, 1) for mode, seconds in durations.items()},
        spread_seconds=round(max(durations.values()) - min(durations.values()), 1),
        reschedule_restart_overhead_seconds=round(overhead, 1),
    )


@pytest.mark.timeout(180)
def test_marking_a_deferred_task_failed_deletes_its_job(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id, task_id = "reliability_delete_on_kill", "create_batch_prediction"
    service.configure(job_duration=300)
    run_id = airflow_stack.trigger(dag_id)
    airflow_stack.wait_for_task_state(dag_id, run_id, task_id, {"deferred"}, 120)
    job_id = airflow_stack.xcom(dag_id, run_id, task_id, "ml_batch_prediction")["entity_id"]
    assert ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"] in ("PENDING", "INPROGRESS")

    def trigger_polling() -> bool:
        logs = [path.read_text() for path in airflow_stack.trigger_log_files(dag_id, run_id, task_id)]
        return any(f"{job_id} is INPROGRESS" in log for log in logs)

    # Airflow calls on_kill only on a trigger a triggerer is running (see RELIABILITY.md).
    wait_until(trigger_polling, 60, 0.5, "the triggerer to run the trigger")

    killed_at = time.monotonic()
    airflow_stack.set_task_state(dag_id, run_id, task_id, "failed")
    wait_until(
        lambda: ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"] == "DELETED",
        60,
        0.5,
        f"job {job_id} to be DELETED",
    )
    trigger_logs = "".join(
        path.read_text() for path in airflow_stack.trigger_log_files(dag_id, run_id, task_id)
    )
    assert "invoking on_kill" in trigger_logs
    assert f"Deleting batch prediction {job_id} as its task was failed" in trigger_logs
    assert [job["BatchPredictionId"] for job in jobs_of(ml_service, dag_id)] == [job_id]
    figures.record(
        "delete_on_kill",
        runs=1,
        faults_injected=1,
        jobs_expected=1,
        jobs_created=1,
        tasks_killed=1,
        jobs_deleted=1,
        seconds_from_kill_to_deleted=round(time.monotonic() - killed_at, 1),
    )


# Runs beside other tests (it is not `timing`): its bounds are for a stuck run, not a slow one.
@pytest.mark.timeout(1200)
def test_fifty_concurrent_runs_all_complete_with_exactly_fifty_jobs(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id, runs = "reliability_create_and_wait", 50
    # Every job runs until all fifty wait in the triggerer at once; then they all end together.
    service.configure(job_duration=HOLD, concurrency_limit=runs)
    started = time.monotonic()
    run_ids = [airflow_stack.trigger(dag_id) for _ in range(runs)]

    def deferred_tasks() -> int:
        path = f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?state=deferred&limit=1"
        return airflow_stack.request("GET", path)["total_entries"]

    wait_until(lambda: deferred_tasks() == runs, 600, 2.0, f"{runs} tasks to wait in the triggerer")
    peak_deferred = deferred_tasks()
    airflow_stack.wait_for_deferred(dag_id, run_ids, "create_batch_prediction", 240)
    peak_running_jobs = sum(job["Status"] in ("PENDING", "INPROGRESS") for job in jobs_of(ml_service, dag_id))
    service.configure(job_duration=RELEASE)
    states = airflow_stack.wait_for_runs(dag_id, run_ids, timeout=480)
    elapsed = time.monotonic() - started

    assert states == dict.fromkeys(run_ids, "success")
    jobs = jobs_of(ml_service, dag_id)
    job_ids = {job["BatchPredictionId"] for job in jobs}
    assert len(jobs) == len(job_ids) == runs
    assert {job["Status"] for job in jobs} == {"COMPLETED"}
    events = 0
    for run_id in run_ids:
        job_id = airflow_stack.xcom(dag_id, run_id, "create_batch_prediction")
        assert job_id in job_ids
        # Exactly one event reached each waiting task: none lost, none doubled.
        fired = airflow_stack.fired_events(dag_id, run_id, "create_batch_prediction", job_id)
        assert len(fired) == 1, (run_id, fired)
        events += len(fired)
        job_ids.discard(job_id)
    assert job_ids == set()
    created = service.call_details()["CreateBatchPrediction"]["succeeded"]
    assert created == runs
    figures.record(
        "fifty_concurrent_runs",
        runs=runs,
        faults_injected=0,
        jobs_expected=runs,
        jobs_created=created,
        peak_jobs_running_at_once=peak_running_jobs,
        peak_tasks_deferred_at_once=peak_deferred,
        runs_succeeded=runs,
        events_fired=events,
        events_lost=runs - events,
        seconds=round(elapsed, 1),
    )
