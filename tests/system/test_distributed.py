"""A deployment scaled out as users scale it: CeleryExecutor with two workers on Redis, two triggerers, PostgreSQL.
Many runs at once, triggerers killed and stalled, a worker killed mid-task: every task succeeds once, one job each."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_ml_provider.utils.validation import derive_entity_id
from tests.system.conftest import (
    HOLD,
    RELEASE,
    TASK_HEARTBEAT_TIMEOUT,
    TRIGGERERS,
    Figures,
    jobs_of,
    triggerer_names,
)
from tests.system.stack import AirflowStack, wait_until

pytestmark = pytest.mark.system
# 20 rather than 200 runs at once by default: each run is three task executions on two shared cores, and
# `make test` must stay under 45 minutes. DISTRIBUTED_RUNS=200 runs the full figure; the figures say what ran.
CONCURRENT_RUNS = int(os.environ.get("DISTRIBUTED_RUNS", "20"))


def deferred_count(stack: AirflowStack, dag_id: str) -> int:
    path = f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?state=deferred&limit=1"
    return stack.request("GET", path)["total_entries"]


def created_jobs(service: Any) -> int:
    """CreateBatchPrediction calls the service accepted since the test began."""
    return service.call_details().get("CreateBatchPrediction", {}).get("succeeded", 0)


def check_each_run_succeeded_once(
    stack: AirflowStack, dag_id: str, run_ids: list[str], task_id: str, job_task_id: str
) -> int:
    """Every run's waiting task succeeded on its first try with exactly one event; return the events."""
    events = 0
    for run_id in run_ids:
        job_id = stack.xcom(dag_id, run_id, job_task_id)
        instance = stack.task_instances(dag_id, run_id)[task_id]
        assert (instance["state"], instance["try_number"]) == ("success", 1), (run_id, instance)
        fired = stack.fired_events(dag_id, run_id, task_id, job_id)
        assert len(fired) == 1, (run_id, fired)
        events += len(fired)
    return events


