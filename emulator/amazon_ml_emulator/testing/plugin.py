"""pytest fixtures for testing code against the emulator: it and its S3 on free ports, boto3 clients, the
Airflow connection, and (where Airflow is installed) a DAG run with ``airflow dags test``.

Installed with the emulator as a pytest plugin; every fixture name starts with ``amazon_ml_``. Nothing heavy
is imported until a test asks for a fixture.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from amazon_ml_emulator.server import Emulator
    from amazon_ml_emulator.testing.dag_runner import DagRunResult

# Clients sign with these; the emulator and its S3 accept any.
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def amazon_ml_emulator() -> Iterator[Emulator]:
    """One emulator with its own S3 for the session, with short job durations; stopped at the end."""
    from amazon_ml_emulator import Emulator

    with Emulator(job_duration=0.2, pending_duration=0.05) as emulator:
        yield emulator


@pytest.fixture
def amazon_ml_client(amazon_ml_emulator: Emulator) -> Any:
    """A boto3 ``machinelearning`` client of the emulator."""
    import boto3

    return boto3.session.Session().client(
        "machinelearning",
        endpoint_url=amazon_ml_emulator.endpoint_url,
        region_name=amazon_ml_emulator.region_name,
        **CREDENTIALS,
    )


@pytest.fixture
def amazon_ml_s3_client(amazon_ml_emulator: Emulator) -> Any:
    """A boto3 ``s3`` client of the emulator's S3."""
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=amazon_ml_emulator.s3_endpoint_url,
        region_name=amazon_ml_emulator.region_name,
        **CREDENTIALS,
    )


@pytest.fixture
def amazon_ml_connection_uri(amazon_ml_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Airflow AWS connection of the emulator as a URI, also set as ``AIRFLOW_CONN_AWS_DEFAULT`` for the test."""
    uri = amazon_ml_emulator.connection_uri()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", uri)
    return uri


@pytest.fixture
def amazon_ml_run_dag(
    amazon_ml_emulator: Emulator, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., DagRunResult]:
    """
    Run a DAG file's DAG with ``airflow dags test`` against the emulator; returns its states and XComs.

    Call it as ``amazon_ml_run_dag(dag_file, dag_id, conf=None)``. Skips the test where Airflow is not installed.
    """
    if importlib.util.find_spec("airflow") is None:
        pytest.skip("running a DAG needs Apache Airflow installed")
    from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test

    # One migrated metadata database per Airflow version, kept in pytest's cache across sessions and copied
    # into each test's own AIRFLOW_HOME: only the first run pays for `airflow db migrate`. Without the cache
    # (`-p no:cacheprovider`), each test migrates its own.
    version = importlib.metadata.version("apache-airflow")
    cache = getattr(request.config, "cache", None)
    template = cache.mkdir(f"amazon-ml-airflow-{version}") if cache is not None else tmp_path / "template"

    def run(dag_file: str | Path, dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
        home = migrated_home(template, tmp_path / "airflow")
        return run_dag_test(
            dag_id,
            home=home,
            dags_folder=Path(dag_file).resolve().parent,
            connection_json=amazon_ml_emulator.connection_json(),
            conf=conf,
        )

    return run
