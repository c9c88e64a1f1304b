"""Run DAGs end to end against the local emulator with ``airflow dags test`` and read back what happened.

Each run gets its own ``AIRFLOW_HOME``, copied from one migrated template so that only the first pays
for ``airflow db migrate``; the AWS connection points every client at the emulator.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

DATABASE = "airflow.db"


def airflow_environment(home: Path, dags_folder: Path, connection_json: str | None) -> dict[str, str]:
    """The environment of an Airflow command that uses ``home`` and reaches the emulator."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AWS_")) and key != "AIRFLOW_HOME"
    }
    environment.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        # boto must never reach for credentials or a region outside the connection.
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    if connection_json is not None:
        environment["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json
    return environment


def airflow_command(*arguments: str) -> list[str]:
    """The ``airflow`` command of the running interpreter's environment."""
    return [sys.executable, "-m", "airflow", *arguments]


def migrated_home(template: Path, home: Path) -> Path:
    """Give ``home`` a migrated metadata database, migrating ``template`` once if it has none."""
    if not (template / DATABASE).exists():
        template.mkdir(parents=True, exist_ok=True)
        environment = airflow_environment(template, template / "dags", None)
        # The command is this interpreter's airflow with fixed arguments.
        subprocess.run(airflow_command("db", "migrate"), env=environment, check=True, capture_output=True)  # noqa: S603
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / DATABASE, home / DATABASE)
    return home


@dataclass
class DagRunResult:
    """
    What one ``airflow dags test`` run did, read from its metadata database.

    :param returncode: The command's exit code.
    :param output: Everything the command printed (also in ``dags-test.log`` in its home).
    :param state: The DAG run's final state.
    :param task_states: ``task_id`` (with ``[map_index]`` when mapped) to final state.
    :param tries: ``task_id`` (likewise) to the number of tries made.
    :param xcoms: ``(task_id, key)`` (likewise) to the deserialized value.
    """

    returncode: int
    output: str
    state: str | None = None
    task_states: dict[str, str | None] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """True when the run and all its tasks succeeded (or were skipped by design)."""
        return self.state == "success" and all(
            state in ("success", "skipped") for state in self.task_states.values()
        )


def _json_value(value: Any) -> Any:
    # SQLite hands back numbers stored in a JSON column as numbers, everything else as text.
    return json.loads(value) if isinstance(value, str | bytes) else value


