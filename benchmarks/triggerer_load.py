"""Triggerer load beyond one burst of waits: steady arrivals, ten thousand waits against the floor, a busy account.

``python -m benchmarks.triggerer_load`` runs each case in a fresh worker process against a fresh emulator
process; ``--worker`` is that process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmarks.common import (
    ROOT,
    EmulatorProcess,
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
from benchmarks.triggerer_scale import (
    CONCURRENCY_LIMIT,
    HELD_JOB_DURATION,
    RESULT_PREFIX,
    Run,
    TriggerRunner,
    expected_status,
    poller_waits,
    run_one,
)

# The operations a wait makes; the driver's creates and the controls are not the triggerer's cost.
POLL_OPERATIONS = ("DescribeBatchPredictions", "GetBatchPrediction")
READY = "READY"
# The driver's last line to a ``steady`` worker: every job it was to create and end has been.
DRIVER_DONE = "DONE"
# A job is created this long before its wait arrives, as an operator creates it before deferring.
CREATE_LEAD_SECONDS = 2.0
# A steady-state job fails with this probability (through the emulator's controls) instead of completing.
FAILURE_RATE = 0.01
SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class Case:
    """
    One run of one implementation in one scenario; it reaches the worker process as JSON.

    :param scenario: ``steady``, ``floor`` (only sleeping triggers) or ``busy``.
    :param implementation: ``ours``, ``baseline`` or ``floor``.
    :param jobs: waiting jobs: the mean population for ``steady``, all of them for ``floor``, the watched
        ones for ``busy``.
    :param poll_interval: seconds between polls of one wait.
    :param window_intervals: poll intervals the costs are measured over.
    :param generation: seconds a shared client lives before it is rebuilt (``steady``; the hook's
        ``CLIENT_RENEW_SECONDS``).
    :param shortest_job: seconds the shortest ``steady`` job runs after its wait arrives.
    :param longest_job: seconds the longest one runs; lengths are uniform in between, drawn from ``seed``.
    :param unwatched_jobs: PENDING jobs of other teams in the ``busy`` account.
    :param seed: seed of the arrivals, lengths and failures.
    :param emulator_pid: the emulator's process, whose CPU seconds the worker reads.
    """

    scenario: str
    implementation: str
    jobs: int
    poll_interval: float = 5.0
    window_intervals: int = 6
    generation: float = 10.0
    shortest_job: float = 40.0
    longest_job: float = 80.0
    unwatched_jobs: int = 0
    seed: int = 14
    emulator_pid: int = 0

    @property
    def window_seconds(self) -> float:
        return self.window_intervals * self.poll_interval

    @property
    def warmup_seconds(self) -> float:
        # Once the longest job has had time to run, the population of waits is as large as it gets.
        return self.longest_job

    @property
    def arrival_seconds(self) -> float:
        return self.warmup_seconds + self.window_seconds


@dataclass(frozen=True)
class Arrival:
    """One ``steady`` job: when its wait arrives and when it ends, seconds after the start, and how."""

    batch_prediction_id: str
    arrive: float
    finish: float
    fails: bool


def steady_schedule(case: Case) -> list[Arrival]:
    """Poisson arrivals at the rate that keeps ``case.jobs`` waiting on average, with uniform lengths."""
    generator = random.Random(case.seed)
    rate = case.jobs / ((case.shortest_job + case.longest_job) / 2)
    arrivals, moment = [], 0.0
    while (moment := moment + generator.expovariate(rate)) < case.arrival_seconds:
        length = generator.uniform(case.shortest_job, case.longest_job)
        fails = generator.random() < FAILURE_RATE
        arrivals.append(Arrival(f"bp-steady-{len(arrivals):06d}", moment, moment + length, fails))
    return arrivals


class Meter:
    """The costs of a window: this process's CPU, the emulator's CPU and the calls the waits made."""

    def __init__(self, case: Case, control: Any) -> None:
        self.case, self.control = case, control
        self._start: tuple[float, float, dict[str, int]] | None = None

    def _read(self) -> tuple[float, float, dict[str, int]]:
        emulator = cpu_seconds(self.case.emulator_pid) if self.case.emulator_pid else 0.0
        calls = self.control.call_counts() if self.control is not None else {}
        return time.process_time(), emulator, calls

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, Any]:
        assert self._start is not None
        cpu, emulator, calls = self._read()
        cpu_before, emulator_before, calls_before = self._start
        by_operation = {
            operation: calls.get(operation, 0) - calls_before.get(operation, 0)
            for operation in POLL_OPERATIONS
        }
        worker, emulator = cpu - cpu_before, emulator - emulator_before
        return {
            "cpu_seconds": worker,
            "emulator_cpu_seconds": emulator,
            "emulator_cpu_share": round(emulator / (worker + emulator), 3) if worker + emulator else None,
            "calls": by_operation,
        }


class WaitTracker:
    """Every wait our poller has served, sampled often enough to see each, for the polls they made."""

    def __init__(self, implementation: str) -> None:
        self.implementation = implementation
        self.waits: dict[int, Any] = {}

    def sample(self) -> None:
        for wait in poller_waits(self.implementation):
            self.waits.setdefault(id(wait), wait)

    def attempts(self) -> dict[int, int]:
        self.sample()
        return {key: wait.attempts for key, wait in self.waits.items()}


def observed_between(before: dict[int, int], after: dict[int, int]) -> int:
    """Polls made between two :meth:`WaitTracker.attempts` snapshots (waits new since count from zero)."""
    return sum(attempts - before.get(key, 0) for key, attempts in after.items())


def per_cycle(case: Case, measured: dict[str, Any], observations: int, population: float) -> dict[str, Any]:
    """Divide a window's costs by its poll cycles: ``population`` status observations each."""
    cycles = observations / population if population else 0.0
    if cycles <= 0:
        raise RuntimeError("no poll cycle in the window; make it longer")
    calls = sum(measured["calls"].values())
    return {
        "population": round(population, 1),
        "cycles": round(cycles, 2),
        "cycle_seconds": round(case.window_seconds / cycles, 2),
        "api_calls_per_cycle": round(calls / cycles, 1),
        "api_calls_per_cycle_by_operation": {
            operation: round(count / cycles, 1) for operation, count in measured["calls"].items() if count
        },
        "cpu_seconds_per_cycle": round(measured["cpu_seconds"] / cycles, 4),
        "emulator_cpu_share": measured["emulator_cpu_share"],
    }


