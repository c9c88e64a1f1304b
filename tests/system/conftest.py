"""Fixtures of the system tests: one real Airflow and one emulator process for the session, per-test resets,
and the figures each test records for ``RELIABILITY.md`` (``build/reliability/figures.json``)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_ml_provider.utils.validation import derive_entity_id
from amazon_ml_emulator import EmulatorClient, datasets
from tests.system.stack import (
    REPOSITORY,
    AirflowStack,
    EmulatorProcess,
    pids_with_environment,
    running_stack,
    wait_until,
)

BUCKET = "reliability"
ML_MODEL_ID = "reliability-model"
DATA_SOURCE_ID = "reliability-records"
OUTPUT_URI = f"s3://{BUCKET}/predictions/"
# A secret nobody would type: the security test looks for it in everything a run leaves behind.
CANARY_SECRET = "canary-7Hq2xZ-not-for-logs-93fK"
CANARY_ACCESS_KEY = "AKIACANARYRELIABILITY"
# Jobs stay INPROGRESS while job_duration is HOLD, and finish soon after it is set to RELEASE: tests
# hold jobs until Airflow is in the state a fault needs, instead of guessing how long that takes.
HOLD = 1_000_000.0
RELEASE = 0.5
EMULATOR_DEFAULTS = {
    "job_duration": 1.0,
    "pending_duration": 0.2,
    "concurrency_limit": 25,
    "throttle_rate": 0.0,
    "error_rate": 0.0,
    "latency": 0.0,
    "operations": None,
    "unavailable": False,
}
FIGURES_PATH = Path(
    os.environ.get("RELIABILITY_FIGURES", REPOSITORY / "build" / "reliability" / "figures.json")
)
DAG_FILES = [
    REPOSITORY / "example_dags" / "example_batch_prediction.py",
    *sorted((REPOSITORY / "tests" / "dags").glob("*.py")),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "system: runs a real Airflow (scheduler, triggerer, API server)")
    config.addinivalue_line("markers", "after_all_runs: runs once every other system test has run")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The search for leaked secrets must see everything the other system tests made the stack write; it
    # moves behind them, not behind the whole suite, so the stack stops as soon as the system tests end.
    system = [index for index, item in enumerate(items) if "tests/system/" in item.nodeid]
    if system:
        first, last = system[0], system[-1] + 1
        items[first:last] = sorted(
            items[first:last], key=lambda item: item.get_closest_marker("after_all_runs") is not None
        )


class Figures:
    """What each test injected and observed; written to ``build/reliability/figures.json``."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.session: dict[str, Any] = {}

    def record(self, name: str, **figures: Any) -> None:
        self.entries[name] = figures

    def write(self) -> None:
        FIGURES_PATH.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(FIGURES_PATH.read_text()) if FIGURES_PATH.exists() else {}
        # A partial run updates its own entries and keeps the others of the last full run.
        entries = {**previous.get("tests", {}), **self.entries}
        FIGURES_PATH.write_text(
            json.dumps(
                {"session": {**previous.get("session", {}), **self.session}, "tests": entries}, indent=2
            )
            + "\n"
        )


_figures = Figures()


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    yield _figures
    _figures.write()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _figures.entries:
        return
    terminalreporter.section("reliability figures")
    terminalreporter.write_line(f"stack: {json.dumps(_figures.session, sort_keys=True)}")
    for name, entry in _figures.entries.items():
        terminalreporter.write_line(f"{name}: {json.dumps(entry, sort_keys=True)}")
    terminalreporter.write_line(f"written to {FIGURES_PATH}")


# What the system tests start for the session; closed right after the last system test (not at the end of
# the whole run), so that no Airflow process idles beside the tests that follow.
_session_resources = contextlib.ExitStack()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if "tests/system/" in item.nodeid and (nextitem is None or "tests/system/" not in nextitem.nodeid):
        _session_resources.close()


@pytest.fixture(scope="session")
def system_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="airflow-system-"))
    # RELIABILITY_KEEP=1 keeps the logs and homes of the run for a post-mortem.
    if os.environ.get("RELIABILITY_KEEP") != "1":
        _session_resources.callback(shutil.rmtree, root, ignore_errors=True)
    yield root
    _session_resources.close()


