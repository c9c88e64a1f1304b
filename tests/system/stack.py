"""A real Airflow (scheduler, triggerers, API server, DAG processor; LocalExecutor, or CeleryExecutor workers on
Redis) on PostgreSQL, for system tests. Every process is started here, in its own session and with its own
``AIRFLOW_HOME``, and is stopped here."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy

REPOSITORY = Path(__file__).resolve().parents[2]
FINISHED_RUN_STATES = frozenset({"success", "failed"})
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# A deployment scaled out as users scale it: two Celery workers and two triggerers, each its own process.
DISTRIBUTED_COMPONENTS = (
    "api-server",
    "scheduler",
    "dag-processor",
    "triggerer-1",
    "triggerer-2",
    "celery-worker-1",
    "celery-worker-2",
)
CELERY_WORKER_CONCURRENCY = 3


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "") -> Any:
    """Call ``condition`` until it returns something truthy; raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


def pids_with_environment(marker: str) -> list[int]:
    """Processes whose environment holds ``marker``: everything a stack started, however deep."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _signal_pids(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def stop_processes_by_marker(marker: str, grace: float = 10.0) -> list[int]:
    """SIGTERM every process carrying ``marker`` in its environment, SIGKILL those left after ``grace``."""
    pids = pids_with_environment(marker)
    _signal_pids(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (left := pids_with_environment(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal_pids(left, signal.SIGKILL)
    return left


# -- the metadata database ------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """Where Debian's PostgreSQL server binaries are, or None if PostgreSQL is not installed."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresCluster:
    """
    A private PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 and a unix socket there.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user.

    :param bin_dir: The folder of ``initdb``, ``pg_ctl`` and ``postgres``.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="airflow-system-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            # The cluster's owner must reach its folder; the folder holds nothing but the cluster.
            shutil.chown(self.root, "postgres", "postgres")
            self.root.chmod(0o700)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def user(self) -> str:
        return "postgres" if self._as_user else os.environ.get("USER", "postgres")

    def url(self, database: str = "airflow") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = 120) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, timeout=timeout)

    def start(self) -> PostgresCluster:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            # Durability is not what these tests are about; speed on a shared 2-core machine is.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._run(
            str(self.bin_dir / "psql"),
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            "postgres",
            "-c",
            "CREATE DATABASE airflow",
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """
    Debian's ``redis-server`` on a free port of 127.0.0.1, with its own configuration in a temporary folder.

    :param executable: The ``redis-server`` binary.
    """

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.root = Path(tempfile.mkdtemp(prefix="airflow-system-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        config = self.root / "redis.conf"
        # A broker for one test session: nothing to persist, nothing to reach from elsewhere.
        config.write_text(
            f'port {self.port}\nbind 127.0.0.1\nprotected-mode yes\ndaemonize no\nsave ""\n'
            f"appendonly no\ndir {self.root}\nlogfile {self.root / 'redis.log'}\n"
        )
        self.process = subprocess.Popen([self.executable, str(config)], start_new_session=True)
        wait_until(self._answers, 30, 0.2, "redis-server")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {(self.root / 'redis.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


# -- the emulator in its own process --------------------------------------------------------------


@dataclass
class EmulatorProcess:
    """The Amazon ML emulator run with its CLI: ``python -m amazon_ml_emulator``."""

    process: subprocess.Popen[str]
    endpoint_url: str
    s3_endpoint_url: str
    connection: dict[str, Any]

    @classmethod
    def start(cls, log_path: Path, *arguments: str) -> EmulatorProcess:
        environment = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "amazon_ml_emulator", "--connection-env", *arguments],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=environment,
                start_new_session=True,
            )
        stdout = process.stdout
        assert stdout is not None
        # Its first two lines say where it listens; a reader thread keeps the wait for them bounded.
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.extend(stdout.readline() for _ in range(2)), daemon=True
        )
        reader.start()
        reader.join(60)
        endpoints, connection_line = [*lines, "", ""][:2]
        if not connection_line.startswith("AIRFLOW_CONN_AWS_DEFAULT="):
            process.kill()
            raise RuntimeError(f"the emulator did not start: {endpoints!r} {log_path.read_text()[-2000:]}")
        # "Amazon ML emulator: http://127.0.0.1:P (S3: http://127.0.0.1:Q)"
        endpoint_url = endpoints.split(": ", 1)[1].split(" ")[0]
        s3_endpoint_url = endpoints.rsplit("S3: ", 1)[1].rstrip(")\n")
        # The line is quoted for the shell, to be pasted after `export`.
        connection = json.loads(shlex.split(connection_line.split("=", 1)[1])[0])
        return cls(process, endpoint_url, s3_endpoint_url, connection)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# -- Airflow ---------------------------------------------------------------------------------------


@dataclass
class Component:
    """One running Airflow command and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class AirflowStack:
    """
    A running Airflow: scheduler, triggerer, API server and DAG processor with the LocalExecutor.

    :param home: Its ``AIRFLOW_HOME``; task logs are under ``home / "logs"``.
    :param environment: The environment every component runs with.
    :param api_url: The API server's base URL.
    :param database: ``postgresql`` or ``sqlite``: what the metadata database is.
    :param database_url: The SQLAlchemy URL of the metadata database.
    """

    home: Path
    environment: dict[str, str]
    api_url: str
    database: str
    database_url: str
    components: dict[str, Component] = field(default_factory=dict)
    token: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return f"AIRFLOW_HOME={self.home}"

    def airflow(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this stack and return what it did."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def component_arguments(self, name: str) -> list[str]:
        """The ``airflow`` arguments of a component; ``triggerer-N`` and ``celery-worker-N`` are one of several."""
        if name == "api-server":
            port = self.api_url.rsplit(":", 1)[1]
            return ["api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1"]
        # Several on one host would all serve their logs on one port; the API server reads the files instead.
        if name.startswith("celery-worker-"):
            concurrency = str(CELERY_WORKER_CONCURRENCY)
            return [
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--concurrency",
                concurrency,
                "--skip-serve-logs",
            ]
        if name.startswith("triggerer-"):
            return ["triggerer", "--skip-serve-logs"]
        return [name]

    def start_component(self, name: str) -> Component:
        """Start the component in its own session, its output in ``home/processes/<name>.log``."""
        log_path = self.home / "processes" / f"{name}.log"
        log_path.parent.mkdir(exist_ok=True)
        # Airflow records a job's unixname from LOGNAME: it tells which triggerer holds which trigger.
        environment = {**self.environment, "LOGNAME": name}
        with log_path.open("a") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self.component_arguments(name)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.components[name] = component = Component(name, process, log_path)
        return component

    def signal_component(self, name: str, signum: int) -> None:
        """Send ``signum`` to the component's whole process group (it and the processes it spawned)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.components[name].process.pid, signum)

    def kill_component(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the component's process group and wait until the component exited."""
        self.signal_component(name, signum)
        self.components[name].process.wait(30)

    def stop(self) -> list[int]:
        """Stop every component, then anything else this stack started; return the PIDs that needed SIGKILL."""
        for component in self.components.values():
            if component.process.poll() is None:
                self.signal_component(component.name, signal.SIGTERM)
                # A component a test left stopped (SIGSTOP) handles SIGTERM only once continued.
                self.signal_component(component.name, signal.SIGCONT)
        deadline = time.monotonic() + 15
        for component in self.components.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(max(0.1, deadline - time.monotonic()))
        return stop_processes_by_marker(self.marker, grace=5)

    # -- REST API v2 --

    def request(self, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
        """
        Call the public REST API (``/api/v2/...``) with the stack's token; return the decoded JSON.

        The API server also serves every task's execution API: under load its answers take tens of seconds.
        """
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: HTTP {error.code} {error.read()[:2000]!r}") from error
        return json.loads(payload) if payload else None

    def fetch_token(self) -> str:
        """A token of the simple auth manager, which hands one out freely when every user is admin."""
        with urllib.request.urlopen(f"{self.api_url}/auth/token", timeout=10) as response:
            self.token = json.loads(response.read())["access_token"]
        return self.token

    def api_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120) -> None:
        def parsed() -> bool:
            found = {dag["dag_id"] for dag in self.request("GET", "/api/v2/dags?limit=100")["dags"]}
            return set(dag_ids) <= found

        wait_until(parsed, timeout, 1.0, f"the DAG processor to parse {dag_ids}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Start a DAG run through the API; return its run ID."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run_states(self, dag_id: str, run_ids: list[str]) -> dict[str, str]:
        """Run ID to state, of those of ``run_ids`` the API lists."""
        # Page by page: the API answers at most `[api] maximum_page_limit` (100) runs at a time.
        states: dict[str, str] = {}
        offset = 0
        while True:
            page = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&offset={offset}")
            states.update((run["dag_run_id"], run["state"]) for run in page["dag_runs"])
            offset += len(page["dag_runs"])
            if not page["dag_runs"] or offset >= page["total_entries"]:
                return {run_id: state for run_id, state in states.items() if run_id in run_ids}

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Wait until every run finished; return run ID to final state."""

        def finished() -> dict[str, str] | None:
            states = self.run_states(dag_id, run_ids)
            done = len(states) == len(run_ids) and all(s in FINISHED_RUN_STATES for s in states.values())
            return states if done else None

        return wait_until(finished, timeout, 1.0, f"runs of {dag_id} to finish")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """``task_id`` (with ``[map_index]`` when mapped) to the API's task instance."""
        instances = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")
        return {
            ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]": ti
            for ti in instances["task_instances"]
        }

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            instance = self.task_instances(dag_id, run_id).get(task_id)
            return instance if instance and instance["state"] in states else None

        return wait_until(reached, timeout, 0.5, f"{dag_id}/{run_id}/{task_id} to be in {states}")

    def wait_for_deferred(self, dag_id: str, run_ids: list[str], task_id: str, timeout: float) -> None:
        """
        Wait until the task of every run is deferred and the scheduler has heard that its worker exited.

        Only then may a test let the trigger fire. The deferring execution and the resumed one share one
        executor key, so if the worker's exit reaches the scheduler after the resumed execution started,
        Airflow fails the task as "state changed externally". Under load the supervisor can notice the exit
        up to ``[workers] min_heartbeat_interval`` (5 s) late, while a job released at once ends in 0.5 s.
        """
        for run_id in run_ids:
            self.wait_for_task_state(dag_id, run_id, task_id, {"deferred"}, timeout)

        def exits_seen() -> bool:
            # The scheduler's line about the worker's exit, logged while the task was still deferred.
            log = self.component_log("scheduler")
            return all(
                re.search(f"TaskInstance Finished: {re.escape(names)}, .*, state=deferred,", log)
                for names in (f"dag_id={dag_id}, task_id={task_id}, run_id={run_id}" for run_id in run_ids)
            )

        wait_until(exits_seen, timeout, 0.5, f"the scheduler to see the deferred {task_id} workers exit")

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of a task instance, oldest first."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        return sorted(self.request("GET", path)["task_instances"], key=lambda ti: ti["try_number"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", f"{path}?deserialize=true&stringify=false")["value"]

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, new_state: str) -> Any:
        return self.request(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
            {"new_state": new_state},
        )

    # -- what the run left behind --

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log files of one try, trigger log lines included when the triggerer wrote them."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        paths = sorted(folder.glob(f"attempt={try_number}.log*"))
        return "\n".join(path.read_text(errors="replace") for path in paths)

    def trigger_log_files(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[Path]:
        """The log files the triggerers wrote for a try, one per triggerer job that ran its trigger."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob(f"attempt={try_number}.log.trigger.*.log"))

    def fired_events(self, dag_id: str, run_id: str, task_id: str, entity_id: str) -> set[str]:
        """
        The moments a trigger fired an event about ``entity_id`` for a task, from every log that may hold it.

        The triggerer writes the line to the task's trigger log, or to its own log when the task's log
        handler is already closed; the same moment found in both counts once.
        """
        logs = [
            *(path.read_text(errors="replace") for path in self.trigger_log_files(dag_id, run_id, task_id)),
            *(self.component_log(name) for name in self.components if name.startswith("triggerer")),
        ]
        moments = set()
        for log in logs:
            for line in log.splitlines():
                if "Trigger fired event" in line and entity_id in line:
                    moment = re.search(r"\d{4}-\d\d-\d\dT[\d:.]+", line)
                    moments.add(moment.group(0) if moment else line)
        return moments

    def trigger_shares(self, dag_id: str) -> dict[str, int]:
        """Triggers of ``dag_id`` each triggerer holds, by component name (the job's unixname, see :meth:`start_component`)."""
        # Only the triggers of deferred task instances: a try that failed while deferred (a worker's missed
        # heartbeat under load) leaves its trigger row until the triggerer cleans unused ones up. Only the
        # DAG's own: the scheduler also runs the scheduled DAGs of the tests' folder.
        rows = self.database_rows(
            "SELECT job.unixname, count(*) FROM trigger JOIN job ON job.id = trigger.triggerer_id "
            "JOIN task_instance ON task_instance.trigger_id = trigger.id "
            "WHERE task_instance.state = 'deferred' AND task_instance.dag_id = :dag_id "
            "GROUP BY job.unixname",
            dag_id=dag_id,
        )
        return {name: count for name, count in rows}

    def component_log(self, name: str) -> str:
        return (self.home / "processes" / f"{name}.log").read_text(errors="replace")

    def database_rows(self, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on the metadata database, ``:name`` in it bound to ``parameters[name]``."""
        engine = sqlalchemy.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sqlalchemy.text(query), parameters)]
        finally:
            engine.dispose()

    def database_dump(self) -> str:
        """Every row of every table of the metadata database, as text: for searching it for secrets."""
        if self.database == "sqlite":
            tables = [
                row[0] for row in self.database_rows("SELECT name FROM sqlite_master WHERE type='table'")
            ]
        else:
            tables = [
                row[0]
                for row in self.database_rows(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            ]
        parts = []
        for table in tables:
            for row in self.database_rows(f'SELECT * FROM "{table}"'):
                parts.append(f"{table}: {row!r}")
        return "\n".join(parts)


def airflow_environment(
    home: Path,
    dags_folder: Path,
    database_url: str,
    api_port: int,
    connection: dict[str, Any],
    extra: dict[str, str],
) -> dict[str, str]:
    """The environment of every component: fast loops, the LocalExecutor and the emulator's connection."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AWS_", "PYTEST_")) and key != "AIRFLOW_HOME"
    }
    api_url = f"http://127.0.0.1:{api_port}"
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        # Modules beside the DAG files (trigger classes) must import in the triggerer too.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(dags_folder), os.environ.get("PYTHONPATH")])),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # A 2-core machine: more worker processes than this only thrash.
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "200",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "200",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        # Each DAG file is parsed once at start: nothing changes them during a session.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
        # A killed triggerer's triggers move to a live one after a few seconds, not half a minute.
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        # A worker's supervisor may report a deferring task's exit this late; a trigger firing before that
        # report fails the resumed task as "state changed externally" (see RELIABILITY.md): keep it short.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
        "AIRFLOW__TRIGGERER__RUNNER_HEALTH_CHECK_THRESHOLD": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        # boto must never reach for credentials or a region outside the connection.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def start_airflow(
    home: Path,
    dags_folder: Path,
    connection: dict[str, Any],
    postgres: PostgresCluster | None,
    extra_environment: dict[str, str],
    components: tuple[str, ...] = COMPONENTS,
) -> AirflowStack:
    """Migrate the metadata database, start the components and wait until the API answers."""
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    if postgres is not None:
        database, database_url = "postgresql", postgres.url()
    else:
        database, database_url = "sqlite", f"sqlite:///{home / 'airflow.db'}"
    api_port = free_port()
    stack = AirflowStack(
        home=home,
        environment=airflow_environment(
            home, dags_folder, database_url, api_port, connection, extra_environment
        ),
        api_url=f"http://127.0.0.1:{api_port}",
        database=database,
        database_url=database_url,
    )
    migrated = stack.airflow("db", "migrate")
    if migrated.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}"
        )
    stack.timings["migrate_seconds"] = time.monotonic() - started
    for name in components:
        stack.start_component(name)

    def api_up() -> bool:
        for component in stack.components.values():
            if component.process.poll() is not None:
                raise RuntimeError(f"{component.name} exited:\n{component.log_path.read_text()[-4000:]}")
        return stack.api_ready()

    wait_until(api_up, 180, 1.0, "the API server")
    stack.fetch_token()
    stack.timings["start_seconds"] = time.monotonic() - started
    return stack