def _task_key(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def read_dag_run(home: Path, dag_id: str) -> dict[str, Any]:
    """The state, task states, tries and XComs of the latest run of ``dag_id`` in ``home``."""
    with sqlite3.connect(home / DATABASE) as database:
        row = database.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if row is None:
            return {}
        run_id, state = row
        instances = database.execute(
            "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
        xcoms = database.execute(
            "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
    return {
        "state": state,
        "task_states": {_task_key(task_id, index): task_state for task_id, index, task_state, _ in instances},
        "tries": {_task_key(task_id, index): tries for task_id, index, _, tries in instances},
        "xcoms": {
            (_task_key(task_id, index), key): _json_value(value) for task_id, index, key, value in xcoms
        },
    }


@functools.cache
def _dags_test_writes_the_dag() -> bool:
    """Whether this environment's ``airflow dags test`` writes the DAG to the database itself (3.3 on)."""
    release = re.match(r"(\d+)\.(\d+)", version("apache-airflow"))
    return release is not None and (int(release[1]), int(release[2])) >= (3, 3)


def is_serialized(home: Path, dag_id: str) -> bool:
    """Whether ``home``'s metadata database holds ``dag_id``, as a DAG processor or ``dags reserialize`` left it."""
    with sqlite3.connect(home / DATABASE) as database:
        row = database.execute("SELECT 1 FROM serialized_dag WHERE dag_id = ? LIMIT 1", (dag_id,)).fetchone()
    return row is not None


def _run_environment(
    home: Path,
    dags_folder: Path,
    connection_json: str,
    extra_environment: dict[str, str] | None,
    dag_ids: list[str],
    timeout: float,
) -> dict[str, str]:
    """The environment of ``dags test`` runs of ``dag_ids``, their DAGs in the database where the command needs it."""
    environment = {**airflow_environment(home, dags_folder, connection_json), **(extra_environment or {})}
    if not _dags_test_writes_the_dag() and not all(is_serialized(home, dag_id) for dag_id in dag_ids):
        # Before 3.3, ``dags test`` may read the DAG (mapped tasks, assets) from the database, where no DAG
        # processor put it.
        reserialize = airflow_command("dags", "reserialize")
        subprocess.run(reserialize, env=environment, check=True, capture_output=True, timeout=timeout)  # noqa: S603
    return environment


def _run_logged(command: list[str], environment: dict[str, str], log_path: Path, timeout: float) -> int:
    """Run ``command`` with its output in ``log_path``; its exit code."""
    # Output goes to a file, not a pipe: task processes that outlive a killed run must not hang us.
    with log_path.open("w") as log:
        completed = subprocess.run(  # noqa: S603 - this interpreter's airflow, arguments built by the callers
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    return completed.returncode


def run_dag_test(
    dag_id: str,
    *,
    home: Path,
    dags_folder: Path,
    connection_json: str,
    conf: dict[str, Any] | None = None,
    extra_environment: dict[str, str] | None = None,
    timeout: float = 900,
) -> DagRunResult:
    """
    Run ``airflow dags test dag_id`` in a subprocess and read back the run.

    :param dag_id: The DAG to run.
    :param home: A migrated ``AIRFLOW_HOME`` (see :func:`migrated_home`).
    :param dags_folder: The folder holding the DAG file.
    :param connection_json: The ``aws_default`` connection as JSON.
    :param conf: The DAG run's configuration.
    :param extra_environment: More environment variables for the run.
    :param timeout: Seconds before the run is killed.
    """
    environment = _run_environment(home, dags_folder, connection_json, extra_environment, [dag_id], timeout)
    log_path = home / "dags-test.log"
    command = airflow_command("dags", "test", dag_id, "--conf", json.dumps(conf or {}))
    returncode = _run_logged(command, environment, log_path, timeout)
    return DagRunResult(returncode, log_path.read_text(), **read_dag_run(home, dag_id))


# What the process of :func:`run_dag_tests` prints around each DAG's run.
MARKER = "amazon-ml-dag-runner:"


def run_dag_tests(
    dag_ids: list[str],
    *,
    home: Path,
    dags_folder: Path,
    connection_json: str,
    extra_environment: dict[str, str] | None = None,
    timeout: float = 900,
) -> dict[str, DagRunResult]:
    """
    Run each DAG as ``airflow dags test`` does, one after another in one process, and read back each run.

    Airflow's imports and its in-process API server are paid once instead of once per DAG (about 15 s each).
    One DAG failing does not stop the others; the process is killed after ``timeout`` seconds in all.
    The parameters are those of :func:`run_dag_test`.
    """
    environment = _run_environment(home, dags_folder, connection_json, extra_environment, dag_ids, timeout)
    log_path = home / "dags-test.log"
    command = [sys.executable, "-m", __name__, *dag_ids]
    returncode = _run_logged(command, environment, log_path, timeout)
    outputs: dict[str, list[str]] = {}
    codes: dict[str, int] = {}
    current = None
    for line in log_path.read_text().splitlines(keepends=True):
        if line.startswith(MARKER):
            event, dag_id, *code = line.removeprefix(MARKER).split()
            current = dag_id if event == "start" else None
            if code:
                codes[dag_id] = int(code[0])
        elif current is not None:
            outputs.setdefault(current, []).append(line)
    return {
        dag_id: DagRunResult(
            # A DAG the process did not finish gets the process's exit code, or 1.
            codes.get(dag_id, returncode or 1),
            "".join(outputs.get(dag_id, [])),
            **read_dag_run(home, dag_id),
        )
        for dag_id in dag_ids
    }


def _test_dags(dag_ids: list[str]) -> int:
    """``airflow dags test`` of each DAG in this process, each run between two :data:`MARKER` lines."""
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    failed = False
    for dag_id in dag_ids:
        print(MARKER, "start", dag_id, flush=True)
        arguments = parser.parse_args(["dags", "test", dag_id])
        try:
            arguments.func(arguments)
            code = 0
        except SystemExit as stop:  # how ``dags test`` reports a failed run: a message, or a code
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except Exception:  # reported here, and the next DAG runs
            traceback.print_exc()
            code = 1
        print(MARKER, "end", dag_id, code, flush=True)
        failed = failed or code != 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(_test_dags(sys.argv[1:]))
