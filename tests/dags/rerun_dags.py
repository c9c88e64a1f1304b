"""A DAG the system tests run again after its upstream failed: a data source, and a model trained on it."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_ml_provider.operators.data_source import CreateDataSourceFromS3Operator
from airflow_ml_provider.operators.ml_model import CreateMLModelOperator

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