def latencies_and_problems(
    case: Case, runner: TriggerRunner, expected: dict[str, bool], ml: Any
) -> tuple[list[float], list[str]]:
    """
    Check the events: each job of ``expected`` (ID to whether it ended) got one right event if it ended,
    none if not; the latency of each is its event's time minus the job's end.
    """
    jobs_seen = finished_at(ml)
    latencies, problems = [], []
    for batch_prediction_id, ended in expected.items():
        events = runner.events.get(batch_prediction_id, [])
        if batch_prediction_id not in jobs_seen:
            problems.append(f"{batch_prediction_id}: not in the service's list of jobs")
            continue
        status, finished, message = jobs_seen[batch_prediction_id]
        if len(events) != (1 if ended else 0):
            problems.append(f"{batch_prediction_id} is {status}: {len(events)} events")
            continue
        if not ended:
            continue
        moment, payload = events[0]
        if payload.get("status") != expected_status(case.implementation, status):
            problems.append(f"{batch_prediction_id} is {status}: event {payload}")
        elif (
            case.implementation != "baseline"
            and status == "FAILED"
            and message not in payload.get("message", "")
        ):
            problems.append(f"{batch_prediction_id}: message {payload.get('message')!r} lacks {message!r}")
        elif finished is not None:
            latencies.append(moment - finished)
    return latencies, problems


def latency_summary(case: Case, latencies: list[float], problems: list[str]) -> dict[str, Any]:
    return {
        "completions": len(latencies),
        "latency_p50": round(statistics.median(latencies), 2) if latencies else None,
        "latency_max": round(max(latencies), 2) if latencies else None,
        "latency_over_goal": sum(latency > case.poll_interval + 1 for latency in latencies),
        "missed_or_wrong": len(problems),
        "problems": problems[:10],
    }


def trigger_arguments(case: Case, deadline: float) -> dict[str, Any]:
    if case.implementation == "baseline":
        return {"waiter_delay": case.poll_interval, "waiter_max_attempts": 100_000}
    return {"waiter_delay": case.poll_interval, "deadline": deadline}


def sharing() -> dict[str, int]:
    """How many pollers and shared clients this loop holds, and how often the clients were rebuilt."""
    from airflow_ml_provider.hooks.machine_learning import shared_clients
    from airflow_ml_provider.triggers.poller import running_pollers

    pollers = running_pollers()
    return {
        "pollers": len(pollers),
        "shared_clients": shared_clients.entries(),
        "renewals": sum(poller_client_renewals(poller) for poller in pollers),
    }


def poller_client_renewals(poller: Any) -> int:
    # The registry keeps the client by connection key; a renewal replaces the client, not the entry.
    from airflow_ml_provider.hooks.machine_learning import shared_clients

    entries = shared_clients._loops.get(asyncio.get_running_loop(), {})
    shared = entries.get(poller.key)
    return shared.renewals if shared is not None else 0