def celery_environment(redis: RedisServer, postgres: PostgresCluster) -> dict[str, str]:
    """The CeleryExecutor's settings: tasks queued on Redis, their results kept in the metadata database."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{postgres.url()}",
    }


@contextlib.contextmanager
def running_stack(
    home: Path,
    dags_folder: Path,
    connection: dict[str, Any],
    extra_environment: dict[str, str] | None = None,
    use_postgres: bool = True,
    distributed: bool = False,
) -> Iterator[AirflowStack]:
    """
    A started :class:`AirflowStack`, stopped afterwards.

    The metadata database is a private PostgreSQL cluster when the server and ``psycopg2`` are installed,
    else SQLite (which Airflow 3.3 accepts with the LocalExecutor); ``stack.database`` says which.
    ``distributed`` runs :data:`DISTRIBUTED_COMPONENTS` with the CeleryExecutor on a private Redis, and
    needs PostgreSQL and ``redis-server`` (``scripts/install-system-deps.sh`` installs both).
    """
    with contextlib.ExitStack() as resources:
        postgres = None
        bin_dir = postgres_bin_dir() if use_postgres else None
        if bin_dir and importlib.util.find_spec("psycopg2") and importlib.util.find_spec("asyncpg"):
            try:
                postgres = PostgresCluster(bin_dir).start()
                resources.callback(postgres.stop)
            except (OSError, subprocess.SubprocessError) as error:
                warnings.warn(f"PostgreSQL did not start ({error}); using SQLite", stacklevel=2)
        elif use_postgres:
            warnings.warn("PostgreSQL server, psycopg2 or asyncpg is missing; using SQLite", stacklevel=2)
        environment = dict(extra_environment or {})
        components = COMPONENTS
        if distributed:
            redis_server = shutil.which("redis-server")
            if postgres is None or redis_server is None:
                raise RuntimeError(
                    "the distributed stack needs PostgreSQL and redis-server: run make system-deps"
                )
            redis = RedisServer(redis_server).start()
            resources.callback(redis.stop)
            environment = {**celery_environment(redis, postgres), **environment}
            components = DISTRIBUTED_COMPONENTS
        # Runs before the database and the broker stop, after the stack stopped what it knows of.
        resources.callback(stop_processes_by_marker, f"AIRFLOW_HOME={home}")
        stack = start_airflow(home, dags_folder, connection, postgres, environment, components)
        resources.callback(stack.stop)
        yield stack
