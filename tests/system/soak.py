"""The chaos soak: many runs of every soak DAG (``tests/dags/soak_dags.py``) on the distributed deployment
while a seeded schedule of faults hits it, then a checker that holds Airflow's record against the service's.

``python -m tests.system.soak --minutes 60 --seed 20261207`` (``make soak``) starts its own emulator and
deployment; ``tests/system/test_soak.py`` runs a short seed on the deployment the distributed tests share.
The report goes to ``build/soak/`` as JSON and as text. Everything it talks to listens on 127.0.0.1."""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_ml_provider.utils.validation import derive_entity_id
from amazon_ml_emulator import EmulatorClient, datasets
from tests.dags.soak_dags import CONNECTION_ID, DATA_SOURCES, MAPPED_DAG, OUTPUT_PREFIX, SOAK_DAGS, SoakTask
from tests.system.conftest import (
    BUCKET,
    CANARY_SECRET,
    EMULATOR_DEFAULTS,
    ML_MODEL_ID,
    distributed_deployment,
    prepare_emulator,
    service_clients,
)
from tests.system.stack import REPOSITORY, AirflowStack, EmulatorProcess, wait_until

REPORT_DIR = REPOSITORY / "build" / "soak"
DEFAULT_SEED = 20261207
# Components the chaos signals; the DAG processor parses once at start and is left alone.
TARGET_COMPONENTS = (
    "scheduler",
    "triggerer-1",
    "triggerer-2",
    "celery-worker-1",
    "celery-worker-2",
    "api-server",
)
# Seconds a restarted component is left alone to come up before it may be hit again.
WARM_UP = {"api-server": 45.0, "scheduler": 20.0}
WAITING_STATES = (
    "queued",
    "scheduled",
    "running",
    "deferred",
    "up_for_retry",
    "up_for_reschedule",
    "restarting",
)
# Seconds a task may stay queued without starting before it counts as lost with a killed Celery worker.
QUEUED_LOST_SECONDS = 90
LIVE_JOB_STATUSES = ("PENDING", "INPROGRESS", "COMPLETED")
# Records of each data source (the soak writes them): a COMPLETED job that scored it counts exactly these.
HEAD_RECORDS = 200
# The violations the provider's open defects explain, each with the defect it matches (see known_defect). None
# is open: the kill that deleted a job a newer try adopted or that COMPLETED was fixed, so any violation fails.
KNOWN_DEFECTS: dict[str, str] = {}
# Task failures (not violations) whose last error an open defect explains: the pattern and the defect. None is
# open: the rotation lag is ridden out, and a kill no longer deletes a job a try waits for.
KNOWN_FAILURES: tuple[tuple[str, str], ...] = ()
# Each kind of fault and its weight in the schedule.
FAULT_WEIGHTS = {
    "sigkill": 3,
    "sigstop": 3,
    "throttle": 2,
    "errors": 2,
    "latency": 2,
    "slow_jobs": 1,
    "rotate_key": 2,
    "clear": 2,
    "mark_success": 1,
    "mark_failed": 1,
}


@dataclass
class SoakSettings:
    """
    How long and how hard the soak runs; every loop is bounded by these.

    :param minutes: How long faults are injected and runs triggered.
    :param seed: Seed of the fault schedule and of the runs' DAGs and data (which task a clear or mark hits
        depends on what is in flight at that moment, which timing decides).
    :param runs_in_flight: Runs kept unfinished at once.
    :param fault_gap: Least and most seconds between two faults.
    :param settle_seconds: Most seconds the runs get to finish once the faults stop.
    :param job_settle_seconds: Most seconds the jobs then get to end before a running one counts as orphaned.
    """

    minutes: float = 60.0
    seed: int = DEFAULT_SEED
    runs_in_flight: int = 12
    fault_gap: tuple[float, float] = (4.0, 12.0)
    settle_seconds: float = 420.0
    job_settle_seconds: float = 90.0


@dataclass
class Violation:
    """One broken invariant, with what shows it."""

    kind: str
    dag_id: str
    run_id: str
    task_id: str = ""
    map_index: int = -1
    job_id: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    known_defect: str | None = None


TaskKey = tuple[str, str, str, int]