def read_lines(stream: Any) -> asyncio.Queue[str]:
    """The lines of ``stream`` as they come, read by a thread so that the loop never blocks on them."""
    loop, lines = asyncio.get_running_loop(), asyncio.Queue[str]()

    def read() -> None:
        for line in stream:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())

    threading.Thread(target=read, daemon=True).start()
    return lines


async def until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


# The workers, one per scenario; each prints READY, reads the start time (epoch seconds) and measures.


async def steady_worker(case: Case, start: float, control: Any, ml: Any) -> dict[str, Any]:
    """Waits arrive all along, over several client generations; costs per cycle once the population is full."""
    if case.implementation == "ours":
        from airflow_ml_provider.hooks import machine_learning

        machine_learning.CLIENT_RENEW_SECONDS = case.generation
    schedule = steady_schedule(case)
    driver_lines = read_lines(sys.stdin)
    runner, tracker, meter = (
        TriggerRunner(case.implementation),
        WaitTracker(case.implementation),
        Meter(case, control),
    )
    populations: list[int] = []
    most = {"pollers": 0, "shared_clients": 0, "renewals": 0}
    window_start = start + case.warmup_seconds
    window_end = window_start + case.window_seconds

    async def arrive() -> None:
        # A wait arrives when the driver says its job exists, as a task defers after creating its job;
        # the driver's last line says every job has been created and ended as scheduled.
        deadline = start + case.arrival_seconds + 3600
        while (batch_prediction_id := await driver_lines.get()) != DRIVER_DONE:
            await runner.add(batch_prediction_id, **trigger_arguments(case, deadline))

    async def sample() -> None:
        while True:
            tracker.sample()
            if window_start <= time.time() < window_end:
                populations.append(len(runner.tasks) - runner.done())
            if case.implementation == "ours":
                for name, value in sharing().items():
                    most[name] = max(most[name], value)
            await asyncio.sleep(SAMPLE_SECONDS)

    gc.collect()
    rss_before = rss_bytes()
    arrivals, sampler = asyncio.create_task(arrive()), asyncio.create_task(sample())
    await until(window_start)
    gc.collect()
    rss_window, waiting = rss_bytes(), len(runner.tasks) - runner.done()
    meter.start()
    before, gets_before = tracker.attempts(), control.call_counts().get("GetBatchPrediction", 0)
    await until(window_end)
    measured = meter.stop()
    after, gets_after = tracker.attempts(), control.call_counts().get("GetBatchPrediction", 0)
    runner.check()
    observations = (
        observed_between(before, after) if case.implementation == "ours" else gets_after - gets_before
    )
    await arrivals
    # The last jobs that end (at the latest when the driver is done) get an interval and a second to be reported.
    await asyncio.sleep(case.poll_interval + 2)
    sampler.cancel()
    await runner.stop()
    ended = {arrival.batch_prediction_id: arrival.finish < case.arrival_seconds for arrival in schedule}
    latencies, problems = latencies_and_problems(case, runner, ended, ml)
    return {
        **per_cycle(case, measured, observations, statistics.fmean(populations)),
        "rss_per_job_kb": round((rss_window - rss_before) / waiting / 1024, 1),
        "arrivals": len(schedule),
        "generations": math.floor((case.arrival_seconds + case.poll_interval + 2) / case.generation),
        "most": most,
        **latency_summary(case, latencies, problems),
    }


async def floor_worker(case: Case, start: float) -> dict[str, Any]:
    """Sleeping triggers only: memory per waiting task and CPU per interval, the least a wait can cost."""
    from benchmarks import floor_trigger

    runner, meter = TriggerRunner("floor"), Meter(case, None)
    gc.collect()
    rss_before = rss_bytes()
    deadline = time.time() + 3600
    for index in range(case.jobs):
        await runner.add(f"bp-{index:05d}", waiter_delay=case.poll_interval, deadline=deadline)
    while floor_trigger.started < case.jobs:
        runner.check()
        await asyncio.sleep(0.2)
    await asyncio.sleep(case.poll_interval)
    gc.collect()
    rss_after = rss_bytes()
    meter.start()
    await asyncio.sleep(case.window_seconds)
    measured = meter.stop()
    await runner.stop()
    return {
        "rss_per_job_kb": round((rss_after - rss_before) / case.jobs / 1024, 2),
        "cycle_seconds": case.poll_interval,
        "cpu_seconds_per_cycle": round(measured["cpu_seconds"] / case.window_intervals, 4),
        "api_calls_per_cycle": 0,
    }


