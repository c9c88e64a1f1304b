"""Score several data sets in parallel with mapped tasks, and publish the predictions as an asset.

Each map index gets its own deterministic job ID, so retrying one index never touches the others.
The sensors declare the predictions' S3 prefix as an outlet: its asset event, emitted only when a job
COMPLETED, schedules ``example_predictions_consumer``.
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG, Asset, Param, task

from airflow_ml_provider import (
    BatchPredictionSensor,
    CreateBatchPredictionOperator,
    CreateDataSourceFromS3Operator,
)

BUCKET = os.environ.get("EXAMPLE_BUCKET", "s3://my-bucket")
PREDICTIONS = Asset(f"{BUCKET}/predictions/mapped/")

with DAG(
    dag_id="example_mapped_predictions",
    schedule=None,
    catchup=False,
    tags=["example", "amazon-ml"],
    params={
        "ml_model_id": Param("my-model", type="string"),
        "data_location_uris": Param([f"{BUCKET}/new/part-1.csv", f"{BUCKET}/new/part-2.csv"], type="array"),
        "schema_uri": Param(f"{BUCKET}/new/schema.json", type="string"),
    },
    default_args={"retries": 2},
):

    @task
    def data_locations(params: dict) -> list[str]:
        """The files to score, one mapped task each."""
        return params["data_location_uris"]

    data_sources = CreateDataSourceFromS3Operator.partial(
        task_id="create_data_sources",
        data_schema_location_s3="{{ params.schema_uri }}",
        wait_for_completion=True,
        deferrable=True,
        waiter_delay=2,
    ).expand(data_location_s3=data_locations())

    @task
    def data_source_ids(created: list[str]) -> list[str]:
        """The data sources as one list: Airflow 2.11 cannot map over what mapped tasks that deferred return."""
        return list(created)

    batch_predictions = CreateBatchPredictionOperator.partial(
        task_id="create_batch_predictions",
        ml_model_id="{{ params.ml_model_id }}",
        output_uri=PREDICTIONS.uri,
    ).expand(data_source_id=data_source_ids(data_sources.output))

    predictions = BatchPredictionSensor.partial(
        task_id="wait_for_batch_predictions",
        deferrable=True,
        poke_interval=2,
        timeout=600,
        outlets=[PREDICTIONS],
    ).expand(batch_prediction_id=batch_predictions.output)

    @task
    def report(results: list[dict]) -> dict:
        """One line per scored data set."""
        for result in results:
            print(
                f"{result['input_uris']} -> {result['total_record_count']} records in {result['result_uris']}"
            )
        return {"jobs": len(results), "records": sum(result["total_record_count"] for result in results)}

    report(predictions.output)
