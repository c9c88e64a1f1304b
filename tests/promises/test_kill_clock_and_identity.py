"""Promises at their corners: a wall-clock step changes no outcome; bad numbers and IDs rendered from nothing
fail before any call; an object another task made is never adopted; the service's lag is ridden out."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

from airflow_ml_provider import BatchPredictionSensor, CreateBatchPredictionOperator, waiting
from airflow_ml_provider.exceptions import InvalidParameterError, ServiceRejectedError, WaitTimeoutError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION
from amazon_ml_emulator import Emulator
from tests.conftest import BUCKET
from tests.runtime import context_for, resume_after_deferral

MODES = ("poke", "deferrable sensor", "operator in the worker", "operator deferred")


def run_id() -> str:
    return f"run-{uuid.uuid4().hex[:8]}"


def score(binary_model: dict[str, str], folder: str, **arguments: Any) -> CreateBatchPredictionOperator:
    """The batch prediction operator on the session's model, writing under ``folder``."""
    return CreateBatchPredictionOperator(
        task_id="score",
        ml_model_id=binary_model["ml_model_id"],
        data_source_id=binary_model["data_source_id"],
        output_uri=f"s3://{BUCKET}/{folder}/",
        **arguments,
    )


async def wait_in(
    mode: str, binary_model: dict[str, str], submit: Any, timeout: float, on_wait: Any = None
) -> Any:
    """
    Wait for a fresh job in ``mode``, with one delay of 0.5 s and a limit of ``timeout`` seconds.

    ``on_wait`` is called as the wait begins: in the worker, or in the trigger once the task deferred (the
    deadline crosses from one process to the other on the wall clock, which a step then must not move).
    """
    context = context_for(run_id=run_id())
    if mode in ("poke", "deferrable sensor"):
        task: Any = BatchPredictionSensor(
            task_id="wait",
            batch_prediction_id=submit(),
            poke_interval=0.5,
            timeout=timeout,
            deferrable=mode == "deferrable sensor",
        )
    else:
        task = score(
            binary_model,
            "clock",
            wait_for_completion=True,
            deferrable=mode == "operator deferred",
            waiter_delay=0.5,
            waiter_max_attempts=int(timeout / 0.5),
        )
    return await run_task(task, context, on_wait)


async def run_task(task: Any, context: dict[str, Any], on_wait: Any = None) -> Any:
    """Execute a task in a thread, as a worker does; after a deferral run its trigger and resume it."""
    if on_wait and not task.deferrable:
        on_wait()
    try:
        return await asyncio.to_thread(task.execute, context)
    except TaskDeferred as deferred:
        if on_wait:
            on_wait()
        return await resume_after_deferral(task, context, deferred)