class Soak:
    """
    One soak on a running distributed deployment and emulator.

    :param stack: The deployment (``running_stack(..., distributed=True)``).
    :param emulator: The emulator process its connections point at.
    :param settings: Duration, seed and bounds.
    """

    def __init__(self, stack: AirflowStack, emulator: EmulatorProcess, settings: SoakSettings) -> None:
        for url in (stack.api_url, emulator.endpoint_url, emulator.s3_endpoint_url):
            if not url.startswith("http://127.0.0.1:"):
                raise ValueError(f"{url}: the soak talks only to 127.0.0.1")
        self.stack, self.emulator, self.settings = stack, emulator, settings
        self.service = EmulatorClient(emulator.endpoint_url)
        self.ml, self.s3 = service_clients(emulator)
        # Two streams, so that the runs' draws do not shift the faults' with timing.
        self.fault_random = random.Random(f"{settings.seed}-faults")  # a reproducible schedule
        self.run_random = random.Random(f"{settings.seed}-runs")
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.runs_lock = threading.Lock()
        self.faults: list[dict[str, Any]] = []
        self.task_actions: dict[TaskKey, list[dict[str, Any]]] = {}
        self.pending: list[tuple[float, int, str, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.busy_until: dict[str, float] = {}
        self.secrets: set[str] = {CANARY_SECRET}
        self.keys: list[str] = []
        self.refused: dict[str, str] = {}
        self.started = 0.0
        self.notes: list[str] = []
        # Components the chaos killed and has not restarted yet; any other that exits is reported.
        self.killed: set[str] = set()
        self.exits: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {}

    # -- set-up -----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """The soak's data sources, a calm emulator and the ``soak_aws`` connection with a first key."""
        self.service.configure(**{**EMULATOR_DEFAULTS, "job_duration": 3.0, "pending_duration": 0.5})
        self.service.configure(concurrency_limit=60, refused_access_keys={}, seed=self.settings.seed)
        csv_bytes, schema = datasets.make_dataset("breast_cancer")
        lines = csv_bytes.decode().splitlines()
        head = "\n".join(lines[: HEAD_RECORDS + 1]) + "\n"
        self.expected_records = {DATA_SOURCES[0]: len(lines) - 1, DATA_SOURCES[1]: HEAD_RECORDS}
        for data_source_id, body in zip(DATA_SOURCES, (csv_bytes, head.encode()), strict=True):
            key = f"soak/data/{data_source_id}.csv"
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            with contextlib.suppress(self.ml.exceptions.ResourceNotFoundException):
                self.ml.get_data_source(DataSourceId=data_source_id)
                continue
            self.ml.create_data_source_from_s3(
                DataSourceId=data_source_id,
                DataSpec={"DataLocationS3": f"s3://{BUCKET}/{key}", "DataSchema": schema},
                ComputeStatistics=False,
            )
        for data_source_id in DATA_SOURCES:
            wait_until(
                lambda d=data_source_id: self.ml.get_data_source(DataSourceId=d)["Status"] == "COMPLETED",
                120,
                0.5,
                f"data source {data_source_id}",
            )
        self.put_connection(create=True)
        self.stack.wait_for_dags(list(SOAK_DAGS), timeout=180)

    def put_connection(self, create: bool = False) -> None:
        """Give ``soak_aws`` a fresh key pair (the first, or a rotation's new one)."""
        access_key = f"AKIASOAK{self.settings.seed % 10**6:06d}{len(self.keys):04d}"
        secret = f"soak-secret-{secrets.token_hex(12)}"
        extra = self.emulator.connection["extra"]
        body = {
            "connection_id": CONNECTION_ID,
            "conn_type": "aws",
            "login": access_key,
            "password": secret,
            "extra": extra if isinstance(extra, str) else json.dumps(extra),
        }
        self.secrets.add(secret)
        if create:
            with contextlib.suppress(RuntimeError):
                self.stack.request("DELETE", f"/api/v2/connections/{CONNECTION_ID}", timeout=30)
            self.stack.request("POST", "/api/v2/connections", body, timeout=30)
        else:
            self.stack.request("PATCH", f"/api/v2/connections/{CONNECTION_ID}", body, timeout=30)
        self.keys.append(access_key)

    # -- the run feeder -----------------------------------------------------------------------------

    def in_flight(self) -> int:
        rows = self.stack.database_rows(
            "SELECT count(*) FROM dag_run WHERE dag_id LIKE 'soak\\_%' AND state IN ('queued', 'running') "
            "AND run_id LIKE :prefix",
            prefix=f"soak-{self.settings.seed}-%",
        )
        return int(rows[0][0])

    def feed(self, stop: threading.Event) -> None:
        """Keep ``runs_in_flight`` runs unfinished until ``stop``; a refused trigger is tried again later."""
        dag_ids = sorted(SOAK_DAGS)
        planned: tuple[str, str, dict[str, Any]] | None = None
        for _ in range(100_000):
            if stop.wait(2.0):
                return
            try:
                missing = self.settings.runs_in_flight - self.in_flight()
            except Exception as error:  # the database is never faulted, but keep feeding
                self.notes.append(f"feeder: {type(error).__name__}: {error}"[:300])
                continue
            for _ in range(max(0, min(missing, 4))):
                if planned is None:
                    number = len(self.runs)
                    dag_id = self.run_random.choice(dag_ids)
                    conf = (
                        {}
                        if dag_id == MAPPED_DAG
                        else {"data_source_id": self.run_random.choice(DATA_SOURCES)}
                    )
                    planned = (dag_id, f"soak-{self.settings.seed}-{number:05d}", conf)
                dag_id, run_id, conf = planned
                try:
                    self.stack.request(
                        "POST",
                        f"/api/v2/dags/{dag_id}/dagRuns",
                        {"logical_date": None, "conf": conf, "dag_run_id": run_id},
                        timeout=30,
                    )
                except Exception as error:  # the API server may be down: the chaos put it so
                    if "409" not in str(error):
                        break
                with self.runs_lock:
                    self.runs[(dag_id, run_id)] = {"conf": conf, "triggered_at": round(self.elapsed(), 1)}
                planned = None

    # -- the chaos ----------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def later(self, delay: float, what: str, action: Callable[[], None]) -> None:
        heapq.heappush(self.pending, (time.monotonic() + delay, next(self.sequence), what, action))

    def run_due(self, everything: bool = False) -> None:
        while self.pending and (everything or self.pending[0][0] <= time.monotonic()):
            _, _, what, action = heapq.heappop(self.pending)
            self.say(what)
            try:
                action()
            except Exception as error:  # an undo that failed is reported, never fatal
                self.notes.append(f"{what}: {type(error).__name__}: {error}"[:300])

    def record(self, kind: str, ok: bool = True, **detail: Any) -> dict[str, Any]:
        fault = {"at": round(self.elapsed(), 1), "kind": kind, "ok": ok, **detail}
        self.faults.append(fault)
        self.say(json.dumps(fault, default=str))
        return fault

    def say(self, line: str) -> None:
        """One line of progress on standard output."""
        print(f"soak +{self.elapsed():.0f}s {line}", flush=True)

    def free(self, name: str) -> bool:
        return self.busy_until.get(name, 0.0) <= time.monotonic()

    def inject(self) -> None:
        """One fault of the schedule: its kind, target and parameters drawn from the fault stream."""
        draw = self.fault_random
        kind = draw.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]
        component = draw.choice(TARGET_COMPONENTS)
        duration, level, pick = draw.uniform(2.0, 8.0), draw.random(), draw.random()
        if kind in ("sigkill", "sigstop"):
            self.signal_fault(kind, component, duration)
        elif kind in ("throttle", "errors", "latency", "slow_jobs"):
            self.service_fault(kind, level, duration * 2.5)
        elif kind == "rotate_key":
            self.rotate_key(
                duration, "UnrecognizedClientException" if level < 0.5 else "ExpiredTokenException"
            )
        else:
            self.task_fault(kind, pick)

    def signal_fault(self, kind: str, name: str, duration: float) -> None:
        if not self.free(name):
            self.record(kind, ok=False, component=name, skipped="component still down or warming up")
            return
        if kind == "sigstop":
            self.stack.signal_component(name, signal.SIGSTOP)
            self.busy_until[name] = time.monotonic() + duration + 5.0
            self.later(duration, f"SIGCONT {name}", lambda: self.stack.signal_component(name, signal.SIGCONT))
            self.record(kind, component=name, seconds=round(duration, 1))
            return
        restart = 1.0 + duration / 4
        self.busy_until[name] = time.monotonic() + restart + WARM_UP.get(name, 10.0)
        # The restart is due before the kill, so that a kill that raises still leaves it to come back.
        self.killed.add(name)
        self.later(restart, f"restart {name}", lambda: self.restart(name))
        self.stack.kill_component(name)
        self.record(kind, component=name, restarted_after=round(restart, 1))

    def restart(self, name: str) -> None:
        self.stack.start_component(name)
        self.killed.discard(name)

    def service_fault(self, kind: str, level: float, duration: float) -> None:
        if not self.free(kind):
            self.record(kind, ok=False, skipped="already on")
            return
        setting, value, calm = {
            "throttle": ("throttle_rate", round(0.2 + 0.3 * level, 2), 0.0),
            "errors": ("error_rate", round(0.1 + 0.2 * level, 2), 0.0),
            "latency": ("latency", round(0.2 + 1.3 * level, 2), 0.0),
            "slow_jobs": ("job_duration", round(10 + 20 * level, 1), 3.0),
        }[kind]
        self.service.configure(**{setting: value})
        self.busy_until[kind] = time.monotonic() + duration
        self.later(duration, f"calm {setting}", lambda: self.service.configure(**{setting: calm}))
        self.record(kind, setting=setting, value=value, seconds=round(duration, 1))

    def rotate_key(self, lag: float, code: str) -> None:
        """The service refuses the connection's key; ``lag`` seconds later the connection holds a new one."""
        if not self.free("rotate_key"):
            self.record("rotate_key", ok=False, skipped="a rotation is under way")
            return
        old_key = self.keys[-1]
        self.refused[old_key] = code
        self.service.configure(refused_access_keys=dict(self.refused))
        self.busy_until["rotate_key"] = time.monotonic() + lag + 5.0
        self.later(lag, "connection gets a new key", self.renew_key)
        self.record("rotate_key", refused_key=old_key, code=code, lag_seconds=round(lag, 1))

    def renew_key(self, attempt: int = 1) -> None:
        """The rotation's second half; tried again every 3 s (20 times at most) while the API server is down."""
        try:
            self.put_connection()
        except Exception:
            if attempt >= 20:
                raise
            self.later(
                3.0, f"connection gets a new key (attempt {attempt + 1})", lambda: self.renew_key(attempt + 1)
            )

    def task_fault(self, kind: str, pick: float) -> None:
        """Clear, or mark success or failed, one running, deferred or rescheduled soak task."""
        candidates = self.stack.database_rows(
            "SELECT dag_id, run_id, task_id, map_index, state, try_number FROM task_instance "
            "WHERE dag_id LIKE 'soak\\_%' AND run_id LIKE :prefix "
            "AND state IN ('running', 'deferred', 'up_for_reschedule') "
            "ORDER BY dag_id, run_id, task_id, map_index",
            prefix=f"soak-{self.settings.seed}-%",
        )
        if not candidates:
            self.record(kind, ok=False, skipped="no running, deferred or rescheduled task")
            return
        dag_id, run_id, task_id, map_index, state, try_number = candidates[int(pick * len(candidates))]
        try:
            if kind == "clear":
                task: Any = [task_id, map_index] if map_index >= 0 else task_id
                body = {
                    "dry_run": False,
                    "task_ids": [task],
                    "dag_run_id": run_id,
                    "only_failed": False,
                    "reset_dag_runs": True,
                }
                self.stack.request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body, timeout=30)
            else:
                path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
                path += f"/{map_index}" if map_index >= 0 else ""
                new_state = kind.removeprefix("mark_")
                self.stack.request("PATCH", path, {"new_state": new_state}, timeout=30)
        except Exception as error:  # the API server may be down: the chaos put it so
            self.record(kind, ok=False, dag_id=dag_id, run_id=run_id, task_id=task_id, error=str(error)[:200])
            return
        action = self.record(
            kind,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            state=state,
            try_number=try_number,
        )
        self.task_actions.setdefault((dag_id, run_id, task_id, map_index), []).append(action)

    def watch(self) -> None:
        """Restart a component that exited although the chaos did not kill it, and say how it exited."""
        for name, component in list(self.stack.components.items()):
            code = component.process.poll()
            if code is None or name in self.killed:
                continue
            tail = component.log_path.read_text(errors="replace").splitlines()[-5:]
            self.exits.append(
                {"at": round(self.elapsed(), 1), "component": name, "returncode": code, "log_tail": tail}
            )
            self.say(f"{name} exited by itself with {code}; restarting it")
            self.stack.start_component(name)
            self.busy_until[name] = time.monotonic() + WARM_UP.get(name, 10.0)

    def watch_api(self, unanswered_since: list[float]) -> None:
        """While settling: an API server that has not answered its health check for a minute is hung;
        report it and restart it, as the runs cannot end without it."""
        if self.stack.api_ready():
            unanswered_since.clear()
            return
        if not unanswered_since:
            unanswered_since.append(time.monotonic())
            return
        if time.monotonic() - unanswered_since[0] < 60:
            return
        unanswered_since.clear()
        tail = self.stack.components["api-server"].log_path.read_text(errors="replace").splitlines()[-5:]
        self.exits.append(
            {
                "at": round(self.elapsed(), 1),
                "component": "api-server",
                "returncode": "hung 60 s",
                "log_tail": tail,
            }
        )
        self.say("the API server has not answered for 60 s; restarting it")
        self.stack.kill_component("api-server")
        self.stack.start_component("api-server")

    def calm_down(self) -> None:
        """Undo every fault still on, continue and restart every component, give the connection a good key."""
        self.say("the faults stop")
        self.run_due(everything=True)
        self.service.configure(throttle_rate=0.0, error_rate=0.0, latency=0.0, job_duration=3.0)
        for name in list(self.stack.components):
            self.stack.signal_component(name, signal.SIGCONT)
        self.watch()
        wait_until(self.stack.api_ready, 180, 1.0, "the API server after the faults")
        if self.keys[-1] in self.refused:
            self.put_connection()
        self.say(
            "components: "
            + ", ".join(
                f"{n} pid {c.process.pid} {c.process.poll()}" for n, c in self.stack.components.items()
            )
        )

    def chaos(self) -> None:
        """Faults until the time is up; the loop is bounded in time and in turns."""
        deadline = self.started + self.settings.minutes * 60
        next_fault = time.monotonic() + self.fault_random.uniform(*self.settings.fault_gap)
        for _ in range(int(self.settings.minutes * 60 * 5) + 10):
            now = time.monotonic()
            if now >= deadline:
                break
            self.run_due()
            self.watch()
            if now >= next_fault:
                try:
                    self.inject()
                except Exception as error:  # a fault that could not be injected is reported
                    self.record("error", ok=False, error=f"{type(error).__name__}: {error}"[:300])
                next_fault = time.monotonic() + self.fault_random.uniform(*self.settings.fault_gap)
            time.sleep(0.2)

    # -- the whole soak -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Prepare, feed runs and inject faults for the set minutes, settle, check; return the report."""
        begun = time.monotonic()
        self.prepare()
        self.started = time.monotonic()
        stop = threading.Event()
        feeder = threading.Thread(target=self.feed, args=(stop,), daemon=True)
        feeder.start()
        try:
            self.chaos()
        finally:
            stop.set()
            feeder.join(120)
            self.calm_down()
        self.timings["chaos_seconds"] = round(time.monotonic() - self.started, 1)
        settled = time.monotonic()
        self.settle()
        self.timings["settle_seconds"] = round(time.monotonic() - settled, 1)
        checked = time.monotonic()
        report = Checker(self).report()
        self.timings["check_seconds"] = round(time.monotonic() - checked, 1)
        self.timings["total_seconds"] = round(time.monotonic() - begun, 1)
        report["timings"] = self.timings
        return report

    def settle(self) -> None:
        """Let the runs finish, then the jobs end; both bounded (what is left is what the checker reports)."""
        run_ids = [run_id for _, run_id in self.runs]

        unanswered_since: list[float] = []

        def runs_done() -> bool:
            self.watch()
            self.watch_api(unanswered_since)
            return not self.unfinished_runs(run_ids)

        def jobs_done() -> bool:
            return not [job for job in self.jobs() if job["Status"] in ("PENDING", "INPROGRESS")]

        for condition, seconds, what in (
            (runs_done, self.settings.settle_seconds, "runs"),
            (jobs_done, self.settings.job_settle_seconds, "jobs"),
        ):
            self.say(f"settling: waiting up to {seconds:.0f} s for the {what} to end")
            with contextlib.suppress(TimeoutError):
                wait_until(condition, seconds, 2.0, f"the soak's {what} to end")

    def unfinished_runs(
        self, run_ids: list[str], include_lost: bool = False
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """
        The soak's runs that did not end, with their task instances, leaving out those held only by tasks
        queued whose try never started (see :meth:`never_started`).
        """
        rows = self.stack.database_rows(
            "SELECT r.dag_id, r.run_id, r.state, t.task_id, t.map_index, t.state, t.try_number, "
            "extract(epoch FROM now() - t.queued_dttm) "
            "FROM dag_run r LEFT JOIN task_instance t ON t.dag_id = r.dag_id AND t.run_id = r.run_id "
            "WHERE r.dag_id LIKE 'soak\\_%' AND r.run_id = ANY(:run_ids) AND r.state NOT IN ('success', 'failed')",
            run_ids=run_ids,
        )
        runs: dict[tuple[str, str], dict[str, Any]] = {}
        for dag_id, run_id, run_state, task_id, map_index, state, try_number, queued_for in rows:
            run = runs.setdefault((dag_id, run_id), {"run_state": run_state, "tasks": {}})
            if task_id is not None:
                name = task_id + (f"[{map_index}]" if map_index >= 0 else "")
                run["tasks"][name] = {
                    "state": state,
                    "try_number": try_number,
                    "map_index": map_index,
                    "queued_seconds": None if queued_for is None else round(float(queued_for)),
                }

        def held_by_lost_tasks(key: tuple[str, str], tasks: dict[str, dict[str, Any]]) -> bool:
            lost = [
                name for name, task in tasks.items() if self.never_started(*key, name.split("[")[0], task)
            ]
            return bool(lost) and all(tasks[name]["state"] is None or name in lost for name in tasks)

        return {
            key: run for key, run in runs.items() if include_lost or not held_by_lost_tasks(key, run["tasks"])
        }

    def never_started(self, dag_id: str, run_id: str, task_id: str, task: dict[str, Any]) -> bool:
        """
        Queued, and its try wrote no log: no provider code ran. A Celery worker killed right after it took
        the task's message takes the message with it; Airflow queues it again only after
        ``[scheduler] task_queued_timeout``. An Airflow limit, reported apart from the violations.
        """
        # A queued task waits for a free slot for seconds, not minutes, once the faults stopped.
        if task["state"] != "queued" or (task.get("queued_seconds") or 0) < QUEUED_LOST_SECONDS:
            return False
        log = self.stack.task_log(dag_id, run_id, task_id, max(task["try_number"], 1), task["map_index"])
        return not log.strip()

    def jobs(self) -> list[dict[str, Any]]:
        """Every batch prediction of a soak DAG on the service, through boto3 (at most 1,000 pages)."""
        pages = self.ml.get_paginator("describe_batch_predictions").paginate()
        found = []
        for page in itertools.islice(pages, 1000):
            found.extend(job for job in page["Results"] if job["BatchPredictionId"].startswith("soak_"))
        return found


# -- the checker ------------------------------------------------------------------------------------


class Checker:
    """
    Airflow's record (the metadata database: runs, task instances, XComs) against the service's truth
    (boto3 Describe/Get on the emulator), after the soak settled.
    """

    def __init__(self, soak: Soak) -> None:
        self.soak, self.stack = soak, soak.stack
        self.violations: list[Violation] = []
        self.logs: dict[Path, str] | None = None

    # -- what each side says --

    def gather(self) -> None:
        seed_prefix = f"soak-{self.soak.settings.seed}-%"
        self.run_states = {
            (dag_id, run_id): state
            for dag_id, run_id, state in self.stack.database_rows(
                "SELECT dag_id, run_id, state FROM dag_run WHERE dag_id LIKE 'soak\\_%' AND run_id LIKE :p",
                p=seed_prefix,
            )
        }
        self.tasks = {
            (dag_id, run_id, task_id, map_index): {"state": state, "try_number": try_number}
            for dag_id, run_id, task_id, map_index, state, try_number in self.stack.database_rows(
                "SELECT dag_id, run_id, task_id, map_index, state, try_number FROM task_instance "
                "WHERE dag_id LIKE 'soak\\_%' AND run_id LIKE :p",
                p=seed_prefix,
            )
        }
        self.returned: dict[TaskKey, Any] = {}
        for dag_id, run_id, task_id, map_index, value in self.stack.database_rows(
            "SELECT dag_id, run_id, task_id, map_index, value FROM xcom "
            "WHERE key = 'return_value' AND dag_id LIKE 'soak\\_%' AND run_id LIKE :p",
            p=seed_prefix,
        ):
            with contextlib.suppress(TypeError, ValueError):
                while isinstance(value, str) and value[:1] in ('"', "{"):
                    value = json.loads(value)
            self.returned[(dag_id, run_id, task_id, map_index)] = value
        self.jobs = {job["BatchPredictionId"]: job for job in self.soak.jobs()}
        # Each job's try chain: the task instance whose derived ID its own ID starts.
        bases = {
            derive_entity_id(dag_id, task_id, run_id, map_index): (dag_id, run_id, task_id, map_index)
            for (dag_id, run_id, task_id, map_index) in self.tasks
            if not self.spec(dag_id, task_id).is_sensor
        }
        self.chains: dict[TaskKey, list[str]] = {}
        self.chain_of: dict[str, TaskKey] = {}
        for job_id in self.jobs:
            base = re.sub(r"-r\d+$", "", job_id)
            if base in bases:
                self.chains.setdefault(bases[base], []).append(job_id)
                self.chain_of[job_id] = bases[base]
            else:
                self.add("job_of_no_task", "", "", job_id=job_id, evidence={"job": self.brief(job_id)})

    @staticmethod
    def spec(dag_id: str, task_id: str) -> SoakTask:
        return next(task for task in SOAK_DAGS[dag_id] if task.task_id == task_id)

    def brief(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id) or {}
        keys = ("Status", "BatchPredictionDataSourceId", "OutputUri", "TotalRecordCount", "Message")
        return {key: job[key] for key in keys if key in job}

    def add(
        self, kind: str, dag_id: str, run_id: str, task_id: str = "", map_index: int = -1, **more: Any
    ) -> None:
        violation = Violation(kind, dag_id, run_id, task_id, map_index, **more)
        violation.known_defect = self.known_defect(violation)
        self.violations.append(violation)

    def known_defect(self, violation: Violation) -> str | None:
        """The open defect a violation matches, only when its evidence shows that defect's mark."""
        if violation.kind == "success_returned_deleted_job" and violation.evidence.get("deleted_by"):
            return KNOWN_DEFECTS.get(violation.kind)
        return None

    # -- exemptions --

    def marked(self, key: TaskKey) -> dict[str, Any] | None:
        """
        The chaos's mark when it decides the task's end: the last chaos action on the task instance was a
        mark, its end state is the marked one and no later try ran. Such a task is exempt from the rules on
        what a successful task returns and from the failure list; every other rule still holds for it.
        """
        actions = self.soak.task_actions.get(key) or []
        task = self.tasks.get(key)
        if not actions or task is None or not actions[-1]["kind"].startswith("mark_"):
            return None
        last = actions[-1]
        same_try = task["try_number"] == last["try_number"]
        return last if same_try and task["state"] == last["kind"].removeprefix("mark_") else None

    def clears(self, key: TaskKey) -> int:
        return sum(action["kind"] == "clear" for action in self.soak.task_actions.get(key) or [])

    # -- the invariants --

    def check_successes(self) -> None:
        """Every successful create/sensor returns a job of its own chain that scored this run's data."""
        for key, task in sorted(self.tasks.items()):
            dag_id, run_id, task_id, map_index = key
            if task["state"] != "success" or self.marked(key):
                continue
            spec = self.spec(dag_id, task_id)
            value = self.returned.get(key)
            job_id = value.get("batch_prediction_id") if isinstance(value, dict) else value
            where = (dag_id, run_id, task_id, map_index)
            if not isinstance(job_id, str) or job_id not in self.jobs:
                self.add(
                    "success_returned_no_job", *where, job_id=str(job_id), evidence={"return_value": value}
                )
                continue
            job = self.jobs[job_id]
            chain_task = (dag_id, run_id, spec.upstream, map_index) if spec.is_sensor else key
            owner = self.chain_of.get(job_id)
            # When the chaos marked a map index of the create success, it pushed no ID: Airflow expands the
            # sensors over the IDs pushed, and their map indexes no longer match the creates'.
            if (
                spec.is_sensor
                and map_index >= 0
                and owner
                and owner[:3] == chain_task[:3]
                and any(self.marked(other) for other in self.tasks if other[:3] == chain_task[:3])
            ):
                chain_task = owner
            evidence = {"job": self.brief(job_id), "try_number": task["try_number"]}
            if job["Status"] == "DELETED":
                evidence["deleted_by"] = self.deletions(job_id)
                self.add("success_returned_deleted_job", *where, job_id=job_id, evidence=evidence)
                continue
            wrong = self.wrong_data(dag_id, run_id, chain_task[3], job)
            if self.chain_of.get(job_id) != chain_task or wrong:
                evidence.update(
                    chain_of_job=self.chain_of.get(job_id), expected_chain=chain_task, wrong=wrong
                )
                self.add("success_returned_foreign_job", *where, job_id=job_id, evidence=evidence)
            if spec.waits is not None and (
                job["Status"] != "COMPLETED"
                or (isinstance(value, dict) and value.get("status") != "COMPLETED")
            ):
                evidence["returned_status"] = value.get("status") if isinstance(value, dict) else None
                self.add("success_returned_unfinished_job", *where, job_id=job_id, evidence=evidence)

    def wrong_data(self, dag_id: str, run_id: str, map_index: int, job: dict[str, Any]) -> dict[str, Any]:
        """How the job differs from what this run asked to score (empty when it scored this run's data)."""
        conf = self.soak.runs.get((dag_id, run_id), {}).get("conf", {})
        data_source = DATA_SOURCES[map_index] if dag_id == MAPPED_DAG else conf.get("data_source_id")
        output = f"{OUTPUT_PREFIX}{dag_id}/{run_id}/" + (f"{map_index}/" if dag_id == MAPPED_DAG else "")
        expected = {"BatchPredictionDataSourceId": data_source, "MLModelId": ML_MODEL_ID, "OutputUri": output}
        if job["Status"] == "COMPLETED":
            expected["TotalRecordCount"] = self.soak.expected_records.get(str(data_source))
        return {
            name: {"expected": value, "found": job.get(name)}
            for name, value in expected.items()
            if job.get(name) != value
        }

    def check_chains(self) -> None:
        """At most one live job per try chain: per task instance, one plus the clears the chaos made."""
        for key, job_ids in sorted(self.chains.items()):
            live = sorted(job_id for job_id in job_ids if self.jobs[job_id]["Status"] in LIVE_JOB_STATUSES)
            allowed = 1 + self.clears(key)
            if len(live) > allowed:
                evidence = {
                    "jobs": {job_id: self.brief(job_id) for job_id in sorted(job_ids)},
                    "chaos_actions": self.soak.task_actions.get(key, []),
                    "task": self.tasks.get(key),
                }
                self.add("duplicate_jobs", *key, job_id=",".join(live), evidence=evidence)

    def check_orphans(self) -> None:
        """After the settle, no job PENDING or INPROGRESS with no task instance waiting for it."""
        for job_id, job in sorted(self.jobs.items()):
            if job["Status"] not in ("PENDING", "INPROGRESS"):
                continue
            key = self.chain_of.get(job_id)
            waiting = [
                other
                for other, task in self.tasks.items()
                if key and other[:2] == key[:2] and other[3] == key[3] and task["state"] in WAITING_STATES
            ]
            if not waiting:
                dag_id, run_id, task_id, map_index = key or ("", "", "", -1)
                evidence = {"job": self.brief(job_id), "task": self.tasks.get(key) if key else None}
                self.add("orphaned_job", dag_id, run_id, task_id, map_index, job_id=job_id, evidence=evidence)

    def check_ends(self) -> None:
        """No event lost: every run the soak started ended, and no task instance is left waiting."""
        unfinished = self.soak.unfinished_runs([run_id for _, run_id in self.soak.runs])
        for (dag_id, run_id), run in sorted(unfinished.items()):
            self.add("stuck_run", dag_id, run_id, evidence=run)
        finished_or_stuck = set(unfinished)
        self.queued_never_started = [
            {"dag_id": dag_id, "run_id": run_id, "task": name, **task}
            for (dag_id, run_id), run in sorted(
                self.soak.unfinished_runs(
                    [run_id for (_, run_id) in self.soak.runs], include_lost=True
                ).items()
            )
            if (dag_id, run_id) not in finished_or_stuck
            for name, task in run["tasks"].items()
            if task["state"] == "queued"
        ]
        for key, task in sorted(self.tasks.items()):
            if task["state"] in WAITING_STATES and self.run_states.get(key[:2]) in ("success", "failed"):
                self.add(
                    "stuck_task", *key, evidence={"task": task, "run_state": self.run_states.get(key[:2])}
                )

    def check_secrets(self) -> None:
        """No secret of the connection (any key it held), nor a database password, in any log of the stack."""
        searched = self.secrets_to_find()
        for path, text in self.log_texts().items():
            for name, secret in searched.items():
                if secret in text:
                    self.add(
                        "secret_in_log",
                        "",
                        "",
                        evidence={"file": str(path), "secret": name, "occurrences": text.count(secret)},
                    )

    def secrets_to_find(self) -> dict[str, str]:
        found = {
            f"connection secret #{index}": secret for index, secret in enumerate(sorted(self.soak.secrets))
        }
        # The metadata database's password, if its URL has one (the test cluster trusts local logins).
        password = re.search(r"://[^:/@]+:([^@]+)@", self.stack.database_url)
        if password:
            found["metadata database password"] = password.group(1)
        return found

    def log_texts(self) -> dict[Path, str]:
        """Every task, trigger and component log of the stack, read once."""
        if self.logs is None:
            paths = [*(self.stack.home / "logs").rglob("*"), *(self.stack.home / "processes").glob("*.log")]
            self.logs = {path: path.read_text(errors="replace") for path in sorted(paths) if path.is_file()}
        return self.logs

    def deletions(self, job_id: str) -> list[str]:
        """The log lines that say a kill deleted ``job_id``, with the file each is in (at most five)."""
        lines = []
        for path, text in self.log_texts().items():
            for line in text.splitlines():
                if job_id in line and "Deleting" in line:
                    lines.append(f"{path.relative_to(self.stack.home)}: {line.strip()[:300]}")
        return lines[:5]

    def failures(self) -> list[dict[str, Any]]:
        """
        Task instances that failed although the chaos did not mark them failed, with their last error line:
        not a broken invariant in themselves (retries can run out under faults), but where to look next.
        """
        found = []
        for key, task in sorted(self.tasks.items()):
            if task["state"] != "failed" or self.marked(key):
                continue
            dag_id, run_id, task_id, map_index = key
            error = self.last_error(key, task["try_number"])
            found.append(
                {
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "task_id": task_id,
                    "map_index": map_index,
                    "try_number": task["try_number"],
                    "chaos_actions": [a["kind"] for a in self.soak.task_actions.get(key, [])],
                    "error": error,
                    "known_defect": next(
                        (d for pattern, d in KNOWN_FAILURES if re.search(pattern, error)), None
                    ),
                }
            )
        return found

    def last_error(self, key: TaskKey, try_number: int) -> str:
        """The last error the try logged: its exception's type and message, or the error line itself."""
        dag_id, run_id, task_id, map_index = key
        text = self.stack.task_log(dag_id, run_id, task_id, try_number=try_number, map_index=map_index)
        found = "(no error line in the try's log)"
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if re.search(r"\bERROR\b|Exception|timed out", line) and "Traceback" not in line:
                    found = line.strip()
                continue
            if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
                continue
            details = entry.get("error_detail") or []
            if details and isinstance(details, list) and isinstance(details[-1], dict):
                found = f"{details[-1].get('exc_type')}: {details[-1].get('exc_value')}"
            else:
                found = str(entry.get("event"))
        return found[:400]

    # -- the report --

    def report(self) -> dict[str, Any]:
        self.gather()
        self.check_successes()
        self.check_chains()
        self.check_orphans()
        self.check_ends()
        self.check_secrets()
        soak = self.soak
        failures = self.failures()
        run_states = Counter(self.run_states.get(key, "never created") for key in soak.runs)
        return {
            "seed": soak.settings.seed,
            "minutes": soak.settings.minutes,
            "settings": {
                key: value for key, value in asdict(soak.settings).items() if key not in ("seed", "minutes")
            },
            "runs": {
                "started": len(soak.runs),
                "finished_by_state": dict(sorted(run_states.items())),
                "by_dag": dict(sorted(Counter(dag_id for dag_id, _ in soak.runs).items())),
            },
            "jobs": {
                "total": len(self.jobs),
                "by_status": dict(Counter(j["Status"] for j in self.jobs.values())),
            },
            "faults": {
                "injected_by_kind": dict(sorted(Counter(f["kind"] for f in soak.faults if f["ok"]).items())),
                "not_injected_by_kind": dict(
                    sorted(Counter(f["kind"] for f in soak.faults if not f["ok"]).items())
                ),
                "schedule": soak.faults,
            },
            "violations_by_kind": dict(sorted(Counter(v.kind for v in self.violations).items())),
            "violations": [asdict(violation) for violation in self.violations],
            "unknown_violations": sum(violation.known_defect is None for violation in self.violations),
            "failures_by_error": dict(Counter(short_error(f["error"]) for f in failures).most_common()),
            "failures_by_known_defect": dict(Counter(str(f["known_defect"]) for f in failures).most_common()),
            "failures_unexplained": [f for f in failures if f["known_defect"] is None],
            "failures": failures,
            "components_exited_unkilled": soak.exits,
            "airflow_limits": {"queued_never_started": self.queued_never_started},
            "notes": soak.notes,
        }


def short_error(line: str) -> str:
    """An error line without its timestamps, IDs and numbers, to group failures by cause."""
    line = re.sub(r"^\S*\d{4}-\d\d-\d\d\S*\s*", "", line)
    line = re.sub(r"soak[\w.-]*", "<id>", line)
    return re.sub(r"\d+(\.\d+)?", "N", line)[:200]


def summary(report: dict[str, Any]) -> str:
    """The report as text for a person."""
    lines = [
        f"chaos soak: seed {report['seed']}, {report['minutes']} minutes",
        f"runs started {report['runs']['started']}, finished by state {report['runs']['finished_by_state']}",
        f"jobs {report['jobs']}",
        f"faults injected {report['faults']['injected_by_kind']}",
        f"faults not injected {report['faults']['not_injected_by_kind']}",
        f"timings {report.get('timings', {})}",
        f"violations {len(report['violations'])} by kind {report['violations_by_kind']}"
        f" ({report['unknown_violations']} not explained by a known defect)",
    ]
    for violation in report["violations"]:
        where = "/".join(
            str(part) for part in (violation["dag_id"], violation["run_id"], violation["task_id"]) if part
        )
        index = f"[{violation['map_index']}]" if violation["map_index"] >= 0 else ""
        known = f" (known defect: {violation['known_defect']})" if violation["known_defect"] else ""
        lines.append(f"  {violation['kind']}: {where}{index} job {violation['job_id'] or '-'}{known}")
        lines.append(f"    evidence: {json.dumps(violation['evidence'], default=str)[:1500]}")
    for exited in report["components_exited_unkilled"]:
        lines.append(f"component exited or hung without a fault: {json.dumps(exited)[:600]}")
    for task in report["airflow_limits"]["queued_never_started"]:
        lines.append(f"airflow limit, a task queued whose try never started: {json.dumps(task)}")
    lines.append(f"task failures not marked by the chaos: {len(report['failures'])}")
    lines.append(f"  by known defect: {report['failures_by_known_defect']}")
    for error, count in report["failures_by_error"].items():
        lines.append(f"  {count} x {error}")
    for failure in report["failures_unexplained"][:20]:
        lines.append(f"  no known defect explains: {json.dumps(failure)[:600]}")
    for note in report["notes"][:20]:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], name: str) -> Path:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    (REPORT_DIR / f"{name}.txt").write_text(summary(report))
    return path


