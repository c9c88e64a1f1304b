"""DAGs of the chaos soak (``tests/system/soak.py``): every way to wait for a batch prediction, with and
without ``delete_on_kill``, and a mapped pair, all on the ``soak_aws`` connection the soak rotates.

:data:`SOAK_DAGS` describes each task as data, so the soak's checker knows what each one promises."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param

from airflow_ml_provider import BatchPredictionSensor, CreateBatchPredictionOperator

CONNECTION_ID = "soak_aws"
# The soak's two data sources (made by the soak on the emulator): every run scores one of them, and the
# checker reads which from the run's conf (mapped runs: one per map index, in this order).
DATA_SOURCES = ("soak-records-all", "soak-records-head")
OUTPUT_PREFIX = os.environ.get("SOAK_OUTPUT_PREFIX", "s3://reliability/soak/")
WAITER_DELAY = 2
WAIT_SECONDS = 600


@dataclass(frozen=True)
class SoakTask:
    """
    What one task of a soak DAG is, for the DAG file and for the checker.

    :param task_id: The task's ID.
    :param waits: ``None`` for a create that returns at once; else how it waits: ``deferrable``,
        ``worker`` (the create operator's own wait in the worker), ``poke`` or ``reschedule``.
    :param delete_on_kill: The create operator's ``delete_on_kill``.
    :param upstream: For a sensor: the create task whose job it waits for; ``None`` for a create.
    """

    task_id: str
    waits: str | None
    delete_on_kill: bool = False
    upstream: str | None = None

    @property
    def is_sensor(self) -> bool:
        return self.upstream is not None


CREATE = "create_batch_prediction"
WAIT = "wait_for_batch_prediction"
SOAK_DAGS: dict[str, tuple[SoakTask, ...]] = {
    "soak_operator_deferrable_delete": (SoakTask(CREATE, "deferrable", delete_on_kill=True),),
    "soak_operator_deferrable_keep": (SoakTask(CREATE, "deferrable"),),
    "soak_operator_worker_delete": (SoakTask(CREATE, "worker", delete_on_kill=True),),
    "soak_sensor_deferrable": (
        SoakTask(CREATE, None, delete_on_kill=True),
        SoakTask(WAIT, "deferrable", upstream=CREATE),
    ),
    "soak_sensor_poke": (SoakTask(CREATE, None), SoakTask(WAIT, "poke", upstream=CREATE)),
    "soak_sensor_reschedule": (SoakTask(CREATE, None), SoakTask(WAIT, "reschedule", upstream=CREATE)),
}
# Mapped over DATA_SOURCES: a deferrable create with delete_on_kill, then a deferrable sensor per job.
MAPPED_DAG = "soak_mapped"
SOAK_DAGS[MAPPED_DAG] = (
    SoakTask(CREATE, "deferrable", delete_on_kill=True),
    SoakTask(WAIT, "deferrable", upstream=CREATE),
)

PARAMS = {
    "ml_model_id": Param(os.environ.get("RELIABILITY_ML_MODEL_ID", "my-model"), type="string"),
    "data_source_id": Param(DATA_SOURCES[0], type="string"),
}
OUTPUT_URI = OUTPUT_PREFIX + "{{ dag.dag_id }}/{{ run_id }}/"
COMMON: dict[str, Any] = {
    "aws_conn_id": CONNECTION_ID,
    "retries": 3,
    "retry_delay": timedelta(seconds=2),
}


def create_arguments(task: SoakTask) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "ml_model_id": "{{ params.ml_model_id }}",
        "wait_for_completion": task.waits is not None,
        "deferrable": task.waits == "deferrable",
        "delete_on_kill": task.delete_on_kill,
        "waiter_delay": WAITER_DELAY,
        "waiter_max_attempts": WAIT_SECONDS // WAITER_DELAY,
        **COMMON,
    }


def sensor_arguments(task: SoakTask) -> dict[str, Any]:
    mode = {
        "deferrable": {"deferrable": True},
        "poke": {"mode": "poke"},
        "reschedule": {"mode": "reschedule"},
    }
    return {
        "task_id": task.task_id,
        "poke_interval": WAITER_DELAY,
        "timeout": WAIT_SECONDS,
        **mode[task.waits or ""],
        **COMMON,
    }


def soak_dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, catchup=False, params=PARAMS, max_active_runs=200, tags=["soak"])


for soak_dag_id, (create_task, *sensor_tasks) in SOAK_DAGS.items():
    if soak_dag_id == MAPPED_DAG:
        continue
    with soak_dag(soak_dag_id):
        create = CreateBatchPredictionOperator(
            data_source_id="{{ params.data_source_id }}",
            output_uri=OUTPUT_URI,
            **create_arguments(create_task),
        )
        for sensor_task in sensor_tasks:
            BatchPredictionSensor(batch_prediction_id=create.output, **sensor_arguments(sensor_task))

with soak_dag(MAPPED_DAG):
    create_task, sensor_task = SOAK_DAGS[MAPPED_DAG]
    create = CreateBatchPredictionOperator.partial(
        output_uri=OUTPUT_PREFIX + "{{ dag.dag_id }}/{{ run_id }}/{{ ti.map_index }}/",
        **create_arguments(create_task),
    ).expand(data_source_id=list(DATA_SOURCES))
    BatchPredictionSensor.partial(**sensor_arguments(sensor_task)).expand(batch_prediction_id=create.output)
