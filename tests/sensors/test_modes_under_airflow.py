"""The sensor under real Airflow task execution (``airflow dags test``) in poke, reschedule and deferrable mode."""

from __future__ import annotations

import pytest

from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test

DAG_FILE = """
from airflow.providers.common.compat.sdk import DAG
from airflow_ml_provider import BatchPredictionSensor

with DAG(dag_id="sensor_modes", schedule=None):
    for mode, deferrable in (("poke", False), ("reschedule", False), ("poke", True)):
        BatchPredictionSensor(
            task_id=f"{mode}_deferrable" if deferrable else mode,
            batch_prediction_id="BATCH_PREDICTION_ID",
            mode=mode,
            deferrable=deferrable,
            poke_interval=1,
            timeout=TIMEOUT,
        )
"""


@pytest.fixture
def run_sensors(emulator, submit, airflow_template, tmp_path):
    def run(job_duration: float, timeout: int):
        emulator.configure(job_duration=job_duration)
        batch_prediction_id = submit()
        dags = tmp_path / "dags"
        dags.mkdir()
        source = DAG_FILE.replace("TIMEOUT", str(timeout)).replace("BATCH_PREDICTION_ID", batch_prediction_id)
        (dags / "sensor_modes.py").write_text(source)
        home = migrated_home(airflow_template, tmp_path / "airflow")
        return run_dag_test(
            "sensor_modes", home=home, dags_folder=dags, connection_json=emulator.connection_json()
        )

    return run


@pytest.mark.system
def test_every_mode_waits_for_the_same_job_and_returns_the_same_result(run_sensors):
    result = run_sensors(job_duration=4, timeout=120)
    assert result.succeeded, result.output[-4000:]
    values = [
        result.xcoms[(task_id, "return_value")] for task_id in ("poke", "reschedule", "poke_deferrable")
    ]
    assert values[0] == values[1] == values[2]
    assert values[0]["status"] == "COMPLETED"


@pytest.mark.system
@pytest.mark.timing
def test_every_mode_times_out_on_a_job_that_never_finishes(run_sensors):
    result = run_sensors(job_duration=600, timeout=3)
    assert result.task_states == {"poke": "failed", "reschedule": "failed", "poke_deferrable": "failed"}
    assert result.output.count("AirflowSensorTimeout") >= 3, result.output[-4000:]
