"""Data sources, models and evaluations behave like batch predictions: same IDs, validation and waiting."""

from __future__ import annotations

import json
import uuid

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_ml_provider import (
    CreateDataSourceFromS3Operator,
    CreateEvaluationOperator,
    CreateMLModelOperator,
    DataSourceSensor,
    EvaluationSensor,
    MLModelSensor,
    UpdateMLModelScoreThresholdOperator,
)
from airflow_ml_provider.exceptions import DataSourceFailedError, InvalidParameterError, ServiceRejectedError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION, ML_MODEL
from airflow_ml_provider.triggers.data_source import DataSourceTrigger
from amazon_ml_emulator import datasets
from tests.conftest import BUCKET, wait_for_status
from tests.runtime import context_for, resume_after_deferral, worker_dies

WAIT = {"wait_for_completion": True, "deferrable": False, "waiter_delay": 0.1, "waiter_max_attempts": 600}


@pytest.fixture(scope="module")
def iris_location(s3_client):
    csv_bytes, schema = datasets.make_dataset("iris")
    s3_client.put_object(Bucket=BUCKET, Key="pipeline/iris.csv", Body=csv_bytes)
    s3_client.put_object(Bucket=BUCKET, Key="pipeline/iris.schema.json", Body=schema.encode())
    return {"data": f"s3://{BUCKET}/pipeline/iris.csv", "schema": f"s3://{BUCKET}/pipeline/iris.schema.json"}


def run_context():
    return context_for(dag_id="pipeline", task_id="task", run_id=f"manual__{uuid.uuid4().hex}")


def split(complement: bool) -> dict:
    return {
        "splitting": {
            "percentBegin": 0,
            "percentEnd": 70,
            "strategy": "random",
            "randomSeed": "s",
            "complement": complement,
        }
    }


def test_a_data_source_is_created_once_and_a_retry_reattaches(iris_location, emulator):
    context = run_context()
    emulator.reset_call_counts()
    arguments = {
        "task_id": "training_data",
        "data_location_s3": iris_location["data"],
        "data_schema_location_s3": iris_location["schema"],
        "data_rearrangement": split(False),
        "compute_statistics": True,
        **WAIT,
    }
    first_try = CreateDataSourceFromS3Operator(**arguments)
    first_try.hook.mark_succeeded = worker_dies
    with pytest.raises(SystemExit):
        first_try.execute(context)
    first = context["ti"].xcoms["ml_data_source"]["entity_id"]
    again = CreateDataSourceFromS3Operator(**arguments).execute(run_context() | {"ti": context["ti"]})
    assert first == again
    assert emulator.call_counts()["CreateDataSourceFromS3"] == 1
    description = MachineLearningHook().get(CreateDataSourceFromS3Operator.kind, first)
    assert description["ComputeStatistics"] is True
    assert json.loads(description["DataRearrangement"]) == split(False)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "data_schema or data_schema_location_s3"),
        (
            {"data_schema": "{}", "data_schema_location_s3": "s3://b/s.json"},
            "data_schema or data_schema_location_s3",
        ),
        ({"data_schema": "not json"}, "data_schema"),
        ({"data_schema": "{}", "data_rearrangement": "[]"}, "data_rearrangement"),
        ({"data_schema": "{}", "data_location_s3": "/tmp/data.csv"}, "data_location_s3"),
    ],
)
def test_data_source_input_is_checked_before_any_call(arguments, field, emulator):
    emulator.reset_call_counts()
    operator = CreateDataSourceFromS3Operator(
        task_id="data", **{"data_location_s3": f"s3://{BUCKET}/x.csv", **arguments}
    )
    with pytest.raises(InvalidParameterError) as error:
        operator.execute(run_context())
    assert error.value.field == field
    assert emulator.call_counts() == {}


def test_a_data_source_the_service_cannot_read_fails_with_its_message(emulator):
    operator = CreateDataSourceFromS3Operator(
        task_id="data",
        data_location_s3=f"s3://{BUCKET}/missing/nothing-here.csv",
        data_schema=datasets.make_dataset("iris")[1],
        **WAIT,
    )
    with pytest.raises(DataSourceFailedError, match="status FAILED"):
        operator.execute(run_context())


