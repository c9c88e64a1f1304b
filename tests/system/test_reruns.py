"""Re-runs through a real scheduler: a run that ran again gets fresh objects, a retry never does."""

from __future__ import annotations

from typing import Any

import pytest

from amazon_ml_emulator import datasets
from tests.system.conftest import BUCKET, Figures, jobs_of, service_clients
from tests.system.stack import AirflowStack, wait_until

pytestmark = pytest.mark.system


def created(service: Any, operation: str = "CreateBatchPrediction") -> int:
    return service.call_details().get(operation, {}).get("succeeded", 0)


def clear(stack: AirflowStack, dag_id: str, run_id: str, task_ids: list[str]) -> None:
    """Clear tasks of a run (and what follows them), as a user does in the UI."""
    stack.request(
        "POST",
        f"/api/v2/dags/{dag_id}/clearTaskInstances",
        {
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,
            "dry_run": False,
        },
    )


@pytest.mark.timeout(300)
def test_clearing_a_successful_task_scores_again_with_a_fresh_job(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id = "example_batch_prediction"
    run_id = airflow_stack.trigger(dag_id)
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=150) == {run_id: "success"}
    first = airflow_stack.xcom(dag_id, run_id, "create_batch_prediction")

    clear(airflow_stack, dag_id, run_id, ["create_batch_prediction"])
    wait_until(
        lambda: airflow_stack.task_instances(dag_id, run_id)["create_batch_prediction"]["try_number"] == 2,
        60,
        0.5,
        "the cleared task to run again",
    )
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=150) == {run_id: "success"}
    second = airflow_stack.xcom(dag_id, run_id, "create_batch_prediction")
    results = airflow_stack.xcom(dag_id, run_id, "wait_for_batch_prediction")

    assert second == f"{first}-r1"
    assert airflow_stack.xcom(dag_id, run_id, "create_batch_prediction", "created") is True
    assert results["batch_prediction_id"] == second
    assert created(service) == 2
    figures.record("rerun_after_clear", first_job=first, second_job=second, create_calls=created(service))


@pytest.mark.timeout(300)
def test_a_run_deleted_and_triggered_again_with_the_same_run_id_gets_a_fresh_job(
    airflow_stack: AirflowStack, service: Any, figures: Figures
) -> None:
    dag_id = "example_batch_prediction"
    run_id = airflow_stack.trigger(dag_id, run_id="manual__same-run-id-twice")
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=150) == {run_id: "success"}
    first = airflow_stack.xcom(dag_id, run_id, "create_batch_prediction")
    airflow_stack.request("DELETE", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    assert airflow_stack.trigger(dag_id, run_id=run_id) == run_id
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=150) == {run_id: "success"}

    assert airflow_stack.xcom(dag_id, run_id, "create_batch_prediction") == f"{first}-r1"
    assert created(service) == 2
    figures.record("rerun_after_delete_and_trigger", first_job=first, create_calls=created(service))