@pytest.fixture(scope="session")
def emulator_process(system_root: Path) -> Iterator[EmulatorProcess]:
    """The emulator, started with its CLI in a process of its own, with a trained model to score with."""
    process = EmulatorProcess.start(
        system_root / "emulator.log", "--job-duration", "1", "--pending-duration", "0.2"
    )
    _session_resources.callback(process.stop)
    prepare_emulator(process)
    yield process
    _session_resources.close()


def prepare_emulator(process: EmulatorProcess) -> None:
    """Give a fresh emulator the bucket, the data source and the trained model the DAGs score with."""
    ml, s3 = service_clients(process)
    s3.create_bucket(Bucket=BUCKET)
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    s3.put_object(Bucket=BUCKET, Key="data/records.csv", Body=csv_bytes)
    ml.create_data_source_from_s3(
        DataSourceId=DATA_SOURCE_ID,
        DataSpec={"DataLocationS3": f"s3://{BUCKET}/data/records.csv", "DataSchema": schema},
        ComputeStatistics=True,
    )
    ml.create_ml_model(MLModelId=ML_MODEL_ID, MLModelType="BINARY", TrainingDataSourceId=DATA_SOURCE_ID)
    wait_until(lambda: ml.get_ml_model(MLModelId=ML_MODEL_ID)["Status"] == "COMPLETED", 60, 0.2, "the model")


