"""Triggerer cost of N waiting batch predictions: our trigger against the Amazon provider's waiter trigger.

``python -m benchmarks.triggerer_scale`` runs every (N, implementation) pair in a fresh process against a
fresh emulator process; ``--worker`` is that process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, replace
from importlib import import_module
from typing import Any

from airflow_ml_provider.waiting import LOG_EVERY_ATTEMPTS
from benchmarks.common import (
    ROOT,
    boto3_clients,
    cpu_seconds,
    create_batch_predictions,
    emulator_process,
    finished_at,
    machine,
    prepare_model,
    rss_bytes,
    table,
    temporary_airflow_home,
    write_result,
)

IMPLEMENTATIONS = {
    "ours": "airflow_ml_provider.triggers.batch_prediction.BatchPredictionTrigger",
    "per_job": "benchmarks.per_job_trigger.PerJobBatchPredictionTrigger",
    "baseline": "benchmarks.baseline_trigger.WaiterBatchPredictionTrigger",
    "floor": "benchmarks.floor_trigger.SleepingTrigger",
}
# The service's default account limit of simultaneous jobs: most of a large backlog waits PENDING.
CONCURRENCY_LIMIT = 25
# Jobs are held INPROGRESS while the steady state is measured, then released to run this long each:
# with the concurrency limit, at most 25 completions a second, about 125 per 5 s poll interval. A real
# account's jobs run minutes, so it sees far fewer; this keeps the drain of 1000 jobs near 40 s.
HELD_JOB_DURATION = 1_000_000.0
RELEASED_JOB_DURATION = 1.0
RESULT_PREFIX = "RESULT "


def expected_status(implementation: str, job_status: str) -> str:
    """The event status each implementation must send for a job that ended in ``job_status``."""
    if job_status == "COMPLETED":
        return "success"
    if implementation == "baseline":
        return "error"
    return "deleted" if job_status == "DELETED" else "failed"


def event_job_id(implementation: str, payload: dict[str, Any]) -> str | None:
    return payload.get("batch_prediction_id" if implementation == "baseline" else "entity_id")


class TriggerRunner:
    """
    What the triggerer does with triggers, without its database: one task per trigger on one loop.

    Each trigger is rebuilt from its ``serialize()`` output, as the triggerer does, and its ``run()``
    is consumed by a task after ``greenback.ensure_portal()``.

    :param implementation: ``ours``, ``per_job`` or ``baseline``.
    """

    def __init__(self, implementation: str) -> None:
        module, _, name = IMPLEMENTATIONS[implementation].rpartition(".")
        self.trigger_class = getattr(import_module(module), name)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.events: dict[str, list[tuple[float, dict[str, Any]]]] = {}

    async def add(self, batch_prediction_id: str, **kwargs: Any) -> None:
        classpath, serialized = self.trigger_class(
            batch_prediction_id=batch_prediction_id, **kwargs
        ).serialize()
        module, _, name = classpath.rpartition(".")
        trigger = getattr(import_module(module), name)(**serialized)
        self.events[batch_prediction_id] = []
        self.tasks[batch_prediction_id] = asyncio.create_task(
            self._run(batch_prediction_id, trigger), name=batch_prediction_id
        )
        await asyncio.sleep(0)

    async def _run(self, batch_prediction_id: str, trigger: Any) -> None:
        import greenback

        await greenback.ensure_portal()
        async for event in trigger.run():
            self.events[batch_prediction_id].append((time.time(), event.payload))

    def check(self) -> None:
        """Raise what a trigger task died of, as the triggerer would log it."""
        for task in self.tasks.values():
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"trigger {task.get_name()} died") from task.exception()

    def done(self) -> int:
        return sum(task.done() for task in self.tasks.values())

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def waiting_count(implementation: str, counts: dict[str, int]) -> int:
    """How many triggers have polled at least once."""
    if implementation == "ours":
        from airflow_ml_provider.triggers.poller import polled_waits

        return polled_waits()
    return counts.get("GetBatchPrediction", 0)


def poller_waits(implementation: str) -> list[Any]:
    """The waits our poller serves now (none for the other implementations, which poll job by job)."""
    if implementation != "ours":
        return []
    from airflow_ml_provider.triggers.poller import running_pollers

    return [watch.wait for poller in running_pollers() for watch in list(poller.watches)]


def observations(counts: dict[str, int], waits: list[Any]) -> int:
    """How many times the triggers have polled their jobs so far: N of them make one poll cycle."""
    return sum(wait.attempts for wait in waits) if waits else counts.get("GetBatchPrediction", 0)


@dataclass(frozen=True)
class Run:
    """One measurement: an implementation, N jobs and the settings; it reaches the worker process as JSON."""

    implementation: str
    jobs: int
    poll_interval: float
    timeout: float
    steady_intervals: int
    released_job_duration: float
    # Jobs running at once after the release (the account's limit raised, so that thousands drain quickly).
    released_concurrency_limit: int = CONCURRENCY_LIMIT
    # Seconds the jobs may end after the release; then none ends any more and the jobs still running
    # must have no event. None: every job runs to its end.
    drain_limit: float | None = None
    # The emulator's process, whose share of the CPU the steady window reports; 0 leaves it out.
    emulator_pid: int = 0


async def worker(run: Run) -> dict[str, Any]:
    implementation, jobs, poll_interval, timeout = (
        run.implementation,
        run.jobs,
        run.poll_interval,
        run.timeout,
    )
    from amazon_ml_emulator import EmulatorClient

    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]
    control = EmulatorClient(connection["endpoint_url"])

    ml, s3 = boto3_clients(connection["endpoint_url"], connection["service_config"]["s3"]["endpoint_url"])
    began = time.monotonic()
    model_id, data_source_id = prepare_model(ml, s3)
    prepared = time.monotonic()
    control.configure(job_duration=HELD_JOB_DURATION, concurrency_limit=CONCURRENCY_LIMIT)
    suffix = uuid.uuid4().hex[:6]
    ids = [f"bp-{index:05d}-{suffix}" for index in range(jobs)]
    create_batch_predictions(ml, model_id, data_source_id, ids)
    created = time.monotonic()
    runner = TriggerRunner(implementation)
    control.reset_call_counts()

    gc.collect()
    rss_before = rss_bytes()
    started = time.monotonic()
    trigger_kwargs: dict[str, Any] = {"waiter_delay": poll_interval}
    if implementation == "baseline":
        trigger_kwargs["waiter_max_attempts"] = 100_000
    else:
        trigger_kwargs["deadline"] = time.time() + timeout
    for batch_prediction_id in ids:
        await runner.add(batch_prediction_id, **trigger_kwargs)
    while waiting_count(implementation, control.call_counts()) < jobs:
        runner.check()
        if time.monotonic() - started > timeout:
            raise RuntimeError("the triggers did not all start polling")
        await asyncio.sleep(0.2)
    startup_seconds = time.monotonic() - started
    # One more interval so that every trigger has settled into its polling rhythm.
    await asyncio.sleep(poll_interval)
    gc.collect()
    rss_after = rss_bytes()

    # Start the window half an interval off the poll grid so no cycle straddles its edges.
    await asyncio.sleep((poll_interval / 2 - time.time()) % poll_interval)
    waits = poller_waits(implementation)
    counts_before, cpu_before = control.call_counts(), time.process_time()
    emulator_before = cpu_seconds(run.emulator_pid) if run.emulator_pid else 0.0
    observed_before = observations(counts_before, waits)
    steady_seconds = run.steady_intervals * poll_interval
    await asyncio.sleep(steady_seconds)
    worker_cpu = time.process_time() - cpu_before
    emulator_cpu = cpu_seconds(run.emulator_pid) - emulator_before if run.emulator_pid else 0.0
    counts_after = control.call_counts()
    # A poll cycle is every waiting job polled once; a trigger that cannot keep up takes longer for it.
    cycles = (observations(counts_after, waits) - observed_before) / jobs
    runner.check()
    if cycles <= 0:
        raise RuntimeError("no poll cycle in the steady window; make it longer")
    steady_calls = {
        operation: counts_after.get(operation, 0) - counts_before.get(operation, 0)
        for operation in counts_after
        if counts_after.get(operation, 0) != counts_before.get(operation, 0)
    }
    if any(runner.events.values()):
        raise RuntimeError("a trigger fired while every job was held running")

    # Release: a few jobs fail now, one takes a status the service never documented, the rest run.
    failing_count = max(1, jobs // 100)
    failing = ids[:-1][jobs // (2 * failing_count) :: jobs // failing_count][:failing_count]
    for batch_prediction_id in failing:
        control.fail_job(batch_prediction_id, message=f"injected failure of {batch_prediction_id}")
    invalid = ids[-1] if jobs >= 10 else None
    if invalid is not None:
        control.set_status(invalid, "INVALID")
    release_counts = control.call_counts()
    control.configure(
        job_duration=run.released_job_duration, concurrency_limit=run.released_concurrency_limit
    )
    released = time.monotonic()
    while runner.done() < jobs and time.monotonic() - released < (run.drain_limit or timeout):
        await asyncio.sleep(0.2)
    drain_seconds = time.monotonic() - released
    if run.drain_limit is not None and runner.done() < jobs:
        # Hold the jobs still running; the last ones that ended get an interval and a second to be reported.
        control.configure(job_duration=HELD_JOB_DURATION)
        await asyncio.sleep(poll_interval + 2)
    await runner.stop()
    final_counts = control.call_counts()
    completion_calls = sum(final_counts.values()) - sum(release_counts.values())
    completion_gets = final_counts.get("GetBatchPrediction", 0) - release_counts.get("GetBatchPrediction", 0)

    jobs_seen = finished_at(ml)
    latencies, problems = [], []
    for batch_prediction_id in ids:
        status, finished, message = jobs_seen[batch_prediction_id]
        events = runner.events[batch_prediction_id]
        ended = status not in ("PENDING", "INPROGRESS")
        if len(events) != (1 if ended else 0):
            problems.append(f"{batch_prediction_id} is {status}: {len(events)} events")
            continue
        if not ended:
            continue
        moment, payload = events[0]
        wanted = expected_status(implementation, status)
        if payload.get("status") != wanted or event_job_id(implementation, payload) != batch_prediction_id:
            problems.append(f"{batch_prediction_id} is {status}: event {payload}")
            continue
        if implementation != "baseline" and status == "FAILED" and message not in payload.get("message", ""):
            problems.append(f"{batch_prediction_id}: message {payload.get('message')!r} lacks {message!r}")
        if finished is not None:
            latencies.append(moment - finished)
    per_cycle = {operation: calls / cycles for operation, calls in steady_calls.items()}
    return {
        "implementation": implementation,
        "jobs": jobs,
        "poll_interval": poll_interval,
        "startup_seconds": round(startup_seconds, 2),
        "setup_seconds": {"model": round(prepared - began, 1), "jobs": round(created - prepared, 1)},
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "rss_per_job_kb": round((rss_after - rss_before) / jobs / 1024, 1),
        "cycle_seconds": round(steady_seconds / cycles, 1),
        "cpu_seconds_per_cycle": round(worker_cpu / cycles, 4),
        "cpu_seconds_per_interval": round(worker_cpu * poll_interval / steady_seconds, 4),
        "api_calls_per_cycle": round(sum(per_cycle.values()), 1),
        "api_calls_per_cycle_by_operation": {
            operation: round(calls, 1) for operation, calls in per_cycle.items()
        },
        "api_calls_per_interval": round(sum(steady_calls.values()) * poll_interval / steady_seconds, 1),
        "emulator_cpu_share": round(emulator_cpu / (worker_cpu + emulator_cpu), 3) if emulator_cpu else None,
        "completion_api_calls": completion_calls,
        "completion_get_calls": completion_gets,
        "released_job_duration": run.released_job_duration,
        "drain_seconds": round(drain_seconds, 1),
        "completions": len(latencies),
        "latency_p50": round(statistics.median(latencies), 2) if latencies else None,
        "latency_max": round(max(latencies), 2) if latencies else None,
        "latency_over_goal": sum(latency > poll_interval + 1 for latency in latencies),
        "failed_jobs": len(failing) + (invalid is not None),
        "missed_or_wrong": len(problems),
        "problems": problems[:10],
    }


def run_one(run: Run) -> dict[str, Any]:
    """Run one implementation for ``run.jobs`` jobs in a fresh process against a fresh emulator process."""
    home = temporary_airflow_home()
    arguments = [
        "--job-duration",
        "0.05",
        "--pending-duration",
        "0",
        "--concurrency-limit",
        str(CONCURRENCY_LIMIT),
    ]
    with emulator_process(*arguments) as emulator:
        run = replace(run, emulator_pid=emulator.process.pid)
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.triggerer_scale", "--worker", json.dumps(asdict(run))],
            cwd=ROOT,
            env=emulator.environment(home),
            capture_output=True,
            text=True,
            timeout=run.timeout * 3,
            check=False,
        )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(
        f"{run.implementation} N={run.jobs} failed:\n{completed.stdout}\n{completed.stderr[-4000:]}"
    )


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each implementation divided by the baseline of the same N, for each measure a goal is set on."""
    baselines = {result["jobs"]: result for result in results if result["implementation"] == "baseline"}
    found = []
    for result in results:
        baseline = baselines.get(result["jobs"])
        if result["implementation"] == "baseline" or baseline is None:
            continue
        found.append(
            {
                "implementation": result["implementation"],
                "jobs": result["jobs"],
                **{
                    measure: _ratio(result[measure], baseline[measure])
                    for measure in (
                        "rss_per_job_kb",
                        "api_calls_per_cycle",
                        "api_calls_per_interval",
                        "cpu_seconds_per_cycle",
                        "cpu_seconds_per_interval",
                    )
                },
            }
        )
    return found