async def busy_worker(case: Case, start: float, control: Any, ml: Any, s3: Any) -> dict[str, Any]:
    """A few watched jobs run while thousands of other teams' jobs wait PENDING behind the account's limit."""
    model_id, data_source_id = prepare_model(ml, s3)
    control.configure(job_duration=HELD_JOB_DURATION, concurrency_limit=CONCURRENCY_LIMIT, pending_duration=0)
    watched = [f"bp-watched-{index:03d}" for index in range(case.jobs)]
    # Created first, the watched jobs take slots; the others fill the rest and queue up PENDING.
    create_batch_predictions(ml, model_id, data_source_id, watched)
    create_batch_predictions(
        ml, model_id, data_source_id, [f"bp-other-{index:05d}" for index in range(case.unwatched_jobs)]
    )
    runner, tracker, meter = (
        TriggerRunner(case.implementation),
        WaitTracker(case.implementation),
        Meter(case, control),
    )
    for batch_prediction_id in watched:
        await runner.add(batch_prediction_id, **trigger_arguments(case, time.time() + 3600))
    # Two intervals: the first cycle lists and learns what listing costs; the window starts after.
    await asyncio.sleep(2 * case.poll_interval + case.poll_interval / 2)
    meter.start()
    before = tracker.attempts()
    await asyncio.sleep(case.window_seconds)
    measured = meter.stop()
    observations = observed_between(before, tracker.attempts())
    runner.check()
    if any(runner.events.values()):
        raise RuntimeError("a trigger fired while every job was held running")
    control.configure(job_duration=1.0)
    released = time.time()
    while runner.done() < len(watched) and time.time() - released < 4 * case.poll_interval:
        await asyncio.sleep(0.2)
    await runner.stop()
    latencies, problems = latencies_and_problems(case, runner, dict.fromkeys(watched, True), ml)
    pending = sum(status == "PENDING" for status, _, _ in finished_at(ml).values())
    return {
        **per_cycle(case, measured, observations, len(watched)),
        "pending_after": pending,
        **latency_summary(case, latencies, problems),
    }


async def worker(case: Case) -> dict[str, Any]:
    from amazon_ml_emulator import EmulatorClient

    control = ml = s3 = None
    if case.scenario != "floor":
        connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]
        control = EmulatorClient(connection["endpoint_url"])
        ml, s3 = boto3_clients(connection["endpoint_url"], connection["service_config"]["s3"]["endpoint_url"])
    print(READY, flush=True)
    start = float(sys.stdin.readline())
    await until(start)
    if case.scenario == "steady":
        result = await steady_worker(case, start, control, ml)
    elif case.scenario == "floor":
        result = await floor_worker(case, start)
    else:
        result = await busy_worker(case, start, control, ml, s3)
    return {"scenario": case.scenario, "implementation": case.implementation, "jobs": case.jobs, **result}


# The parent: an emulator, the worker, and for ``steady`` the driver that creates and ends the jobs.


class Driver:
    """
    Create each ``steady`` job just before its wait arrives and end it on time, from this process.

    The worker hears of each wait once its job exists, and of the end once every job has been created
    and ended as scheduled: however late a loaded machine makes the driver, no wait is for a job that
    does not exist yet, and the worker checks its events only after the driver's last change.
    """

    def __init__(self, case: Case, emulator: EmulatorProcess) -> None:
        self.case = case
        self.ml, self.s3 = boto3_clients(emulator.endpoint_url, emulator.s3_endpoint_url)
        self.control = emulator.client()
        self.most_late = 0.0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._send_lock = threading.Lock()

    def prepare(self) -> tuple[str, str]:
        model_id, data_source_id = prepare_model(self.ml, self.s3)
        # Every job runs as soon as it is created; only the driver ends it.
        self.control.configure(
            job_duration=HELD_JOB_DURATION, concurrency_limit=1_000_000, pending_duration=0
        )
        return model_id, data_source_id

    def run(self, start: float, model_id: str, data_source_id: str, worker: Any) -> None:
        """Carry out the schedule, telling ``worker`` (its stdin) of each arrival and of the end."""
        actions = []
        for arrival in steady_schedule(self.case):
            actions.append((arrival.arrive - CREATE_LEAD_SECONDS, "create", arrival))
            actions.append((arrival.arrive, "arrive", arrival))
            if arrival.finish < self.case.arrival_seconds:
                actions.append((arrival.finish, "fail" if arrival.fails else "complete", arrival))
        # Stable: an arrival's creation comes before whatever is scheduled at the same moment.
        actions.sort(key=lambda action: action[0])
        created: dict[str, Future[None]] = {}
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                for moment, kind, arrival in actions:
                    if self._stop.wait(max(0.0, start + moment - time.time())):
                        return
                    if kind == "create":
                        created[arrival.batch_prediction_id] = pool.submit(
                            self._create, start + moment, arrival, model_id, data_source_id
                        )
                    else:
                        pool.submit(
                            self._act,
                            start + moment,
                            kind,
                            arrival,
                            created[arrival.batch_prediction_id],
                            worker,
                        )
        finally:
            self._send(worker, DRIVER_DONE)

    def _send(self, worker: Any, line: str) -> None:
        with self._send_lock, contextlib.suppress(BrokenPipeError):
            worker.write(f"{line}\n")
            worker.flush()

    def _create(self, due: float, arrival: Arrival, model_id: str, data_source_id: str) -> None:
        self.most_late = max(self.most_late, time.time() - due)
        try:
            create_batch_predictions(self.ml, model_id, data_source_id, [arrival.batch_prediction_id])
        except Exception as error:
            self.errors.append(f"creating {arrival.batch_prediction_id}: {error}")
            raise

    def _act(self, due: float, kind: str, arrival: Arrival, creation: Future[None], worker: Any) -> None:
        try:
            # Nothing happens to a job before it exists; a job that could not be created has no wait.
            creation.result()
        except Exception:
            return
        self.most_late = max(self.most_late, time.time() - due)
        try:
            self._change(kind, arrival, worker)
        except Exception as error:
            self.errors.append(f"{kind} {arrival.batch_prediction_id}: {error}")

    def _change(self, kind: str, arrival: Arrival, worker: Any) -> None:
        if kind == "arrive":
            self._send(worker, arrival.batch_prediction_id)
        elif kind == "fail":
            self.control.fail_job(
                arrival.batch_prediction_id, message=f"injected failure of {arrival.batch_prediction_id}"
            )
        else:
            self.control.set_status(arrival.batch_prediction_id, "COMPLETED")

    def stop(self) -> None:
        self._stop.set()


