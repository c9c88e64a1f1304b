"""Promise: a retry of the same task run reattaches to the object its earlier try created; never two live
objects for one task run. Also the service's 10-tag limit, which the provider's own tags share."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_ml_provider import CreateBatchPredictionOperator
from airflow_ml_provider.exceptions import InvalidParameterError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.utils.validation import derive_entity_id
from tests.conftest import BUCKET
from tests.runtime import context_for


def task_instance() -> dict[str, Any]:
    return {"dag_id": "scoring", "task_id": "create", "run_id": f"scheduled__{uuid.uuid4().hex}"}


def create(binary_model: dict[str, str], **overrides: Any) -> CreateBatchPredictionOperator:
    arguments: dict[str, Any] = {
        "task_id": "create",
        "ml_model_id": binary_model["ml_model_id"],
        "data_source_id": binary_model["data_source_id"],
        "output_uri": f"s3://{BUCKET}/promises/out/",
        **overrides,
    }
    return CreateBatchPredictionOperator(**arguments)


def live_jobs(base_id: str) -> list[str]:
    """The PENDING or INPROGRESS jobs of a task instance's ID chain."""
    hook = MachineLearningHook()
    live = []
    for candidate in (base_id, f"{base_id}-r1", f"{base_id}-r2"):
        found = hook.find(BATCH_PREDICTION, candidate)
        if found and found["Status"] in ("PENDING", "INPROGRESS"):
            live.append(candidate)
    return live


def test_a_try_that_fails_after_execute_returned_is_retried_onto_the_same_job(binary_model, emulator):
    # The usual pattern: the create task returns at once, a sensor waits. The job runs a while.
    emulator.configure(job_duration=60)
    identity = task_instance()
    emulator.reset_call_counts()
    first = context_for(**identity)
    job_id = create(binary_model).execute(first)
    # execute returned, but the try still fails: Airflow pushes the return value to XCom and reports
    # the state after execute, and that push can fail (the API server answers 5xx, an object-storage
    # XCom backend is throttled) or the worker can be killed there. Airflow retries the same run.
    retry = context_for(**identity)
    retried_id = create(binary_model).execute(retry)

    assert retried_id == job_id, f"the retry created {retried_id} beside {job_id}"
    assert retry["ti"].xcoms["created"] is False
    assert emulator.call_counts()["CreateBatchPrediction"] == 1
    assert live_jobs(derive_entity_id("scoring", "create", identity["run_id"], -1)) == [job_id]


def test_tags_beyond_what_the_service_allows_fail_before_any_job_is_created(binary_model, emulator):
    # Eight tags of the user's own: with the provider's three the object would carry eleven, one more than
    # the service's AddTags limit of 10.
    tags = {f"team-{index}": "scoring" for index in range(8)}
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match="tags"):
        create(binary_model, tags=tags).execute(context_for(**task_instance()))
    assert "CreateBatchPrediction" not in emulator.call_counts(), "a job was created, then the task failed"


def test_seven_user_tags_and_the_providers_three_fit_the_limit_on_every_try(binary_model, emulator):
    # Pins the boundary: 7 + request digest + owner + succeeded mark = 10.
    tags = {f"team-{index}": "scoring" for index in range(7)}
    identity = task_instance()
    job_id = create(binary_model, tags=tags).execute(context_for(**identity))
    carried = MachineLearningHook().get_tags(BATCH_PREDICTION, job_id)
    assert len(carried) == 10
    assert carried.items() >= tags.items()