def service_clients(process: EmulatorProcess) -> tuple[Any, Any]:
    """boto3 clients of the emulator's Amazon ML and S3, for setting up and checking state."""
    credentials = {"region_name": "us-east-1", "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
    return (
        boto3.client("machinelearning", endpoint_url=process.endpoint_url, **credentials),
        boto3.client("s3", endpoint_url=process.s3_endpoint_url, **credentials),
    )


def stack_inputs(
    root: Path, emulator_process: EmulatorProcess
) -> tuple[Path, dict[str, Any], dict[str, str]]:
    """The DAGs folder, the ``aws_default`` connection and the environment of a stack under ``root``."""
    dags_folder = root / "dags"
    dags_folder.mkdir(parents=True)
    for path in DAG_FILES:
        shutil.copy(path, dags_folder / path.name)
    # The emulator's connection, with a known secret to hunt for in everything the runs write.
    connection = {
        **emulator_process.connection,
        "login": CANARY_ACCESS_KEY,
        "password": CANARY_SECRET,
    }
    defaults = {"ML_MODEL_ID": ML_MODEL_ID, "DATA_SOURCE_ID": DATA_SOURCE_ID, "OUTPUT_URI": OUTPUT_URI}
    # The DAGs' default params: the example's and the reliability DAGs' score the emulator's model.
    environment = {
        f"{prefix}_{key}": value for prefix in ("EXAMPLE", "RELIABILITY") for key, value in defaults.items()
    }
    return dags_folder, connection, environment


@pytest.fixture(scope="session")
def airflow_stack(
    system_root: Path, emulator_process: EmulatorProcess, figures: Figures
) -> Iterator[AirflowStack]:
    """A real Airflow on PostgreSQL (SQLite if PostgreSQL is not installed) whose ``aws_default`` is the emulator."""
    dags_folder, connection, environment = stack_inputs(system_root, emulator_process)
    started = time.monotonic()
    # RELIABILITY_DATABASE=sqlite runs the same tests on SQLite, the fallback when PostgreSQL is missing.
    use_postgres = os.environ.get("RELIABILITY_DATABASE", "postgresql") != "sqlite"
    home = system_root / "home"

    def check_nothing_left() -> None:
        # Everything the stack started carries its AIRFLOW_HOME: none of it may outlive the tests.
        figures.session["processes_left_after_teardown"] = len(pids_with_environment(f"AIRFLOW_HOME={home}"))
        _figures.write()

    _session_resources.callback(check_nothing_left)
    stack = _session_resources.enter_context(
        running_stack(home, dags_folder, connection, environment, use_postgres)
    )
    stack.wait_for_dags(["example_batch_prediction", "reliability_create_and_wait"], timeout=180)
    figures.session.update(
        database=stack.database,
        executor="LocalExecutor",
        components=list(stack.components),
        stack_start_seconds=round(time.monotonic() - started, 1),
    )
    yield stack
    _session_resources.close()


# -- the distributed deployment: CeleryExecutor, two workers, two triggerers ------------------------------

TRIGGERERS = ("triggerer-1", "triggerer-2")
# The seconds after which the scheduler fails a task whose worker stopped heartbeating (300 by default).
TASK_HEARTBEAT_TIMEOUT = 30
DISTRIBUTED_DAGS = [
    "distributed_sensor_waits",
    "distributed_wait_delete_on_kill",
    "distributed_slow_polls_delete_on_kill",
    "soak_mapped",
]


def triggerer_names(stack: AirflowStack) -> list[str]:
    """The component names of the triggerers that are alive by their heartbeat."""
    rows = stack.database_rows(
        "SELECT unixname FROM job WHERE job_type = 'TriggererJob' AND state = 'running' "
        "AND latest_heartbeat > now() - interval '10 seconds'"
    )
    return [name for (name,) in rows]


@contextlib.contextmanager
def distributed_deployment(root: Path, emulator_process: EmulatorProcess) -> Iterator[AirflowStack]:
    """
    Scheduler, API server, DAG processor, two Celery workers and two triggerers under ``root``, with the
    distributed and soak DAGs parsed and both triggerers heartbeating; stopped afterwards.
    """
    dags_folder, connection, environment = stack_inputs(root, emulator_process)
    markers = root / "markers"
    markers.mkdir()
    environment.update(
        DISTRIBUTED_MARKERS=str(markers),
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(TASK_HEARTBEAT_TIMEOUT),
        # Six task slots and one API server process on two shared cores: its answers can take seconds.
        AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="60",
    )
    with running_stack(root / "home", dags_folder, connection, environment, distributed=True) as stack:
        stack.wait_for_dags(DISTRIBUTED_DAGS, timeout=180)
        wait_until(lambda: set(TRIGGERERS) <= set(triggerer_names(stack)), 120, 1.0, "both triggerers")
        yield stack


@pytest.fixture(scope="session")
def distributed_stack(system_root: Path, emulator_process: EmulatorProcess, figures: Figures) -> AirflowStack:
    """
    The distributed deployment, shared by the distributed tests and the soak's short seed; stopped right
    after the last system test, before the emulator.
    """
    root = system_root / "distributed"

    def count_left() -> None:
        entry = figures.entries.setdefault("distributed_stack", {})
        entry["processes_left_after_teardown"] = len(pids_with_environment(f"AIRFLOW_HOME={root / 'home'}"))

    # Registered before the stack, so it runs once the stack has stopped.
    _session_resources.callback(count_left)
    started = time.monotonic()
    stack = _session_resources.enter_context(distributed_deployment(root, emulator_process))
    figures.record(
        "distributed_stack",
        database=stack.database,
        executor="CeleryExecutor",
        broker="redis-server",
        components=list(stack.components),
        stack_start_seconds=round(time.monotonic() - started, 1),
    )
    return stack


@pytest.fixture
def service(emulator_process: EmulatorProcess) -> Iterator[EmulatorClient]:
    """The emulator's controls, with default settings and zero counters before the test and after."""
    client = EmulatorClient(emulator_process.endpoint_url)
    client.configure(**EMULATOR_DEFAULTS)
    client.reset_call_counts()
    yield client
    client.configure(**EMULATOR_DEFAULTS)


@pytest.fixture(scope="session")
def ml_service(emulator_process: EmulatorProcess) -> Any:
    """A plain boto3 Amazon ML client of the emulator."""
    return service_clients(emulator_process)[0]


def jobs_of(ml_service: Any, dag_id: str, task_id: str = "create_batch_prediction") -> list[dict[str, Any]]:
    """Every batch prediction on the service whose derived ID says that ``dag_id.task_id`` created it."""
    prefix = derive_entity_id(dag_id, task_id, "any-run", -1).rsplit(".", 1)[0] + "."
    paginator = ml_service.get_paginator("describe_batch_predictions")
    return [
        job
        for page in paginator.paginate()
        for job in page["Results"]
        if job["BatchPredictionId"].startswith(prefix)
    ]
