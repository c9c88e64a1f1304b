"""DAGs the system tests run on a real Airflow, one per failure mode; the model, data source and output
location default to the ``RELIABILITY_*`` environment variables the test harness sets."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

# A module beside this file, on the DAGs folder's path, so that the triggerer can import its trigger.
from reliability_triggers import MALFORMED_EVENTS, MalformedEventTrigger

from airflow_ml_provider import BatchPredictionSensor, CreateBatchPredictionOperator

PARAMS = {
    "ml_model_id": Param(os.environ.get("RELIABILITY_ML_MODEL_ID", "my-model"), type="string"),
    "data_source_id": Param(os.environ.get("RELIABILITY_DATA_SOURCE_ID", "my-data-source"), type="string"),
    "output_uri": Param(
        os.environ.get("RELIABILITY_OUTPUT_URI", "s3://my-bucket/predictions/"), type="string"
    ),
}
JOB = {
    "ml_model_id": "{{ params.ml_model_id }}",
    "data_source_id": "{{ params.data_source_id }}",
    "output_uri": "{{ params.output_uri }}",
    "batch_prediction_name": "Reliability {{ run_id }}",
}
FAST_RETRY = {"retries": 1, "retry_delay": timedelta(seconds=1)}


def reliability_dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, catchup=False, params=PARAMS, max_active_runs=200, **kwargs)


class CreateBatchPredictionThenDieOperator(CreateBatchPredictionOperator):
    """Dies on its first try right after the job was created, before any XCom is pushed: a lost worker."""

    def on_submitted(self, context: Any, description: dict[str, Any]) -> None:
        if context["ti"].try_number == 1:
            # No exception handling, no cleanup, no report: the process is simply gone.
            os._exit(137)
        super().on_submitted(context, description)


class SensorWithMalformedTrigger(BatchPredictionSensor):
    """The provider's sensor, resumed by a trigger that sends a malformed event."""

    def __init__(self, *, malformation: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.malformation = malformation

    def execute(self, context: Any) -> Any:
        self.defer(
            trigger=MalformedEventTrigger(self.malformation, self.batch_prediction_id),
            method_name="execute_complete",
        )


# The leanest real pipeline, run fifty times at once: one task that creates the job and waits for it in
# the triggerer (the same trigger the sensor uses), then reads where its results are.
with reliability_dag("reliability_create_and_wait"):
    create = CreateBatchPredictionOperator(
        task_id="create_batch_prediction", wait_for_completion=True, deferrable=True, waiter_delay=2, **JOB
    )

with reliability_dag("reliability_worker_dies_after_create"):
    create = CreateBatchPredictionThenDieOperator(task_id="create_batch_prediction", **JOB, **FAST_RETRY)
    BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=create.output,
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

# The sensor is told about a failed job: it must fail, once, with the service's message.
with reliability_dag("reliability_sensor_sees_failure"):
    create = CreateBatchPredictionOperator(task_id="create_batch_prediction", **JOB)
    BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=create.output,
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

# The create operator waits itself and is retried after the job failed: one new job, not two.
with reliability_dag("reliability_create_retries_after_failure"):
    CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        wait_for_completion=True,
        deferrable=True,
        waiter_delay=1,
        **JOB,
        **FAST_RETRY,
    )

# Waits that end without COMPLETED: a deleted job and an unknown status, in the triggerer and in poke mode.
with reliability_dag("reliability_job_vanishes"):
    create = CreateBatchPredictionOperator(task_id="create_batch_prediction", **JOB)
    for mode, deferrable in (("deferred", True), ("poke", False)):
        BatchPredictionSensor(
            task_id=f"wait_{mode}",
            batch_prediction_id=create.output,
            deferrable=deferrable,
            poke_interval=1,
            timeout=300,
        )

with reliability_dag("reliability_malformed_events"):
    create = CreateBatchPredictionOperator(task_id="create_batch_prediction", **JOB)
    SensorWithMalformedTrigger.partial(
        task_id="wait_with_malformed_event", batch_prediction_id=create.output
    ).expand(malformation=list(MALFORMED_EVENTS))