def _ratio(ours: float, baseline: float) -> float | None:
    return round(ours / baseline, 4) if baseline > 0 else None


def report(result: dict[str, Any]) -> str:
    rows = [
        (
            item["implementation"],
            item["jobs"],
            item["rss_per_job_kb"],
            item["cycle_seconds"],
            item["api_calls_per_cycle"],
            item["cpu_seconds_per_cycle"],
            item["api_calls_per_interval"],
            item["cpu_seconds_per_interval"],
            item.get("emulator_cpu_share"),
            item["latency_p50"],
            item["latency_max"],
            item["latency_over_goal"],
            item["missed_or_wrong"],
            f"{item['completion_api_calls']} ({item['completion_get_calls']})",
            item["drain_seconds"],
            item["startup_seconds"],
        )
        for item in result["results"]
    ]
    headers = (
        "implementation",
        "N",
        "RSS/job KiB",
        "cycle s",
        "API calls/cycle",
        "CPU s/cycle",
        "API calls/interval",
        "CPU s/interval",
        "emulator CPU share",
        "latency p50 s",
        "latency max s",
        f"latency > {result['poll_interval']:g}+1 s",
        "missed/wrong",
        "release calls (Get)",
        "drain s",
        "startup s",
    )
    measures = {
        "memory/job": "rss_per_job_kb",
        "API calls/cycle": "api_calls_per_cycle",
        "CPU/cycle": "cpu_seconds_per_cycle",
        "API calls/interval": "api_calls_per_interval",
        "CPU/interval": "cpu_seconds_per_interval",
    }
    ratio_rows = [
        (item["implementation"], item["jobs"], *(item[key] for key in measures.values()))
        for item in result["ratios"]
    ]
    return (
        table(headers, rows)
        + "\n\nRatio to the baseline at the same N:\n\n"
        + table(("implementation", "N", *measures), ratio_rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument(
        "--implementations", nargs="+", default=["baseline", "per_job", "ours"], choices=IMPLEMENTATIONS
    )
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument(
        "--steady-intervals",
        type=int,
        default=LOG_EVERY_ATTEMPTS,
        help="poll intervals the steady state is measured over; a multiple of the waits' logging period, "
        "so that the window holds its share of their status lines",
    )
    parser.add_argument(
        "--released-job-duration",
        type=float,
        default=RELEASED_JOB_DURATION,
        help="seconds each job runs once released (25 at a time)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a Run as JSON: be that run's worker process
    parser.add_argument("--output", default="triggerer_scale")
    args = parser.parse_args(argv)
    if args.worker:
        # A triggerer logs each trigger's progress at INFO; so do these runs (Airflow routes it on import).
        logging.basicConfig(level=logging.INFO)
        result = asyncio.run(worker(Run(**json.loads(args.worker))))
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    results = []
    for jobs in args.sizes:
        for implementation in args.implementations:
            print(f"triggerer_scale: {implementation} N={jobs} ...", file=sys.stderr, flush=True)
            results.append(
                run_one(
                    Run(
                        implementation,
                        jobs,
                        args.poll_interval,
                        args.timeout,
                        args.steady_intervals,
                        args.released_job_duration,
                    )
                )
            )
    result = {
        "machine": machine(),
        "poll_interval": args.poll_interval,
        "concurrency_limit": CONCURRENCY_LIMIT,
        "released_job_duration": args.released_job_duration,
        "steady_intervals": args.steady_intervals,
        "results": results,
        "ratios": ratios(results),
    }
    print(report(result))
    path = write_result(args.output, result)
    print(f"\nwritten to {path}")
    return 1 if any(item["missed_or_wrong"] for item in results if item["implementation"] == "ours") else 0


if __name__ == "__main__":
    raise SystemExit(main())