@pytest.fixture
def wall_clock_step(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Step ``time.time`` by some seconds after a moment, as an NTP step or a resumed VM does."""
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def step(seconds: float, after: float) -> threading.Timer:
        timer = threading.Timer(after, lambda: offset.__setitem__(0, seconds))
        timer.start()
        return timer

    return step


@pytest.mark.parametrize("mode", MODES)
async def test_a_forward_step_of_the_wall_clock_does_not_end_a_wait_early(
    mode, emulator: Emulator, binary_model, submit, wall_clock_step
):
    emulator.configure(job_duration=3.0, pending_duration=0.1)
    started = time.monotonic()
    result = await wait_in(
        mode, binary_model, submit, timeout=30, on_wait=lambda: wall_clock_step(60.0, after=0.5)
    )
    assert result, f"{mode}: no result"
    # It succeeded when the job completed, about 3 s in: the 60 s step did not pass its 30 s limit.
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("mode", MODES)
async def test_a_backward_step_of_the_wall_clock_does_not_stretch_a_wait(
    mode, emulator: Emulator, binary_model, submit, wall_clock_step
):
    emulator.configure(job_duration=30.0, pending_duration=0.1)
    started = time.monotonic()
    with pytest.raises((AirflowSensorTimeout, WaitTimeoutError)):
        await wait_in(
            mode, binary_model, submit, timeout=3, on_wait=lambda: wall_clock_step(-60.0, after=0.5)
        )
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("waiter_delay", float("nan")),
        ("waiter_delay", float("inf")),
        ("waiter_max_attempts", float("nan")),
        ("waiter_max_attempts", float("inf")),
        ("waiter_max_attempts", 0.5),
        ("waiter_max_attempts", 10.0),
    ],
)
@pytest.mark.parametrize("deferrable", [False, True])
def test_waiter_values_that_are_not_finite_or_whole_fail_before_any_call(
    field, value, deferrable, emulator: Emulator, binary_model
):
    emulator.reset_call_counts()
    operator = score(
        binary_model,
        "numbers",
        wait_for_completion=True,
        deferrable=deferrable,
        **{field: value},
    )
    with pytest.raises(InvalidParameterError, match=field):
        operator.execute(context_for(run_id=run_id()))
    assert emulator.call_counts() == {}


@pytest.mark.parametrize(("field", "value"), [("poke_interval", float("nan")), ("timeout", float("inf"))])
@pytest.mark.parametrize("deferrable", [False, True])
def test_sensor_values_that_are_not_finite_fail_before_any_call(field, value, deferrable, emulator: Emulator):
    emulator.reset_call_counts()
    sensor = BatchPredictionSensor(task_id="wait", batch_prediction_id="bp", deferrable=deferrable)
    setattr(sensor, field, value)  # Airflow itself takes NaN and infinity
    with pytest.raises(InvalidParameterError, match=field):
        sensor.execute(context_for())
    assert emulator.call_counts() == {}


@pytest.mark.parametrize("rendered", ["None", "null", " None "])
def test_an_id_rendered_from_a_missing_value_is_refused_naming_the_field(
    rendered, emulator: Emulator, binary_model
):
    emulator.reset_call_counts()
    operator = score(
        binary_model,
        "none",
        batch_prediction_id=rendered,
    )
    with pytest.raises(InvalidParameterError, match="batch_prediction_id.*missing value"):
        operator.execute(context_for(run_id=run_id()))
    sensor = BatchPredictionSensor(task_id="wait", batch_prediction_id=rendered)
    with pytest.raises(InvalidParameterError, match="batch_prediction_id.*missing value"):
        sensor.execute(context_for())
    assert emulator.call_counts() == {}


def test_an_id_another_task_created_is_neither_adopted_nor_passed_over(emulator: Emulator, binary_model):
    shared_id = f"shared-{uuid.uuid4().hex[:8]}"

    def operator() -> CreateBatchPredictionOperator:
        return score(
            binary_model,
            "shared",
            batch_prediction_id=shared_id,
        )

    assert operator().execute(context_for(dag_id="dag_a", run_id=run_id())) == shared_id
    # The job completes and DAG a's task succeeded with it.
    hook = MachineLearningHook()
    assert hook.get(BATCH_PREDICTION, shared_id)["Status"] in ("PENDING", "INPROGRESS", "COMPLETED")
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match=f"batch_prediction_id '{shared_id}'.*not this task's"):
        operator().execute(context_for(dag_id="dag_b", run_id=run_id()))
    assert "CreateBatchPrediction" not in emulator.call_counts()
    # A later run of DAG a's own task moves on along its chain, as before.
    later = context_for(dag_id="dag_a", run_id=run_id(), run_started=datetime.now(timezone.utc))
    assert operator().execute(later) == f"{shared_id}-r1"


@pytest.mark.parametrize("deferrable", [False, True])
async def test_an_object_the_service_does_not_find_right_after_its_create_is_waited_for(
    deferrable, emulator: Emulator, binary_model
):
    # The service's reads lag its writes by 2 s: the tags, the Get and the first polls answer not found.
    emulator.configure(read_after_create_lag=2.0, job_duration=0.5)
    emulator.reset_call_counts()
    context = context_for(run_id=run_id())
    operator = score(
        binary_model,
        "lag",
        wait_for_completion=True,
        deferrable=deferrable,
        waiter_delay=0.5,
        waiter_max_attempts=60,
    )
    job_id = await run_task(operator, context)
    assert MachineLearningHook().get(BATCH_PREDICTION, job_id)["Status"] == "COMPLETED"
    assert emulator.call_counts()["CreateBatchPrediction"] == 1
    assert emulator.call_details()["AddTags"]["failed"] >= 1, "the lag was never met"


@pytest.mark.parametrize("deferrable", [False, True])
async def test_a_sensor_on_a_job_that_is_never_found_fails_once_the_lag_grace_is_over(
    deferrable, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(waiting.LAG_GRACE_SECONDS, "ResourceNotFoundException", 1.0)
    sensor = BatchPredictionSensor(
        task_id="wait",
        batch_prediction_id="no-such-job",
        poke_interval=0.2,
        timeout=30,
        deferrable=deferrable,
    )
    context = context_for(run_id=run_id())
    started = time.monotonic()
    with pytest.raises(ServiceRejectedError, match="ResourceNotFoundException"):
        await run_task(sensor, context)
    assert time.monotonic() - started < 10
