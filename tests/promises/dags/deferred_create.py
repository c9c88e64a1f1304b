"""A create task that waits in the triggerer, so that what it pushes before deferring can be read after."""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_ml_provider import CreateBatchPredictionOperator

with DAG(dag_id="promises_deferred_create", schedule=None, catchup=False):
    CreateBatchPredictionOperator(
        task_id="create",
        ml_model_id=os.environ.get("PROMISES_ML_MODEL_ID", "my-model"),
        data_source_id=os.environ.get("PROMISES_DATA_SOURCE_ID", "my-data-source"),
        output_uri=os.environ.get("PROMISES_OUTPUT_URI", "s3://my-bucket/predictions"),
        wait_for_completion=True,
        deferrable=True,
        waiter_delay=1,
    )
