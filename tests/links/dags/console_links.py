"""One object of each kind, so the console link of every create operator can be read back."""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_ml_provider import (
    CreateBatchPredictionOperator,
    CreateDataSourceFromS3Operator,
    CreateEvaluationOperator,
    CreateMLModelOperator,
    UpdateMLModelScoreThresholdOperator,
)

with DAG(
    dag_id="console_links",
    schedule=None,
    params={
        "data_location_s3": Param(type="string"),
        "data_schema": Param(type="string"),
        "output_uri": Param(type="string"),
    },
):
    data_source = CreateDataSourceFromS3Operator(
        task_id="create_data_source",
        data_location_s3="{{ params.data_location_s3 }}",
        data_schema="{{ params.data_schema }}",
        compute_statistics=True,
        wait_for_completion=True,
        waiter_delay=1,
    )
    model = CreateMLModelOperator(
        task_id="train_model",
        ml_model_type="BINARY",
        training_data_source_id=data_source.output,
        wait_for_completion=True,
        waiter_delay=1,
    )
    UpdateMLModelScoreThresholdOperator(
        task_id="set_threshold", ml_model_id=model.output, score_threshold=0.6
    )
    CreateEvaluationOperator(
        task_id="evaluate_model", ml_model_id=model.output, evaluation_data_source_id=data_source.output
    )
    CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id=model.output,
        data_source_id=data_source.output,
        output_uri="{{ params.output_uri }}",
    )
