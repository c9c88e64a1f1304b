"""Promise: identity is every parameter that shapes the object; a retry with changed parameters fails naming
each field with its old and new value, also when the earlier try died before its tags were applied."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_ml_provider import CreateBatchPredictionOperator, CreateMLModelOperator
from airflow_ml_provider.exceptions import ServiceRejectedError
from airflow_ml_provider.hooks.machine_learning import REQUEST_TAG, MachineLearningHook
from airflow_ml_provider.kinds import ML_MODEL
from airflow_ml_provider.utils.validation import ENTITY_ID_MAX_LENGTH
from tests.conftest import BUCKET
from tests.runtime import context_for, worker_dies


def task_instance(task_id: str) -> dict[str, Any]:
    return {"dag_id": "training", "task_id": task_id, "run_id": f"manual__{uuid.uuid4().hex}"}


def train(binary_model: dict[str, str], **overrides: Any) -> CreateMLModelOperator:
    arguments: dict[str, Any] = {
        "task_id": "train",
        "ml_model_type": "BINARY",
        "training_data_source_id": binary_model["data_source_id"],
        "parameters": {"sgd.maxPasses": "10"},
        **overrides,
    }
    return CreateMLModelOperator(**arguments)


def test_a_retry_with_changed_training_parameters_after_a_death_before_the_tags_names_them(
    binary_model, emulator
):
    identity = task_instance("train")
    first = train(binary_model)
    # The worker is killed between CreateMLModel and AddTags: the model exists, untagged.
    first.hook.add_tags = worker_dies
    with pytest.raises(SystemExit):
        first.execute(context_for(**identity))
    # The user lowers the number of passes and the task is retried.
    emulator.reset_call_counts()
    retry = train(binary_model, parameters={"sgd.maxPasses": "5"})

    try:
        model_id = retry.execute(context_for(**identity))
    except ServiceRejectedError as error:
        assert "sgd.maxPasses" in str(error) or "Parameters" in str(error)  # noqa: PT017
    else:
        hook = MachineLearningHook()
        trained = hook.get(ML_MODEL, model_id)["TrainingParameters"]["sgd.maxPasses"]
        tagged = REQUEST_TAG in hook.get_tags(ML_MODEL, model_id)
        pytest.fail(
            f"the retry reattached to {model_id}, trained with sgd.maxPasses={trained}, and "
            f"{'tagged it with the new request digest' if tagged else 'left it untagged'}"
        )
    assert "CreateMLModel" not in emulator.call_counts()


def test_an_explicit_id_of_64_characters_gets_a_fresh_job_on_every_rerun(binary_model, emulator):
    # Pins the chain of a maximal explicit ID (the suffix replaces its end); each re-run is a clear.
    explicit = "nightly-scoring-" + "x" * (ENTITY_ID_MAX_LENGTH - len("nightly-scoring-"))
    identity = task_instance("score")
    ids = []
    for clears in range(3):
        operator = CreateBatchPredictionOperator(
            task_id="score",
            batch_prediction_id=explicit,
            ml_model_id=binary_model["ml_model_id"],
            data_source_id=binary_model["data_source_id"],
            output_uri=f"s3://{BUCKET}/promises/explicit/{uuid.uuid4().hex}/",
        )
        context = context_for(**identity, max_tries=clears)
        ids.append(operator.execute(context))
        assert context["ti"].xcoms["created"] is True
    assert ids[0] == explicit
    assert len(set(ids)) == 3
    assert all(len(each) <= ENTITY_ID_MAX_LENGTH for each in ids)
