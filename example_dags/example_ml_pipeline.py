"""Retrain, evaluate, gate on quality and score: the whole Amazon ML pipeline as declarative tasks.

A 70/30 split of the history trains and evaluates a model; if its metric clears ``min_metric`` the
model scores the new records, and the last task reads the predictions back from ``output_uri``.
With ``make demo`` every location points at the local emulator.
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_ml_provider import (
    BatchPredictionSensor,
    CreateBatchPredictionOperator,
    CreateDataSourceFromS3Operator,
    CreateEvaluationOperator,
    CreateMLModelOperator,
    EvaluationSensor,
)

BUCKET = os.environ.get("EXAMPLE_BUCKET", "s3://my-bucket")
# Creating a data source or training a model is quick to wait for: wait in the triggerer.
WAIT_DEFERRED = {"wait_for_completion": True, "deferrable": True, "waiter_delay": 2}


def split(percent_begin: int, percent_end: int, complement: bool = False) -> dict:
    """A random but repeatable split of the history, as Amazon ML's DataRearrangement."""
    splitting = {"percentBegin": percent_begin, "percentEnd": percent_end, "strategy": "random"}
    return {"splitting": {**splitting, "randomSeed": "airflow", "complement": complement}}


with DAG(
    dag_id="example_ml_pipeline",
    schedule=None,
    catchup=False,
    tags=["example", "amazon-ml"],
    params={
        "history_uri": Param(f"{BUCKET}/breast_cancer/history.csv", type="string"),
        "new_records_uri": Param(f"{BUCKET}/breast_cancer/new.csv", type="string"),
        "schema_uri": Param(f"{BUCKET}/breast_cancer/schema.json", type="string"),
        "output_uri": Param(f"{BUCKET}/predictions/", type="string"),
        "ml_model_type": Param("BINARY", enum=["BINARY", "MULTICLASS", "REGRESSION"]),
        "min_metric": Param(0.9, type="number"),
    },
    default_args={"retries": 2},
):
    training_data = CreateDataSourceFromS3Operator(
        task_id="create_training_data_source",
        data_location_s3="{{ params.history_uri }}",
        data_schema_location_s3="{{ params.schema_uri }}",
        data_rearrangement=split(0, 70),
        compute_statistics=True,
        **WAIT_DEFERRED,
    )
    evaluation_data = CreateDataSourceFromS3Operator(
        task_id="create_evaluation_data_source",
        data_location_s3="{{ params.history_uri }}",
        data_schema_location_s3="{{ params.schema_uri }}",
        data_rearrangement=split(0, 70, complement=True),
        **WAIT_DEFERRED,
    )
    model = CreateMLModelOperator(
        task_id="train_model",
        ml_model_type="{{ params.ml_model_type }}",
        training_data_source_id=training_data.output,
        parameters={"sgd.maxPasses": "20"},
        **WAIT_DEFERRED,
    )
    evaluation = CreateEvaluationOperator(
        task_id="evaluate_model",
        ml_model_id=model.output,
        evaluation_data_source_id=evaluation_data.output,
    )
    metric = EvaluationSensor(
        task_id="wait_for_evaluation",
        evaluation_id=evaluation.output,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task.short_circuit
    def good_enough(metric: float, params: dict) -> bool:
        """Score only with a model that clears the bar (RMSE: lower is better)."""
        if params["ml_model_type"] == "REGRESSION":
            return metric <= params["min_metric"]
        return metric >= params["min_metric"]

    new_records = CreateDataSourceFromS3Operator(
        task_id="create_new_records_data_source",
        data_location_s3="{{ params.new_records_uri }}",
        data_schema_location_s3="{{ params.schema_uri }}",
        **WAIT_DEFERRED,
    )
    scoring = CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id=model.output,
        data_source_id=new_records.output,
        output_uri="{{ params.output_uri }}",
        batch_prediction_name="Scoring {{ run_id }}",
    )
    predictions = BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=scoring.output,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task
    def summarize(results: dict, params: dict) -> dict:
        """Read every prediction and compare it with the true label the new records carry."""
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        rows = [row for row in MachineLearningHook().iter_results(results) if row]
        summary = {"scored": len(rows), "invalid": results["invalid_record_count"]}
        labelled = [row for row in rows if row.get("trueLabel")]
        if params["ml_model_type"] == "REGRESSION":
            errors = [(float(row["score"]) - float(row["trueLabel"])) ** 2 for row in labelled]
            summary["rmse"] = round((sum(errors) / len(errors)) ** 0.5, 4) if errors else None
        else:
            classes = (
                [key for key in rows[0] if key not in ("trueLabel", "bestAnswer", "score")] if rows else []
            )
            predicted = (
                [row["bestAnswer"] for row in labelled]
                if params["ml_model_type"] == "BINARY"
                else [max(classes, key=lambda label, row=row: float(row[label])) for row in labelled]
            )
            hits = sum(guess == row["trueLabel"] for guess, row in zip(predicted, labelled, strict=True))
            summary["accuracy"] = round(hits / len(labelled), 4) if labelled else None
        print(f"Batch prediction {results['batch_prediction_id']}: {summary}")
        return summary

    gate = good_enough(metric.output)
    gate >> new_records
    summarize(predictions.output)