@pytest.mark.timeout(600)
def test_a_backfill_that_reprocesses_completed_runs_scores_each_date_again(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, figures: Figures
) -> None:
    dag_id = "rerun_daily_scoring"
    dates = ["2026-02-01", "2026-02-02"]
    backfill = ["backfill", "create", "--dag-id", dag_id, "--from-date", dates[0], "--to-date", dates[1]]

    def run_ids() -> list[str]:
        runs = airflow_stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=50")["dag_runs"]
        return sorted(run["dag_run_id"] for run in runs if run["run_type"] == "backfill")

    airflow_stack.wait_for_dags([dag_id])
    created_backfill = airflow_stack.airflow(*backfill)
    assert created_backfill.returncode == 0, created_backfill.stderr[-2000:]
    wait_until(lambda: len(run_ids()) == 2, 60, 1.0, "the backfill's runs")
    first_ids = run_ids()
    assert airflow_stack.wait_for_runs(dag_id, first_ids, timeout=200) == dict.fromkeys(first_ids, "success")
    first_jobs = {
        run_id: airflow_stack.xcom(dag_id, run_id, "create_batch_prediction") for run_id in first_ids
    }

    # Airflow allows one backfill per DAG at a time; the scheduler marks one complete on a 30 s timer.
    wait_until(
        lambda: all(
            entry["completed_at"]
            for entry in airflow_stack.request("GET", f"/api/v2/backfills?dag_id={dag_id}")["backfills"]
        ),
        90,
        1.0,
        "the first backfill to be marked complete",
    )
    reprocessing = airflow_stack.airflow(*backfill, "--reprocess-behavior", "completed")
    assert reprocessing.returncode == 0, reprocessing.stderr[-2000:]
    wait_until(
        lambda: all(
            airflow_stack.task_instances(dag_id, run_id)["create_batch_prediction"]["try_number"] == 2
            for run_id in first_ids
        ),
        120,
        1.0,
        "the reprocessed runs to start",
    )
    assert run_ids() == first_ids  # cleared in place: the same run IDs
    assert airflow_stack.wait_for_runs(dag_id, first_ids, timeout=200) == dict.fromkeys(first_ids, "success")

    second_jobs = {
        run_id: airflow_stack.xcom(dag_id, run_id, "create_batch_prediction") for run_id in first_ids
    }
    assert second_jobs == {run_id: f"{first}-r1" for run_id, first in first_jobs.items()}
    on_service = {job["BatchPredictionId"] for job in jobs_of(ml_service, dag_id)}
    assert {*first_jobs.values(), *second_jobs.values()} <= on_service
    figures.record("rerun_by_backfill_reprocessing", runs=len(first_ids), create_calls=created(service))


@pytest.mark.timeout(400)
def test_after_an_upstream_failure_clearing_the_run_recovers_without_editing_the_dag(
    airflow_stack: AirflowStack, service: Any, ml_service: Any, emulator_process: Any, figures: Figures
) -> None:
    dag_id = "rerun_training"
    airflow_stack.wait_for_dags([dag_id])
    csv_bytes, schema = datasets.make_dataset("iris")
    conf = {
        "data_location_s3": f"s3://{BUCKET}/training/iris.csv",
        "data_schema_location_s3": f"s3://{BUCKET}/training/iris.schema",
    }
    s3 = service_clients(emulator_process)[1]
    s3.put_object(Bucket=BUCKET, Key="training/iris.csv", Body=csv_bytes)
    s3.put_object(Bucket=BUCKET, Key="training/iris.schema", Body=schema.encode())
    service.fail_next_jobs(1, message="The data could not be read", kind="DataSource")

    run_id = airflow_stack.trigger(dag_id, conf=conf)
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=200) == {run_id: "failed"}
    states = {task: ti["state"] for task, ti in airflow_stack.task_instances(dag_id, run_id).items()}
    assert states == {"create_data_source": "success", "train_model": "failed"}
    first_source = airflow_stack.xcom(dag_id, run_id, "create_data_source")

    # The data is fixed; the user clears the whole run.
    clear(airflow_stack, dag_id, run_id, ["create_data_source"])
    wait_until(
        lambda: airflow_stack.task_instances(dag_id, run_id)["train_model"]["try_number"] >= 2,
        120,
        1.0,
        "the cleared run to train again",
    )
    assert airflow_stack.wait_for_runs(dag_id, [run_id], timeout=200) == {run_id: "success"}
    model = airflow_stack.xcom(dag_id, run_id, "train_model")

    assert airflow_stack.xcom(dag_id, run_id, "create_data_source") == f"{first_source}-r1"
    assert model.endswith("-r1")
    assert ml_service.get_ml_model(MLModelId=model)["TrainingDataSourceId"] == f"{first_source}-r1"
    figures.record(
        "upstream_failure_then_clear",
        data_sources_created=created(service, "CreateDataSourceFromS3"),
        models_created=created(service, "CreateMLModel"),
    )
