"""DAGs the system tests run again after they succeeded or failed: a clear, a backfill that reprocesses, a
re-created run, an upstream failure. The model, data source and output location default to the
``RELIABILITY_*`` environment variables the test harness sets."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_ml_provider import BatchPredictionSensor, CreateBatchPredictionOperator
from airflow_ml_provider.operators.data_source import CreateDataSourceFromS3Operator
from airflow_ml_provider.operators.ml_model import CreateMLModelOperator

JOB = {
    "ml_model_id": os.environ.get("RELIABILITY_ML_MODEL_ID", "my-model"),
    "data_source_id": os.environ.get("RELIABILITY_DATA_SOURCE_ID", "my-data-source"),
    "output_uri": os.environ.get("RELIABILITY_OUTPUT_URI", "s3://my-bucket/predictions/") + "{{ ds }}/",
}

# Daily scoring, for backfills: each logical date is one run of the same two tasks. It ends before today,
# so the scheduler never runs it on its own beside the other system tests' DAGs.
with DAG(
    dag_id="rerun_daily_scoring",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    end_date=datetime(2026, 3, 1),
    catchup=False,
    max_active_runs=5,
):
    create = CreateBatchPredictionOperator(task_id="create_batch_prediction", **JOB)
    BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=create.output,
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

# A model trained on a data source: when the data source fails, so does the model built on it.
with DAG(
    dag_id="rerun_training",
    schedule=None,
    catchup=False,
    params={
        "data_location_s3": Param("s3://my-bucket/training/data.csv", type="string"),
        "data_schema_location_s3": Param("s3://my-bucket/training/data.schema", type="string"),
    },
):
    source = CreateDataSourceFromS3Operator(
        task_id="create_data_source",
        data_location_s3="{{ params.data_location_s3 }}",
        data_schema_location_s3="{{ params.data_schema_location_s3 }}",
        compute_statistics=True,
    )
    CreateMLModelOperator(
        task_id="train_model",
        ml_model_type="MULTICLASS",
        training_data_source_id=source.output,
        wait_for_completion=True,
        waiter_delay=1,
    )