def test_train_evaluate_and_read_the_metric(iris_location, emulator):
    training = CreateDataSourceFromS3Operator(
        task_id="training",
        data_location_s3=iris_location["data"],
        data_schema_location_s3=iris_location["schema"],
        data_rearrangement=split(False),
        compute_statistics=True,
    ).execute(run_context())
    evaluation_data = CreateDataSourceFromS3Operator(
        task_id="evaluation_data",
        data_location_s3=iris_location["data"],
        data_schema_location_s3=iris_location["schema"],
        data_rearrangement=split(True),
    ).execute(run_context())
    ml_model_id = CreateMLModelOperator(
        task_id="train",
        ml_model_type="MULTICLASS",
        training_data_source_id=training,
        parameters={"sgd.maxPasses": 20},
        **WAIT,
    ).execute(run_context())
    model = MLModelSensor(task_id="model", ml_model_id=ml_model_id, poke_interval=0.1).execute(run_context())
    assert model["Status"] == "COMPLETED"
    assert model["TrainingParameters"]["sgd.maxPasses"] == "20"
    assert (
        DataSourceSensor(task_id="ds", data_source_id=evaluation_data, poke_interval=0.1).execute(
            run_context()
        )["Status"]
        == "COMPLETED"
    )
    evaluation_id = CreateEvaluationOperator(
        task_id="evaluate", ml_model_id=ml_model_id, evaluation_data_source_id=evaluation_data
    ).execute(run_context())
    metric = EvaluationSensor(task_id="metric", evaluation_id=evaluation_id, poke_interval=0.1).execute(
        run_context()
    )
    assert isinstance(metric, float)
    assert 0.8 < metric <= 1.0


async def test_a_data_source_can_be_waited_for_in_the_triggerer(iris_location, emulator):
    context = run_context()
    operator = CreateDataSourceFromS3Operator(
        task_id="data",
        data_location_s3=iris_location["data"],
        data_schema_location_s3=iris_location["schema"],
        wait_for_completion=True,
        deferrable=True,
        waiter_delay=0.1,
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert isinstance(deferred.value.trigger, DataSourceTrigger)
    assert await resume_after_deferral(operator, context, deferred.value) == deferred.value.trigger.entity_id


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"ml_model_type": "CLUSTERING"}, "ml_model_type"),
        ({"training_data_source_id": "bad id"}, "training_data_source_id"),
        ({"parameters": "sgd.maxPasses=10"}, "parameters"),
        ({"recipe": "{}", "recipe_uri": "s3://b/recipe.json"}, "recipe or recipe_uri"),
        ({"recipe": "not json"}, "recipe"),
    ],
)
def test_model_input_is_checked_before_any_call(arguments, field, emulator):
    emulator.reset_call_counts()
    operator = CreateMLModelOperator(
        task_id="train", **{"ml_model_type": "BINARY", "training_data_source_id": "ds", **arguments}
    )
    with pytest.raises(InvalidParameterError) as error:
        operator.execute(run_context())
    assert error.value.field == field
    assert emulator.call_counts() == {}


def test_training_on_a_missing_data_source_carries_the_service_message(emulator):
    operator = CreateMLModelOperator(
        task_id="train", ml_model_type="BINARY", training_data_source_id="no-such-ds"
    )
    with pytest.raises(ServiceRejectedError, match="no-such-ds"):
        operator.execute(run_context())


def test_the_score_threshold_moves_the_binary_answer(binary_model, emulator, ml_client):
    hook = MachineLearningHook()
    model = UpdateMLModelScoreThresholdOperator(
        task_id="threshold", ml_model_id=binary_model["ml_model_id"], score_threshold=0.99
    ).execute(run_context())
    assert model["ScoreThreshold"] == pytest.approx(0.99)
    batch_prediction_id = f"threshold-{uuid.uuid4().hex[:8]}"
    request = {
        "MLModelId": binary_model["ml_model_id"],
        "BatchPredictionDataSourceId": binary_model["data_source_id"],
        "OutputUri": f"s3://{BUCKET}/threshold/",
    }
    hook.submit(BATCH_PREDICTION, batch_prediction_id, request)
    assert (
        wait_for_status(lambda: ml_client.get_batch_prediction(BatchPredictionId=batch_prediction_id))
        == "COMPLETED"
    )
    rows = list(hook.iter_results(batch_prediction_id))
    assert all(row["bestAnswer"] == ("1" if float(row["score"]) >= 0.99 else "0") for row in rows)
    hook.update_ml_model(binary_model["ml_model_id"], score_threshold=0.5)
    assert hook.get(ML_MODEL, binary_model["ml_model_id"])["ScoreThreshold"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("threshold", "rule"), [(1.5, "from 0 to 1"), ("high", "from 0 to 1"), (-0.1, "from 0 to 1")]
)
def test_a_threshold_out_of_range_is_rejected_before_any_call(threshold, rule, emulator):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match=rule):
        UpdateMLModelScoreThresholdOperator(task_id="t", ml_model_id="m", score_threshold=threshold).execute(
            run_context()
        )
    assert emulator.call_counts() == {}
