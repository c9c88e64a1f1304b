"""The version matrix: each cell is its own virtualenv, installed from a committed lock, running the provider's tests.

``python scripts/matrix.py lock`` recompiles the lowest-version locks; ``python scripts/matrix.py run [cell ...]``
installs and tests cells (all by default), writing each cell's result and time to ``build/matrix/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPOSITORY / "constraints"
ENVIRONMENTS = REPOSITORY / ".matrix"
RESULTS = REPOSITORY / "build" / "matrix" / "results.json"
RESULTS_LOCK = threading.Lock()
UV = [sys.executable, "-m", "uv"]
# The local service the tests talk to: a workspace member, its own distribution.
EMULATOR = "amazon-ml-emulator"

# The provider's own tests; the emulator's tests and the real-stack system tests run in the main environment.
PROVIDER_TESTS = (
    "tests/hooks",
    "tests/operators",
    "tests/sensors",
    "tests/triggers",
    "tests/utils",
    "tests/reliability",
    "tests/test_packaging.py",
    "tests/example_dags",
)
# What the latest cells leave to the main environment, which runs the same Airflow: the DAG runs that only
# repeat on another Python what the example batch prediction DAG (kept) shows, to fit the CI budget.
HEAVY_TESTS = (
    "tests/example_dags/test_example_dags.py::test_example_ml_pipeline_trains_gates_and_scores",
    "tests/example_dags/test_example_dags.py::test_mapped_predictions_publish_an_asset_the_consumer_reads",
    "tests/sensors/test_modes_under_airflow.py",
)

# A Python between two cells that run everything: the provider's calls, waits and packaging, without the DAG runs
# and the reliability scenarios that repeat on it what the cells either side of it already show.
UNIT_TESTS = (
    "tests/hooks",
    "tests/operators",
    "tests/sensors",
    "tests/triggers",
    "tests/utils",
    "tests/test_packaging.py",
)

# Its one DAG run under Airflow (about 100 s on two shared cores), shown on 3.10 and 3.13.
UNIT_TESTS_LEAVE_OUT = (
    "tests/operators/test_realtime_endpoint.py::test_a_dag_deploys_predicts_and_undeploys_under_airflow",
)


@dataclass(frozen=True)
class Cell:
    """
    One environment of the matrix.

    :param name: The cell's name, also its virtualenv's folder under ``.matrix``.
    :param python: The pyenv version of its interpreter.
    :param lock: The lock it installs: a compiled constraints file, or None for the project's ``uv.lock``.
    :param everything: Whether it runs all of :data:`PROVIDER_TESTS`, or leaves out :data:`HEAVY_TESTS`.
    :param tests: The tests it runs, when not :data:`PROVIDER_TESTS`.
    :param leave_out: Tests of those it leaves out, beyond :data:`HEAVY_TESTS`.
    """

    name: str
    python: str
    lock: str | None = None
    everything: bool = False
    tests: tuple[str, ...] = PROVIDER_TESTS
    leave_out: tuple[str, ...] = ()

    @property
    def environment(self) -> Path:
        return ENVIRONMENTS / self.name

    @property
    def interpreter(self) -> Path:
        return self.environment / "bin" / "python"


CELLS = (
    Cell("airflow-2.11-lowest", "3.10.13", "airflow-2.11-lowest", everything=True),
    Cell("airflow-3.0-lowest", "3.10.13", "airflow-3.0-lowest", everything=True),
    Cell("latest-py3.10", "3.10.13"),
    Cell("latest-py3.12", "3.12.1", tests=UNIT_TESTS, leave_out=UNIT_TESTS_LEAVE_OUT),
    Cell("latest-py3.13", "3.13.0"),
)


def pyenv_python(version: str) -> str:
    """The interpreter of a pyenv version; uv cannot download one where only package registries answer."""
    prefix = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True, check=True)
    return str(Path(prefix.stdout.strip()) / "bin" / "python")


def compile_lock(cell: Cell) -> None:
    """
    Resolve the lowest direct dependencies of the provider, its extras and its tools under the cell's bounds.

    The emulator, a workspace member, is left out of the lock (its path would be absolute) but its own
    requirements are resolved into it; the cell installs it editable beside the provider.
    """
    assert cell.lock is not None
    overrides = CONSTRAINTS / f"{cell.lock}.overrides"
    command = [
        *UV,
        "pip",
        "compile",
        "pyproject.toml",
        f"constraints/{cell.lock}.in",
        "--all-extras",
        "--group=dev",
        f"--no-emit-package={EMULATOR}",
        "--resolution=lowest-direct",
        f"--python={pyenv_python(cell.python)}",
        f"--output-file=constraints/{cell.lock}.txt",
        "--quiet",
    ]
    if overrides.exists():
        command.append(f"--override=constraints/{overrides.name}")
    subprocess.run(command, cwd=REPOSITORY, check=True)


def install(cell: Cell) -> None:
    """A fresh virtualenv holding exactly the cell's lock and the provider."""
    shutil.rmtree(cell.environment, ignore_errors=True)
    python = pyenv_python(cell.python)
    if cell.lock is None:
        environment = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(cell.environment)}
        sync = [*UV, "sync", "--frozen", "--all-extras", f"--python={python}", "--quiet"]
        subprocess.run(sync, cwd=REPOSITORY, env=environment, check=True)
        return
    subprocess.run([*UV, "venv", "--quiet", f"--python={python}", str(cell.environment)], check=True)
    target = f"--python={cell.interpreter}"
    lock = CONSTRAINTS / f"{cell.lock}.txt"
    subprocess.run([*UV, "pip", "sync", "--quiet", target, str(lock)], cwd=REPOSITORY, check=True)
    editable = ["-e", ".", "-e", "emulator"]
    subprocess.run(
        [*UV, "pip", "install", "--quiet", "--no-deps", target, *editable], cwd=REPOSITORY, check=True
    )