@pytest.mark.timeout(900)
def test_triggers_move_off_a_killed_and_a_stalled_triggerer_and_no_job_is_deleted(
    distributed_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    stack, dag_id, runs = distributed_stack, "distributed_wait_delete_on_kill", 10
    task_id = "create_batch_prediction"
    service.configure(job_duration=HOLD)
    run_ids = [stack.trigger(dag_id) for _ in range(runs)]
    stack.wait_for_deferred(dag_id, run_ids, task_id, 300)
    wait_until(
        lambda: sum(stack.trigger_shares(dag_id).values()) == runs, 120, 1.0, "every trigger to be taken"
    )
    before = stack.trigger_shares(dag_id)
    killed = max(before, key=before.__getitem__)
    stalled = next(name for name in TRIGGERERS if name != killed)

    # SIGKILL: the triggerer is gone at once, and its heartbeat goes stale.
    stack.kill_component(killed)
    moment = time.monotonic()
    wait_until(
        lambda: stack.trigger_shares(dag_id) == {stalled: runs},
        180,
        0.5,
        f"the triggers to move to {stalled}",
    )
    moved_after_kill = time.monotonic() - moment
    stack.start_component(killed)
    wait_until(lambda: killed in triggerer_names(stack), 120, 1.0, f"{killed} to heartbeat again")

    # SIGSTOP past the heartbeat threshold: the triggers move; SIGCONT: the stalled one finds them gone.
    stack.signal_component(stalled, signal.SIGSTOP)
    moment = time.monotonic()
    wait_until(
        lambda: stack.trigger_shares(dag_id) == {killed: runs}, 180, 0.5, f"the triggers to move to {killed}"
    )
    moved_after_stall = time.monotonic() - moment
    stack.signal_component(stalled, signal.SIGCONT)
    wait_until(lambda: stalled in triggerer_names(stack), 120, 1.0, f"{stalled} to heartbeat again")
    # A few of its loops, in which it gives up the triggers it no longer holds.
    time.sleep(10)
    statuses = [job["Status"] for job in jobs_of(ml_service, dag_id)]
    moves = {
        "trigger_shares_before": before,
        "seconds_to_move_after_sigkill": round(moved_after_kill, 1),
        "seconds_to_move_after_sigstop": round(moved_after_stall, 1),
        "jobs_deleted_after_the_moves": statuses.count("DELETED"),
    }
    # Recorded before the verdict, so a failing run still says how its triggers moved.
    figures.record("distributed_triggerer_killed_and_stalled", runs=runs, faults_injected=2, **moves)
    assert set(statuses) <= {"PENDING", "INPROGRESS"}, statuses

    service.configure(job_duration=RELEASE)
    states = stack.wait_for_runs(dag_id, run_ids, timeout=300)
    assert states == dict.fromkeys(run_ids, "success")
    jobs = jobs_of(ml_service, dag_id)
    assert len(jobs) == runs
    deleted = sum(job["Status"] == "DELETED" for job in jobs)
    assert deleted == 0
    assert {job["Status"] for job in jobs} == {"COMPLETED"}
    created = created_jobs(service)
    assert created == runs
    events = check_each_run_succeeded_once(stack, dag_id, run_ids, task_id, task_id)
    figures.record(
        "distributed_triggerer_killed_and_stalled",
        runs=runs,
        faults_injected=2,
        jobs_expected=runs,
        jobs_created=created,
        jobs_deleted=deleted,
        runs_succeeded=runs,
        events_fired=events,
        events_lost=runs - events,
        **moves,
    )


def kill_decisions(stack: AirflowStack, dag_id: str, run_id: str, task_id: str, job_id: str) -> list[str]:
    """What the triggers of try 1 said about deleting ``job_id`` on their kill, from every log that may hold it."""
    logs = [
        *(path.read_text(errors="replace") for path in stack.trigger_log_files(dag_id, run_id, task_id)),
        *(stack.component_log(name) for name in TRIGGERERS),
    ]
    return [line for log in logs for line in log.splitlines() if job_id in line and "eleting" in line]


def wait_past_the_next_poll() -> None:
    """A trigger of 300 s polls once, then at multiples of 300 s: make the next one far from what follows."""
    time.sleep(2)
    if (to_grid := 300 - time.time() % 300) < 90:
        time.sleep(to_grid + 3)


@pytest.mark.timeout(600)
def test_a_trigger_that_moved_and_fired_elsewhere_never_deletes_the_job_its_task_succeeded_with(
    distributed_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    stack, dag_id, task_id = (
        distributed_stack,
        "distributed_slow_polls_delete_on_kill",
        "create_batch_prediction",
    )
    service.configure(job_duration=HOLD)
    run_id = stack.trigger(dag_id)
    job_id = derive_entity_id(dag_id, task_id, run_id, -1)
    stack.wait_for_deferred(dag_id, [run_id], task_id, 300)
    wait_until(lambda: sum(stack.trigger_shares(dag_id).values()) == 1, 120, 0.5, "the trigger to be taken")
    (holder,) = stack.trigger_shares(dag_id)
    wait_past_the_next_poll()
    stack.signal_component(holder, signal.SIGSTOP)
    try:
        # The job completes while the holder is stalled; the trigger moves and fires on the other triggerer.
        service.configure(job_duration=RELEASE)
        wait_until(
            lambda: ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"] == "COMPLETED",
            60,
            0.2,
            "the job to complete",
        )
        states = stack.wait_for_runs(dag_id, [run_id], timeout=300)
    finally:
        stack.signal_component(holder, signal.SIGCONT)
    assert states == {run_id: "success"}
    # The stalled copy comes back, finds its trigger gone, is cancelled and runs its kill.
    wait_until(
        lambda: kill_decisions(stack, dag_id, run_id, task_id, job_id), 120, 1.0, "the stalled copy's kill"
    )
    assert ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"] == "COMPLETED"
    assert stack.xcom(dag_id, run_id, task_id) == job_id
    decisions = kill_decisions(stack, dag_id, run_id, task_id, job_id)
    assert all("Not deleting" in line for line in decisions), decisions
    figures.record(
        "distributed_moved_then_fired",
        runs=1,
        faults_injected=1,
        stalled_triggerer=holder,
        job_status_after_the_stale_kill="COMPLETED",
        kill_decision=decisions[-1].split("Not deleting", 1)[-1][:200],
    )


@pytest.mark.timeout(600)
def test_a_deferred_task_cleared_as_its_job_completes_keeps_the_job_its_new_try_succeeded_with(
    distributed_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    stack, dag_id, task_id = (
        distributed_stack,
        "distributed_slow_polls_delete_on_kill",
        "create_batch_prediction",
    )
    service.configure(job_duration=HOLD)
    run_id = stack.trigger(dag_id)
    job_id = derive_entity_id(dag_id, task_id, run_id, -1)
    stack.wait_for_deferred(dag_id, [run_id], task_id, 300)
    wait_until(lambda: sum(stack.trigger_shares(dag_id).values()) == 1, 120, 0.5, "the trigger to be taken")
    wait_past_the_next_poll()
    # No fault: the job completes (its trigger does not poll for minutes), and the user clears the task.
    service.configure(job_duration=RELEASE)
    wait_until(
        lambda: ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"] == "COMPLETED",
        60,
        0.2,
        "the job to complete",
    )
    stack.request(
        "POST",
        f"/api/v2/dags/{dag_id}/clearTaskInstances",
        {"dry_run": False, "task_ids": [task_id], "dag_run_id": run_id, "only_failed": False},
    )
    states = stack.wait_for_runs(dag_id, [run_id], timeout=300)
    assert states == {run_id: "success"}
    # Try 2 reattached to the COMPLETED job and succeeded with it; try 1's kill then decides.
    assert stack.xcom(dag_id, run_id, task_id) == job_id

    def killed() -> bool:
        status = ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"]
        return status == "DELETED" or bool(kill_decisions(stack, dag_id, run_id, task_id, job_id))

    wait_until(killed, 120, 1.0, "try 1's kill")
    assert ml_service.get_batch_prediction(BatchPredictionId=job_id)["Status"] == "COMPLETED"
    returned = job_id
    tries = stack.tries(dag_id, run_id, task_id)
    figures.record(
        "distributed_cleared_as_the_job_completes",
        runs=1,
        faults_injected=0,
        tries=len(tries),
        returned_job=returned,
        kill_decisions=[
            line.split("batch prediction", 1)[-1][:200]
            for line in kill_decisions(stack, dag_id, run_id, task_id, returned)
        ],
    )


@pytest.mark.timeout(600)
def test_celery_worker_killed_right_after_create_the_retry_reattaches_to_the_one_job(
    distributed_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    stack, dag_id, task_id = (
        distributed_stack,
        "distributed_worker_killed_after_create",
        "create_batch_prediction",
    )
    run_id = stack.trigger(dag_id)
    marker = Path(stack.environment["DISTRIBUTED_MARKERS"]) / run_id.replace(":", "_")
    wait_until(marker.exists, 300, 0.5, "the job to be created on try 1")
    worker = marker.read_text()
    job_id = derive_entity_id(dag_id, task_id, run_id, -1)
    assert ml_service.get_batch_prediction(BatchPredictionId=job_id)["BatchPredictionId"] == job_id
    # The worker, its task supervisor and the task go at once: nothing reports anything.
    stack.kill_component(worker)
    moment = time.monotonic()
    stack.start_component(worker)

    states = stack.wait_for_runs(dag_id, [run_id], timeout=TASK_HEARTBEAT_TIMEOUT + 300)
    recovered_after = time.monotonic() - moment
    assert states == {run_id: "success"}
    tries = stack.tries(dag_id, run_id, task_id)
    assert [ti["state"] for ti in tries] == ["failed", "success"]
    assert f"Reattaching to batch prediction {job_id}" in stack.task_log(
        dag_id, run_id, task_id, try_number=2
    )
    assert [job["BatchPredictionId"] for job in jobs_of(ml_service, dag_id)] == [job_id]
    created = created_jobs(service)
    assert created == 1
    figures.record(
        "distributed_worker_killed",
        runs=1,
        faults_injected=1,
        jobs_expected=1,
        jobs_created=created,
        killed_worker=worker,
        create_task_tries=len(tries),
        seconds_from_kill_to_success=round(recovered_after, 1),
    )


# Last: it loads the stack most, and runs it leaves behind if it fails must not starve the others.
@pytest.mark.timeout(2400)
def test_concurrent_runs_on_celery_workers_and_two_triggerers_each_succeed_with_one_job(
    distributed_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    stack, dag_id, runs = distributed_stack, "distributed_sensor_waits", CONCURRENT_RUNS
    # Every job runs until every sensor waits in a triggerer; then they all end together.
    service.configure(job_duration=HOLD, concurrency_limit=runs)
    started = time.monotonic()
    run_ids = [stack.trigger(dag_id) for _ in range(runs)]
    wait_until(lambda: deferred_count(stack, dag_id) == runs, 1800, 5.0, f"{runs} sensors to defer")
    deferred_after = time.monotonic() - started
    stack.wait_for_deferred(dag_id, run_ids, "wait_for_batch_prediction", 300)
    wait_until(
        lambda: sum(stack.trigger_shares(dag_id).values()) == runs, 120, 1.0, "every trigger to be taken"
    )
    shares = stack.trigger_shares(dag_id)
    service.configure(job_duration=RELEASE)
    states = stack.wait_for_runs(dag_id, run_ids, timeout=900)
    elapsed = time.monotonic() - started

    assert states == dict.fromkeys(run_ids, "success")
    jobs = jobs_of(ml_service, dag_id)
    assert len(jobs) == len({job["BatchPredictionId"] for job in jobs}) == runs
    assert {job["Status"] for job in jobs} == {"COMPLETED"}
    created = created_jobs(service)
    assert created == runs
    events = check_each_run_succeeded_once(
        stack, dag_id, run_ids, "wait_for_batch_prediction", "create_batch_prediction"
    )
    # Both triggerers took a share of the waiting sensors.
    assert set(shares) == set(TRIGGERERS), shares
    figures.record(
        "distributed_concurrent_runs",
        runs=runs,
        faults_injected=0,
        jobs_expected=runs,
        jobs_created=created,
        runs_succeeded=runs,
        events_fired=events,
        events_lost=runs - events,
        trigger_shares=shares,
        seconds_until_all_deferred=round(deferred_after, 1),
        seconds=round(elapsed, 1),
    )