def run_case(case: Case, timeout: float = 900) -> dict[str, Any]:
    """Run one case in a fresh worker process, against a fresh emulator process unless it is the floor."""
    arguments = [
        "--job-duration",
        "0.05",
        "--pending-duration",
        "0",
        "--concurrency-limit",
        str(CONCURRENCY_LIMIT),
    ]
    if case.scenario == "floor":
        return _run_worker(case, None, {**os.environ, "AIRFLOW_HOME": temporary_airflow_home()}, timeout)
    with emulator_process(*arguments) as emulator:
        case = replace(case, emulator_pid=emulator.process.pid)
        driver = Driver(case, emulator) if case.scenario == "steady" else None
        return _run_worker(case, driver, emulator.environment(temporary_airflow_home()), timeout)


def _run_worker(
    case: Case, driver: Driver | None, environment: dict[str, str], timeout: float
) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.triggerer_load", "--worker", json.dumps(asdict(case))]
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stdout = process.stdout
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
        reader.start()
        prepared = driver.prepare() if driver is not None else None
        try:
            while (line := lines.get(timeout=timeout)).strip() != READY:
                pass
            start = time.time() + CREATE_LEAD_SECONDS + 1
            process.stdin.write(f"{start}\n")
            process.stdin.flush()
            feeder = None
            if driver is not None and prepared is not None:
                feeder = threading.Thread(
                    target=driver.run, args=(start, *prepared, process.stdin), daemon=True
                )
                feeder.start()
            process.wait(timeout=timeout)
            reader.join(timeout=10)
        finally:
            if driver is not None:
                driver.stop()
            if process.poll() is None:
                process.kill()
                process.wait()
        output = []
        while not lines.empty():
            output.append(lines.get())
        for line in output:
            if line.startswith(RESULT_PREFIX):
                result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
                if driver is not None and driver.errors:
                    raise RuntimeError(f"the driver failed {len(driver.errors)} times: {driver.errors[:3]}")
                if driver is not None:
                    result["driver_most_late_seconds"] = round(driver.most_late, 2)
                return result
        errors.seek(0)
        raise RuntimeError(
            f"{case.scenario} {case.implementation} failed:\n{''.join(output)}\n{errors.read()[-4000:]}"
        )


# Seconds the scale case's jobs may end after their release: the emulator does each job's real work, some
# twenty jobs a second here, so that ten thousand would take minutes; the completions within it are checked.
SCALE_DRAIN_SECONDS = 40.0


