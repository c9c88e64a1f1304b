"""Fixtures shared by the provider's tests: a local Amazon ML service and an Airflow home for each run."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Airflow reads its home when first imported: point it at a scratch folder before any test does.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-ml-tests-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(name, None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
import pytest  # noqa: E402

from amazon_ml_emulator import Emulator, datasets  # noqa: E402
from amazon_ml_emulator.testing.dag_runner import migrated_home  # noqa: E402
from tests.databases import breast_cancer_tables, rds, redshift  # noqa: E402, F401 - fixtures of every test folder

REPOSITORY = Path(__file__).resolve().parents[1]
BUCKET = "provider-tests"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(autouse=True)
def quick_connection_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown connection ID is looked up again after pauses of 5 and 15 s in a worker; here, 10 ms."""
    from airflow_ml_provider.hooks import connection

    monkeypatch.setattr(connection, "CONNECTION_LOOKUP_PAUSES", (0.01, 0.01))


def wait_for_status(describe: Callable[[], dict[str, Any]], timeout: float = 30) -> str:
    """Poll ``describe`` until its Status leaves PENDING and INPROGRESS; return that status."""
    deadline = time.monotonic() + timeout
    while (status := describe()["Status"]) in ("PENDING", "INPROGRESS") and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


@pytest.fixture(scope="session")
def ml_emulator() -> Iterator[Emulator]:
    """The local Amazon ML service (and its S3) for the whole session, with quick jobs."""
    with Emulator(job_duration=0.3, pending_duration=0.1) as emulator:
        yield emulator


@pytest.fixture
def emulator(ml_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The session's emulator, with ``aws_default`` pointing at it and its settings restored after."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", ml_emulator.connection_json())
    yield ml_emulator
    ml_emulator.configure(
        job_duration=0.3,
        pending_duration=0.1,
        throttle_rate=0.0,
        error_rate=0.0,
        latency=0.0,
        operations=None,
        unavailable=False,
        refused_access_keys={},
        read_after_create_lag=0.0,
    )


@pytest.fixture(scope="session")
def ml_client(ml_emulator: Emulator) -> Any:
    """A plain boto3 Amazon ML client on the emulator, for setting up and checking state."""
    return boto3.client("machinelearning", endpoint_url=ml_emulator.endpoint_url, **CREDENTIALS)


@pytest.fixture(scope="session")
def s3_client(ml_emulator: Emulator) -> Any:
    client = boto3.client("s3", endpoint_url=ml_emulator.s3_endpoint_url, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="session")
def binary_model(ml_client: Any, s3_client: Any) -> dict[str, str]:
    """A trained BINARY model on breast cancer data and a data source of records to score."""
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    s3_client.put_object(Bucket=BUCKET, Key="breast_cancer/data.csv", Body=csv_bytes)
    ml_client.create_data_source_from_s3(
        DataSourceId="breast-cancer",
        DataSpec={"DataLocationS3": f"s3://{BUCKET}/breast_cancer/data.csv", "DataSchema": schema},
        ComputeStatistics=True,
    )
    ml_client.create_ml_model(
        MLModelId="breast-cancer-model", MLModelType="BINARY", TrainingDataSourceId="breast-cancer"
    )
    assert wait_for_status(lambda: ml_client.get_ml_model(MLModelId="breast-cancer-model")) == "COMPLETED"
    return {
        "ml_model_id": "breast-cancer-model",
        "data_source_id": "breast-cancer",
        "record_count": str(len(csv_bytes.splitlines()) - 1),
    }


@pytest.fixture
def submit(emulator: Emulator, binary_model: dict[str, str]) -> Callable[[], str]:
    """Submit a batch prediction of ``binary_model`` under a fresh ID; return the ID."""
    from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
    from airflow_ml_provider.kinds import BATCH_PREDICTION

    def create() -> str:
        batch_prediction_id = f"bp-{uuid.uuid4().hex[:12]}"
        request = {
            "MLModelId": binary_model["ml_model_id"],
            "BatchPredictionDataSourceId": binary_model["data_source_id"],
            "OutputUri": f"s3://{BUCKET}/submitted/",
        }
        MachineLearningHook().submit(BATCH_PREDICTION, batch_prediction_id, request)
        return batch_prediction_id

    return create


@pytest.fixture(scope="session")
def airflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow home that each DAG run copies, so only the first run pays for migrating."""
    template = tmp_path_factory.mktemp("airflow-template")
    migrated_home(template, tmp_path_factory.mktemp("airflow-first-run"))
    return template