# Throttling and server errors: the create operator relies on botocore's retries, the sensors on their
# own backoff (botocore's retries are turned off for them so that every fault reaches the wait).
NO_BOTOCORE_RETRIES = {"retries": {"mode": "standard", "max_attempts": 1}}
with reliability_dag("reliability_faulty_service"):
    create = CreateBatchPredictionOperator(
        task_id="create_batch_prediction", retries=3, retry_delay=timedelta(seconds=1), **JOB
    )
    for mode, deferrable in (("deferred", True), ("poke", False)):
        BatchPredictionSensor(
            task_id=f"wait_{mode}",
            batch_prediction_id=create.output,
            deferrable=deferrable,
            poke_interval=1,
            timeout=120,
            botocore_config=NO_BOTOCORE_RETRIES,
        )

# One job that never ends, three ways to wait for it with the same timeout.
SENSOR_TIMEOUT = 24
SENSOR_POKE_INTERVAL = 6
with reliability_dag("reliability_sensor_timeouts"):
    create = CreateBatchPredictionOperator(task_id="create_batch_prediction", **JOB)
    for mode, extra in (
        ("poke", {"mode": "poke"}),
        ("reschedule", {"mode": "reschedule"}),
        ("deferrable", {"deferrable": True}),
    ):
        BatchPredictionSensor(
            task_id=f"wait_{mode}",
            batch_prediction_id=create.output,
            poke_interval=SENSOR_POKE_INTERVAL,
            timeout=SENSOR_TIMEOUT,
            **extra,
        )

with reliability_dag("reliability_delete_on_kill"):
    CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        wait_for_completion=True,
        deferrable=True,
        delete_on_kill=True,
        waiter_delay=1,
        **JOB,
    )


# -- the distributed deployment: Celery workers and two triggerers (tests/system/test_distributed.py) --


class CreateBatchPredictionThenHangOperator(CreateBatchPredictionOperator):
    """
    On its first try, says which worker runs it once the job was created, then hangs until that worker is
    killed: the test SIGKILLs the worker between ``CreateBatchPrediction`` and anything the task reports.
    """

    def on_submitted(self, context: Any, description: dict[str, Any]) -> None:
        if context["ti"].try_number == 1:
            # LOGNAME is the worker's component name, set by the harness (tests/system/stack.py).
            marker = Path(os.environ["DISTRIBUTED_MARKERS"]) / context["run_id"].replace(":", "_")
            marker.write_text(os.environ.get("LOGNAME", ""))
            time.sleep(600)
        super().on_submitted(context, description)


# Many runs at once: the sensor waits in whichever triggerer holds its trigger.
with reliability_dag("distributed_sensor_waits"):
    create = CreateBatchPredictionOperator(task_id="create_batch_prediction", **JOB)
    BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=create.output,
        deferrable=True,
        poke_interval=2,
        timeout=1800,
    )

# Triggers that move between triggerers must not delete the job they wait for.
with reliability_dag("distributed_wait_delete_on_kill"):
    CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        wait_for_completion=True,
        deferrable=True,
        delete_on_kill=True,
        waiter_delay=2,
        **JOB,
    )

# 300 s between polls: a job can complete unseen for a while, so that a test decides when its trigger notices
# (a trigger that moved while its triggerer was stalled; a task cleared after its job completed).
with reliability_dag("distributed_slow_polls_delete_on_kill"):
    CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        wait_for_completion=True,
        deferrable=True,
        delete_on_kill=True,
        waiter_delay=300,
        **JOB,
    )

with reliability_dag("distributed_worker_killed_after_create"):
    create = CreateBatchPredictionThenHangOperator(
        task_id="create_batch_prediction", retries=1, retry_delay=timedelta(seconds=1), **JOB
    )
    BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=create.output,
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )
