"""The emulator is its own distribution: the provider's wheel holds none of it, and it installs and runs alone."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def build_wheel(project: Path, out_dir: Path) -> Path:
    # Plain pip, as a user building from a clone would; hatchling comes from the build isolation.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(out_dir),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out_dir.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def provider_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(REPOSITORY, tmp_path_factory.mktemp("provider-wheel"))


@pytest.fixture(scope="module")
def emulator_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(REPOSITORY / "emulator", tmp_path_factory.mktemp("emulator-wheel"))


def test_the_provider_wheel_holds_no_emulator_module(provider_wheel: Path):
    names = zipfile.ZipFile(provider_wheel).namelist()
    assert "airflow_ml_provider/hooks/machine_learning.py" in names
    assert not [
        name for name in names if name.startswith(("amazon_ml_emulator/", "airflow_ml_provider/emulator/"))
    ]
    # The one module of that name only points at the emulator's distribution.
    assert "airflow_ml_provider/emulator.py" in names
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    requirements = zipfile.ZipFile(provider_wheel).read(metadata).decode()
    # Pinned to the emulator's compatible range: its control API moves with the provider's tests.
    assert "Requires-Dist: amazon-ml-emulator<0.3,>=0.2; extra == 'emulator'" in requirements


def imported_modules(source: str) -> tuple[set[str], set[str]]:
    """The top-level modules a source imports when it is imported, and those it imports only inside functions."""
    tree = ast.parse(source)
    in_functions = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    on_import: set[str] = set()
    when_called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = {node.module.split(".")[0]}
        else:
            continue
        (when_called if id(node) in in_functions else on_import).update(names)
    return on_import, when_called


def test_the_emulator_wheel_imports_nothing_from_airflow_or_the_provider(emulator_wheel: Path):
    wheel = zipfile.ZipFile(emulator_wheel)
    sources = [name for name in wheel.namelist() if name.endswith(".py")]
    assert "amazon_ml_emulator/learning/training.py" in sources
    imports = {name: imported_modules(wheel.read(name).decode()) for name in sources}
    assert "amazon_ml_emulator" in set().union(*(on_import for on_import, _ in imports.values()))
    assert not [
        name for name, (on_import, _) in imports.items() if on_import & {"airflow", "airflow_ml_provider"}
    ]
    # Only the kit that runs DAGs calls into Airflow, inside the Airflow process it starts.
    assert not [
        name
        for name, (_, when_called) in imports.items()
        if when_called & {"airflow", "airflow_ml_provider"}
        and not name.startswith("amazon_ml_emulator/testing/")
    ]


@pytest.mark.timeout(600)
def test_the_emulator_installs_alone_and_starts(emulator_wheel: Path, tmp_path: Path):
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    # What its wheel declares, resolved from the package index by uv (pip takes minutes for scikit-learn,
    # moto and the database drivers; the provider's own wheel is installed with plain pip elsewhere).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            str(emulator_wheel),
        ],
        check=True,
        capture_output=True,
        timeout=540,
    )
    found = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('airflow') is None)"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert found.stdout.strip() == "True"
    process = subprocess.Popen(
        [str(environment / "bin" / "amazon-ml-emulator"), "--port", "0", "--s3-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert banner.startswith("Amazon ML emulator: http://127.0.0.1:")
        endpoint_url = banner.split()[3]
        with urllib.request.urlopen(f"{endpoint_url}/_emulator/health", timeout=10) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        process.terminate()
        returncode = process.wait(timeout=60)
    # A clean stop on SIGTERM: the emulator's own handler ran, not the default one (-15).
    assert returncode == 0


def test_without_the_emulator_the_provider_gives_a_one_line_hint():
    code = "import sys; sys.modules['amazon_ml_emulator'] = None; import airflow_ml_provider.emulator"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ImportError: the Amazon ML emulator is its own distribution: "
        "pip install 'airflow-ml-provider[emulator]'"
    )