def run_tests(cell: Cell, arguments: list[str]) -> int:
    """The provider's tests in the cell's interpreter; its output goes to ``build/matrix/<cell>.log``."""
    log_path = RESULTS.parent / f"{cell.name}.log"
    deselected = [] if cell.everything else [f"--deselect={test}" for test in HEAVY_TESTS]
    # Cells run beside the main environment's tests; what measures wall-clock time runs there, alone.
    deselected += [f"--deselect={test}" for test in cell.leave_out]
    deselected = [argument for argument in deselected if argument.split("=")[1].startswith(cell.tests)]
    command = [str(cell.interpreter), "-m", "pytest", *cell.tests, *deselected, "-m", "not timing"]
    command += ["-p", "no:cacheprovider"]
    # The slowest tests of each cell in its log, to keep the matrix within CI's budget.
    command.append("--durations=20")
    command += arguments
    with log_path.open("w") as log:
        completed = subprocess.run(command, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT, check=False)
    lines = log_path.read_text().rstrip().splitlines()
    # A failing cell names its failures here too: its log may not outlive the machine it ran on.
    print(*[line for line in lines if line.startswith(("FAILED ", "ERROR "))], lines[-1], sep="\n")
    return completed.returncode


def versions(cell: Cell) -> dict[str, str]:
    """What the cell runs: Python, Airflow and the providers this project depends on."""
    script = (
        "import json, platform; from importlib.metadata import version; print(json.dumps({'python': "
        "platform.python_version(), **{name: version(name) for name in ('apache-airflow', "
        "'apache-airflow-providers-amazon', 'apache-airflow-providers-common-compat')}}))"
    )
    completed = subprocess.run(
        [str(cell.interpreter), "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def run_cell(cell: Cell, arguments: list[str]) -> bool:
    """Install and test one cell; record its versions, result and times in ``build/matrix/results.json``."""
    started = time.monotonic()
    install(cell)
    installed = time.monotonic()
    print(f"{cell.name}: {versions(cell)}", flush=True)
    returncode = run_tests(cell, arguments)
    finished = time.monotonic()
    with RESULTS_LOCK:
        # Read again: cells that ended meanwhile, here or in another command, keep their results.
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[cell.name] = {
            **versions(cell),
            "passed": returncode == 0,
            "install_seconds": round(installed - started, 1),
            "test_seconds": round(finished - installed, 1),
        }
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{cell.name}: {'passed' if returncode == 0 else 'FAILED'} in {finished - started:.0f} s", flush=True
    )
    return returncode == 0


def run(cells: list[Cell], arguments: list[str], jobs: int) -> int:
    """Run the cells, ``jobs`` at a time, and print a line per cell with its versions and result."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        passed = list(pool.map(lambda cell: run_cell(cell, arguments), cells))
    return 0 if all(passed) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=("lock", "run"))
    parser.add_argument("cells", nargs="*", help="cell names (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="cells run at once (default: 1)")
    parser.add_argument("--pytest", nargs=argparse.REMAINDER, default=[], help="more pytest arguments")
    options = parser.parse_args()
    by_name = {cell.name: cell for cell in CELLS}
    unknown = set(options.cells) - set(by_name)
    if unknown:
        parser.error(f"unknown cells {sorted(unknown)}; known: {sorted(by_name)}")
    cells = [by_name[name] for name in options.cells] or list(CELLS)
    if options.action == "lock":
        for cell in cells:
            if cell.lock is not None:
                compile_lock(cell)
        return 0
    return run(cells, options.pytest, options.jobs)


if __name__ == "__main__":
    sys.exit(main())
