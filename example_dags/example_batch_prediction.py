"""Score a data source with a trained Amazon ML model, wait without holding a worker slot, read the predictions.

The model, the data source and the output location come from the DAG run's configuration; with
``make demo`` they point at the local emulator.
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_ml_provider import BatchPredictionSensor, CreateBatchPredictionOperator

with DAG(
    dag_id="example_batch_prediction",
    schedule=None,
    catchup=False,
    tags=["example", "amazon-ml"],
    params={
        "ml_model_id": Param(os.environ.get("EXAMPLE_ML_MODEL_ID", "my-model"), type="string"),
        "data_source_id": Param(os.environ.get("EXAMPLE_DATA_SOURCE_ID", "my-data-source"), type="string"),
        "output_uri": Param(
            os.environ.get("EXAMPLE_OUTPUT_URI", "s3://my-bucket/predictions/"), type="string"
        ),
    },
):
    create = CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id="{{ params.ml_model_id }}",
        data_source_id="{{ params.data_source_id }}",
        output_uri="{{ params.output_uri }}",
        batch_prediction_name="Scoring for {{ run_id }}",
    )
    wait = BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=create.output,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task
    def summarize(results: dict) -> dict:
        """Read every prediction and report how many records were scored."""
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        rows = list(MachineLearningHook().iter_results(results))
        scored = sum(1 for row in rows if row)
        print(f"{scored} records scored, {len(rows) - scored} invalid, from {results['result_uris']}")
        return {"scored": scored, "invalid": len(rows) - scored}

    summarize(wait.output)
