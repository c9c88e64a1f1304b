"""Helpers of the emulator tests: IDs, polling, and building pipelines over S3 data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .shapes import ResponseShapeChecker, attach_checker

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SETTINGS = {"job_duration": 0.15, "pending_duration": 0.05, "concurrency_limit": 25}
BUCKET = "emulator-tests"
TERMINAL = ("COMPLETED", "FAILED", "DELETED")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sigv4_headers(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` and the SigV4 ones botocore would add, for a request made without botocore."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    credentials = Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"])
    SigV4Auth(credentials, "machinelearning", CREDENTIALS["region_name"]).add_auth(request)
    return dict(request.headers.items())


def machine_learning_client(endpoint_url: str) -> tuple[Any, ResponseShapeChecker]:
    client = boto3.session.Session().client("machinelearning", endpoint_url=endpoint_url, **CREDENTIALS)
    return client, attach_checker(client)


def wait_for_status(
    get: Callable[[], dict[str, Any]], statuses: tuple[str, ...] = TERMINAL, timeout: float = 20
):
    """Poll ``get`` until the entity's Status is one of ``statuses``; return the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = get()
        if answer["Status"] in statuses:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still {answer['Status']} after {timeout}s: {answer}")
        time.sleep(0.03)


def wait_until_endpoint_ready(ml: Any, ml_model_id: str, timeout: float = 20) -> dict[str, Any]:
    """Poll GetMLModel until the model's real-time endpoint is READY; return its EndpointInfo."""
    deadline = time.monotonic() + timeout
    while (info := ml.get_ml_model(MLModelId=ml_model_id)["EndpointInfo"])["EndpointStatus"] != "READY":
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint still {info['EndpointStatus']} after {timeout}s")
        time.sleep(0.03)
    return info


class Pipeline:
    """
    Builds data sources, models and batch predictions over S3 data for a test.

    :param ml: the Amazon ML client.
    :param s3: the S3 client.
    """

    def __init__(self, ml: Any, s3: Any) -> None:
        self.ml = ml
        self.s3 = s3

    def put(self, key: str, body: bytes | str) -> str:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return f"s3://{BUCKET}/{key}"

    def data_source(self, location: str, schema: str, compute_statistics: bool = True, **extra: Any) -> str:
        data_source_id = new_id("ds")
        self.ml.create_data_source_from_s3(
            DataSourceId=data_source_id,
            DataSpec={"DataLocationS3": location, "DataSchema": schema, **extra},
            ComputeStatistics=compute_statistics,
        )
        return data_source_id

    def ml_model(self, training_data_source_id: str, model_type: str = "BINARY", **extra: Any) -> str:
        ml_model_id = new_id("model")
        self.ml.create_ml_model(
            MLModelId=ml_model_id,
            MLModelType=model_type,
            TrainingDataSourceId=training_data_source_id,
            **extra,
        )
        return ml_model_id

    def batch_prediction(self, ml_model_id: str, data_source_id: str, output_uri: str | None = None) -> str:
        batch_prediction_id = new_id("bp")
        self.ml.create_batch_prediction(
            BatchPredictionId=batch_prediction_id,
            BatchPredictionName=f"test {batch_prediction_id}",
            MLModelId=ml_model_id,
            BatchPredictionDataSourceId=data_source_id,
            OutputUri=output_uri or f"s3://{BUCKET}/output/{batch_prediction_id}/",
        )
        return batch_prediction_id

    def wait_batch_prediction(self, batch_prediction_id: str, statuses: tuple[str, ...] = TERMINAL) -> dict:
        return wait_for_status(
            lambda: self.ml.get_batch_prediction(BatchPredictionId=batch_prediction_id), statuses
        )

    def wait_ml_model(self, ml_model_id: str, statuses: tuple[str, ...] = TERMINAL) -> dict:
        return wait_for_status(lambda: self.ml.get_ml_model(MLModelId=ml_model_id), statuses)

    def wait_data_source(self, data_source_id: str, statuses: tuple[str, ...] = TERMINAL) -> dict:
        return wait_for_status(lambda: self.ml.get_data_source(DataSourceId=data_source_id), statuses)
