"""The example batch prediction DAG, run by a real scheduler, triggerer and API server on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.system.conftest import HOLD, ML_MODEL_ID, OUTPUT_URI, RELEASE, Figures, jobs_of
from tests.system.stack import AirflowStack

pytestmark = pytest.mark.system
DAG_ID = "example_batch_prediction"


@pytest.mark.timeout(240)
def test_example_dag_scores_every_record_through_the_real_scheduler_and_triggerer(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    # The job runs until the sensor waits in the triggerer, so that the wait is the triggerer's.
    service.configure(job_duration=HOLD)
    run_id = airflow_stack.trigger(DAG_ID)
    airflow_stack.wait_for_deferred(DAG_ID, [run_id], "wait_for_batch_prediction", 150)
    service.configure(job_duration=RELEASE)
    assert airflow_stack.wait_for_runs(DAG_ID, [run_id], timeout=200) == {run_id: "success"}

    instances = airflow_stack.task_instances(DAG_ID, run_id)
    assert {task: ti["state"] for task, ti in instances.items()} == {
        "create_batch_prediction": "success",
        "wait_for_batch_prediction": "success",
        "summarize": "success",
    }
    assert all(ti["try_number"] == 1 for ti in instances.values())
    batch_prediction_id = airflow_stack.xcom(DAG_ID, run_id, "create_batch_prediction")
    assert airflow_stack.xcom(DAG_ID, run_id, "create_batch_prediction", "output_uri") == OUTPUT_URI
    results = airflow_stack.xcom(DAG_ID, run_id, "wait_for_batch_prediction")
    assert results["batch_prediction_id"] == batch_prediction_id
    assert results["status"] == "COMPLETED"
    assert results["ml_model_id"] == ML_MODEL_ID
    summary = airflow_stack.xcom(DAG_ID, run_id, "summarize")
    assert summary["scored"] == results["total_record_count"] - results["invalid_record_count"]
    # The sensor waited in the triggerer, not in a worker slot, and heard one event.
    assert airflow_stack.trigger_log_files(DAG_ID, run_id, "wait_for_batch_prediction")
    assert (
        len(airflow_stack.fired_events(DAG_ID, run_id, "wait_for_batch_prediction", batch_prediction_id)) == 1
    )

    jobs = jobs_of(ml_service, DAG_ID)
    assert [job["BatchPredictionId"] for job in jobs] == [batch_prediction_id]
    figures.record(
        "example_dag",
        runs=1,
        faults_injected=0,
        jobs_expected=1,
        jobs_created=len(jobs),
        create_calls=service.call_details().get("CreateBatchPrediction", {}).get("succeeded", 0),
        records_scored=summary["scored"],
        task_states={task: ti["state"] for task, ti in instances.items()},
    )
