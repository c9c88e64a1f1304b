"""The objects the documentation's snippets name, created once on the session's emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from amazon_ml_emulator import datasets
from tests.conftest import CREDENTIALS, wait_for_status
from tests.example_dags.database_pipeline import database_connection

DOCUMENTED_BUCKET = "my-bucket"


@pytest.fixture(scope="session")
def documented_objects(ml_client: Any, ml_emulator: Any) -> dict[str, str]:
    """``my-bucket``, the data sources ``customers`` and ``prospects``, ``churn-model`` and one scored job."""
    s3 = boto3.client("s3", endpoint_url=ml_emulator.s3_endpoint_url, **CREDENTIALS)
    s3.create_bucket(Bucket=DOCUMENTED_BUCKET)
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    s3.put_object(Bucket=DOCUMENTED_BUCKET, Key="customers/customers.csv", Body=csv_bytes)
    s3.put_object(Bucket=DOCUMENTED_BUCKET, Key="customers/schema.json", Body=schema.encode())
    for data_source_id in ("customers", "prospects"):
        ml_client.create_data_source_from_s3(
            DataSourceId=data_source_id,
            DataSpec={
                "DataLocationS3": f"s3://{DOCUMENTED_BUCKET}/customers/customers.csv",
                "DataSchema": schema,
            },
            ComputeStatistics=True,
        )
    ml_client.create_ml_model(MLModelId="churn-model", MLModelType="BINARY", TrainingDataSourceId="customers")
    ml_client.create_batch_prediction(
        BatchPredictionId="churn-scores-20261126",
        MLModelId="churn-model",
        BatchPredictionDataSourceId="customers",
        OutputUri=f"s3://{DOCUMENTED_BUCKET}/predictions/",
    )
    job = wait_for_status(lambda: ml_client.get_batch_prediction(BatchPredictionId="churn-scores-20261126"))
    assert job == "COMPLETED"
    return {"ml_model_id": "churn-model", "data_source_id": "customers"}


@pytest.fixture(scope="module")
def documented_databases(
    ml_emulator: Any, redshift: Any, rds: Any, breast_cancer_tables: dict[str, Any]
) -> Iterator[dict[str, str]]:
    """Cluster ``analytics`` and instance ``orders-db`` with their tables; the connections as environment."""
    ml_emulator.configure(
        redshift_clusters={"analytics": redshift.address}, rds_instances={"orders-db": rds.address}
    )
    yield {
        "AIRFLOW_CONN_REDSHIFT_DEFAULT": database_connection(),
        "AIRFLOW_CONN_RDS_DEFAULT": database_connection(),
    }
    ml_emulator.configure(redshift_clusters={}, rds_instances={})
