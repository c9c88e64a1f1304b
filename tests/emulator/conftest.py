"""Fixtures of the emulator tests: one emulator per session, clients that check every answer's shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from amazon_ml_emulator import Emulator, datasets
from amazon_ml_emulator.datasets import TINY_CSV, TINY_SCHEMA

from .helpers import BUCKET, CREDENTIALS, SETTINGS, Pipeline, machine_learning_client
from .shapes import ResponseShapeChecker


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator(**SETTINGS) as running:
        yield running


@pytest.fixture(autouse=True)
def _default_settings(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    # Tests that change settings or faults must not leak them into the next test.
    if "emulator" in request.fixturenames:
        emulator = request.getfixturevalue("emulator")
        emulator.configure(
            **SETTINGS,
            throttle_rate=0.0,
            error_rate=0.0,
            latency=0.0,
            operations=None,
            unavailable=False,
            refused_access_keys={},
            require_signature=True,
            peak_requests_per_second=200,
            tag_limit=10,
        )


@pytest.fixture
def checked_client(emulator: Emulator) -> tuple[Any, ResponseShapeChecker]:
    return machine_learning_client(emulator.endpoint_url)


@pytest.fixture
def ml(checked_client: tuple[Any, ResponseShapeChecker]) -> Any:
    """A boto3 Amazon ML client whose every answer is checked against botocore's output shape."""
    return checked_client[0]


@pytest.fixture(scope="session")
def s3(emulator: Emulator) -> Any:
    client = boto3.session.Session().client("s3", endpoint_url=emulator.s3_endpoint_url, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def pipeline(ml: Any, s3: Any) -> Pipeline:
    return Pipeline(ml, s3)


@pytest.fixture(scope="session")
def breast_cancer(emulator: Emulator, s3: Any) -> dict[str, str]:
    """breast_cancer in S3: a training data source and a trained BINARY model, shared by the session."""
    ml, _ = machine_learning_client(emulator.endpoint_url)
    pipeline = Pipeline(ml, s3)
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    location = pipeline.put("breast_cancer/train.csv", csv_bytes)
    data_source_id = pipeline.data_source(location, schema)
    ml_model_id = pipeline.ml_model(data_source_id, "BINARY")
    assert pipeline.wait_ml_model(ml_model_id)["Status"] == "COMPLETED"
    return {
        "data_source_id": data_source_id,
        "ml_model_id": ml_model_id,
        "schema": schema,
        "location": location,
    }


@pytest.fixture(scope="session")
def tiny(emulator: Emulator, s3: Any) -> dict[str, str]:
    """A small completed data source and BINARY model, for tests that need any model quickly."""
    ml, _ = machine_learning_client(emulator.endpoint_url)
    pipeline = Pipeline(ml, s3)
    location = pipeline.put("tiny/data.csv", TINY_CSV)
    data_source_id = pipeline.data_source(location, TINY_SCHEMA)
    ml_model_id = pipeline.ml_model(data_source_id, "BINARY")
    assert pipeline.wait_ml_model(ml_model_id)["Status"] == "COMPLETED"
    return {"data_source_id": data_source_id, "ml_model_id": ml_model_id, "location": location}