def scale_case(jobs: int, poll_interval: float, window_intervals: int) -> Run:
    """``ours`` with ``jobs`` waiting at once, as the triggerer-scale benchmark runs it, released 100 at a time."""
    return Run(
        "ours",
        jobs,
        poll_interval,
        600.0,
        window_intervals,
        1.0,
        released_concurrency_limit=100,
        drain_limit=SCALE_DRAIN_SECONDS,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", nargs="+", default=["steady", "scale", "busy"])
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--steady-jobs", type=int, default=1000, help="mean number of waiting jobs")
    # A client and a call per wait: at 1000 the baseline's loop cannot even take its arrivals on two cores.
    parser.add_argument(
        "--steady-baseline-jobs", type=int, default=100, help="the baseline's mean number of waiting jobs"
    )
    parser.add_argument("--generation", type=float, default=10.0, help="seconds a shared client lives")
    # Long enough that arrivals (about 17 a second at N = 1000) stay within what a shared 2-core machine serves.
    parser.add_argument("--shortest-job", type=float, default=40.0)
    parser.add_argument("--longest-job", type=float, default=80.0)
    parser.add_argument("--scale-jobs", type=int, default=10_000)
    parser.add_argument(
        "--window-intervals", type=int, default=6, help="poll intervals costs are measured over"
    )
    parser.add_argument("--busy-watched", type=int, default=10)
    parser.add_argument("--busy-unwatched", type=int, default=5000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a Case as JSON: be that case's worker process
    parser.add_argument("--output", default="triggerer_load")
    args = parser.parse_args(argv)
    if args.worker:
        # A triggerer logs each trigger's progress at INFO; so do these runs.
        logging.basicConfig(level=logging.INFO)
        result = asyncio.run(worker(Case(**json.loads(args.worker))))
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    common = {"poll_interval": args.poll_interval, "window_intervals": args.window_intervals}
    result: dict[str, Any] = {"machine": machine(), **common}
    if "steady" in args.scenarios:
        steady = Case(
            "steady",
            "baseline",
            args.steady_jobs,
            **common,
            generation=args.generation,
            shortest_job=args.shortest_job,
            longest_job=args.longest_job,
        )
        result["steady"] = [
            _announce(run_case, replace(steady, implementation="baseline", jobs=args.steady_baseline_jobs)),
            _announce(run_case, replace(steady, implementation="ours")),
        ]
        result["steady_case"] = asdict(steady)
        write_result(args.output, result)
    if "scale" in args.scenarios:
        result["scale"] = [
            _announce(run_case, Case("floor", "floor", args.scale_jobs, **common)),
            _announce(run_one, scale_case(args.scale_jobs, args.poll_interval, args.window_intervals)),
        ]
        write_result(args.output, result)
    if "busy" in args.scenarios:
        busy = Case("busy", "ours", args.busy_watched, **common, unwatched_jobs=args.busy_unwatched)
        result["busy"] = [_announce(run_case, busy)]
        result["busy_unwatched"] = args.busy_unwatched
    path = write_result(args.output, result)
    print(json.dumps(result, indent=1))
    print(f"\nwritten to {path}")
    return 0


def _announce(function: Any, case: Any) -> dict[str, Any]:
    """Run one case; a case that fails is reported as failed, and the others still run."""
    print(f"triggerer_load: {case}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        found: dict[str, Any] = function(case)
    except Exception as error:
        # Whatever the failure, the report says which case failed and why.
        print(f"triggerer_load: {case} failed: {error}", file=sys.stderr, flush=True)
        found = {"implementation": case.implementation, "jobs": case.jobs, "error": str(error)[-1500:]}
    found["run_seconds"] = round(time.monotonic() - started, 1)
    return found


def failures(items: list[dict[str, Any]]) -> str | None:
    """What failed among a scenario's cases, if any did."""
    # The last line of the worker's error says what went wrong; the traceback above it stays in the JSON.
    failed = [
        f"{item['implementation']}: {item['error'].strip().splitlines()[-1]}"
        for item in items
        if "error" in item
    ]
    return "; ".join(failed) if failed else None


if __name__ == "__main__":
    raise SystemExit(main())


# Reports: the tables and goals BENCHMARKS.md shows.


def list_pages_needed(jobs: int) -> int:
    """Pages of PENDING and of INPROGRESS jobs a listing of ``jobs`` running jobs needs, at the default limit."""
    from airflow_ml_provider.triggers.poller import PAGE_LIMIT

    running = min(jobs, CONCURRENCY_LIMIT)
    return math.ceil((jobs - running) / PAGE_LIMIT) + math.ceil(running / PAGE_LIMIT)


def baseline_at(
    jobs: int, burst: list[dict[str, Any]], steady: dict[str, Any] | None
) -> dict[str, Any] | None:
    """
    The baseline's figures at ``jobs`` waits, extrapolated: a straight line through its largest two burst
    measurements (memory and CPU grow with N; calls per cycle are N), else in proportion to the steady run.
    """
    points = sorted(
        (item for item in burst if item["implementation"] == "baseline" and item["jobs"] >= 1000),
        key=lambda item: item["jobs"],
    )[-2:]
    if len(points) == 2:
        (n1, first), (n2, second) = ((point["jobs"], point) for point in points)

        def line(measure: str, per_job: bool) -> float:
            y1, y2 = (
                (first[measure] * n1, second[measure] * n2) if per_job else (first[measure], second[measure])
            )
            value = y1 + (y2 - y1) * (jobs - n1) / (n2 - n1)
            return value / jobs if per_job else value

        source = f"extrapolated from its burst runs at N = {n1} and {n2}"
        rss, cpu = line("rss_per_job_kb", True), line("cpu_seconds_per_cycle", False)
    elif steady is not None:
        source = f"extrapolated in proportion from its steady-state run ({steady['population']:g} waiting)"
        rss, cpu = steady["rss_per_job_kb"], steady["cpu_seconds_per_cycle"] * jobs / steady["population"]
    else:
        return None
    return {
        "source": source,
        "rss_per_job_kb": round(rss, 1),
        "cpu_seconds_per_cycle": round(cpu, 3),
        "api_calls_per_cycle": jobs,
    }


def _by(items: list[dict[str, Any]], implementation: str) -> dict[str, Any] | None:
    return next((item for item in items if item["implementation"] == implementation), None)


def _ratio(ours: float, other: float) -> float | None:
    return ours / other if other else None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def goals(load: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Each goal of the three scenarios: what it is, its target, what was measured and whether it is met."""
    found = []
    interval = load["poll_interval"]
    for scenario in ("steady", "scale", "busy"):
        if scenario in load and (failed := failures(load[scenario])):
            found.append((f"{scenario} scenario", "runs", f"failed ({failed[:200]})", False))
    if "steady" in load and not failures(load["steady"]):
        ours, baseline = _by(load["steady"], "ours"), _by(load["steady"], "baseline")
        assert ours is not None
        assert baseline is not None
        # The baseline's costs grow in proportion to its waits (a client and a call each), so they are
        # scaled from the population it held to the one ours held.
        scale = ours["population"] / baseline["population"]
        calls = _ratio(ours["api_calls_per_cycle"], baseline["api_calls_per_cycle"] * scale)
        cpu = _ratio(ours["cpu_seconds_per_cycle"], baseline["cpu_seconds_per_cycle"] * scale)
        n = load["steady_case"]["jobs"]
        found += [
            (
                f"steady state, N = {n}: API calls per poll cycle",
                "<= 2% of baseline (scaled to the same waits)",
                _percent(calls),
                calls is not None and calls <= 0.02,
            ),
            (
                f"steady state, N = {n}: CPU per poll cycle",
                "<= 10% of baseline (scaled to the same waits)",
                _percent(cpu),
                cpu is not None and cpu <= 0.10,
            ),
            (
                f"steady state, N = {n}: one poller and one client across generations",
                "1 poller, 1 client, every completion in time",
                f"{ours['most']['pollers']} poller(s), {ours['most']['shared_clients']} client(s), {ours['most']['renewals']} "
                f"renewals; {ours['latency_over_goal']} late, {ours['missed_or_wrong']} missed or wrong",
                ours["most"]["pollers"] == 1
                and ours["most"]["shared_clients"] == 1
                and ours["latency_over_goal"] == 0
                and ours["missed_or_wrong"] == 0,
            ),
        ]
    if "scale" in load and not failures(load["scale"]):
        floor, ours = _by(load["scale"], "floor"), _by(load["scale"], "ours")
        assert floor is not None
        assert ours is not None
        n, pages = ours["jobs"], list_pages_needed(ours["jobs"])
        memory = _ratio(ours["rss_per_job_kb"], floor["rss_per_job_kb"])
        found += [
            (
                f"N = {n}: memory per waiting job",
                "<= 1.5x the floor",
                f"{memory:.2f}x" if memory else "n/a",
                memory is not None and memory <= 1.5,
            ),
            (
                f"N = {n}: API calls per poll cycle",
                f"<= {pages} list pages + 2",
                f"{ours['api_calls_per_cycle']:g}",
                ours["api_calls_per_cycle"] <= pages + 2,
            ),
            (
                f"N = {n}: completion latency of every job",
                f"<= {interval:g} + 1 s",
                f"max {ours['latency_max']} s of {ours.get('completions', '?')} completions, "
                f"{ours['latency_over_goal']} over, {ours['missed_or_wrong']} missed or wrong",
                ours["latency_over_goal"] == 0 and ours["missed_or_wrong"] == 0,
            ),
        ]
    if "busy" in load and not failures(load["busy"]):
        busy = load["busy"][0]
        found += [
            (
                f"busy account ({busy['jobs']} watched, {load['busy_unwatched']} others PENDING): API calls per poll cycle",
                "<= 10",
                f"{busy['api_calls_per_cycle']:g}",
                busy["api_calls_per_cycle"] <= 10,
            ),
            (
                "busy account: completion latency of the watched jobs",
                f"<= {interval:g} + 1 s",
                f"max {busy['latency_max']} s, {busy['latency_over_goal']} over, {busy['missed_or_wrong']} missed or wrong",
                busy["latency_over_goal"] == 0 and busy["missed_or_wrong"] == 0,
            ),
        ]
    return found


def _calls(item: dict[str, Any]) -> str:
    detail = ", ".join(
        f"{count:g} {operation.removesuffix('BatchPrediction').removesuffix('BatchPredictions') or operation}"
        for operation, count in sorted(item.get("api_calls_per_cycle_by_operation", {}).items())
    )
    return f"{item['api_calls_per_cycle']:g}" + (f" ({detail})" if detail else "")


def steady_report(load: dict[str, Any]) -> str:
    if failed := failures(load["steady"]):
        return f"Failed in this run: {failed}"
    headers = (
        "implementation",
        "mean waiting",
        "arrivals",
        "RSS/job KiB",
        "cycle s",
        "API calls/cycle",
        "CPU s/cycle",
        "emulator CPU share",
        "pollers",
        "clients",
        "client renewals",
        "latency p50 s",
        "latency max s",
        f"latency > {load['poll_interval']:g}+1 s",
        "missed/wrong",
    )
    rows = [
        (
            item["implementation"],
            item["population"],
            item["arrivals"],
            item["rss_per_job_kb"],
            item["cycle_seconds"],
            _calls(item),
            item["cpu_seconds_per_cycle"],
            item["emulator_cpu_share"],
            item["most"]["pollers"] if item["implementation"] == "ours" else "-",
            item["most"]["shared_clients"] if item["implementation"] == "ours" else "-",
            item["most"]["renewals"] if item["implementation"] == "ours" else "-",
            item["latency_p50"],
            item["latency_max"],
            item["latency_over_goal"],
            item["missed_or_wrong"],
        )
        for item in load["steady"]
    ]
    return table(headers, rows)


def scale_report(load: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    if failed := failures(load["scale"]):
        return f"Failed in this run: {failed}"
    headers = (
        "implementation",
        "N",
        "RSS/job KiB",
        "x floor",
        "cycle s",
        "API calls/cycle",
        "CPU s/cycle",
        "emulator CPU share",
        "latency p50 s",
        "latency max s",
        f"latency > {load['poll_interval']:g}+1 s",
        "missed/wrong",
        "drain s",
        "completions",
    )
    floor = _by(load["scale"], "floor")
    assert floor is not None
    rows: list[tuple[Any, ...]] = []
    for item in load["scale"]:
        rows.append(
            (
                item["implementation"],
                item["jobs"],
                item["rss_per_job_kb"],
                f"{item['rss_per_job_kb'] / floor['rss_per_job_kb']:.2f}",
                item["cycle_seconds"],
                _calls(item),
                item["cpu_seconds_per_cycle"],
                item.get("emulator_cpu_share", "-"),
                item.get("latency_p50", "-"),
                item.get("latency_max", "-"),
                item.get("latency_over_goal", "-"),
                item.get("missed_or_wrong", "-"),
                item.get("drain_seconds", "-"),
                item.get("completions", "-"),
            )
        )
    if baseline is not None:
        n = floor["jobs"]
        rows.append(
            (
                "baseline (extrapolated)",
                n,
                baseline["rss_per_job_kb"],
                f"{baseline['rss_per_job_kb'] / floor['rss_per_job_kb']:.2f}",
                "-",
                baseline["api_calls_per_cycle"],
                baseline["cpu_seconds_per_cycle"],
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
            )
        )
    return table(headers, rows)


def busy_report(load: dict[str, Any]) -> str:
    if failed := failures(load["busy"]):
        return f"Failed in this run: {failed}"
    headers = (
        "implementation",
        "watched",
        "others PENDING",
        "cycle s",
        "API calls/cycle",
        "CPU s/cycle",
        "emulator CPU share",
        "latency max s",
        f"latency > {load['poll_interval']:g}+1 s",
        "missed/wrong",
    )
    rows = [
        (
            item["implementation"],
            item["jobs"],
            load["busy_unwatched"],
            item["cycle_seconds"],
            _calls(item),
            item["cpu_seconds_per_cycle"],
            item["emulator_cpu_share"],
            item["latency_max"],
            item["latency_over_goal"],
            item["missed_or_wrong"],
        )
        for item in load["busy"]
    ]
    return table(headers, rows)