def keep_evidence(stack: AirflowStack, report: dict[str, Any], name: str) -> None:
    """Copy the component logs and the logs of every run a violation names next to the report."""
    target = REPORT_DIR / f"{name}-logs"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(stack.home / "processes", target / "processes")
    for violation in report["violations"][:50]:
        if violation["dag_id"] and violation["run_id"]:
            source = stack.home / "logs" / f"dag_id={violation['dag_id']}" / f"run_id={violation['run_id']}"
            if source.exists():
                shutil.copytree(source, target / source.relative_to(stack.home / "logs"), dirs_exist_ok=True)


@contextlib.contextmanager
def own_deployment(root: Path) -> Iterator[tuple[AirflowStack, EmulatorProcess]]:
    """An emulator and a distributed deployment of the soak's own, under ``root``."""
    emulator = EmulatorProcess.start(
        root / "emulator.log", "--job-duration", "3", "--pending-duration", "0.5"
    )
    try:
        prepare_emulator(emulator)
        with distributed_deployment(root / "distributed", emulator) as stack:
            yield stack, emulator
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 60)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", DEFAULT_SEED)))
    arguments = parser.parse_args(argv)
    settings = SoakSettings(minutes=arguments.minutes, seed=arguments.seed)
    root = Path(tempfile.mkdtemp(prefix="airflow-soak-"))
    name = f"soak-seed{settings.seed}-{settings.minutes:g}min"
    print(f"soak: seed {settings.seed}, {settings.minutes:g} minutes, stack under {root}", flush=True)
    try:
        with own_deployment(root) as (stack, emulator):
            report = Soak(stack, emulator, settings).run()
            path = write_report(report, name)
            if report["violations"]:
                keep_evidence(stack, report, name)
    finally:
        if os.environ.get("SOAK_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)
    print(summary(report), end="")
    print(f"report: {path} and {path.with_suffix('.txt')}")
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
