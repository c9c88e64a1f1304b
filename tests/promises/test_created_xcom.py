"""The ``created`` and ``output_uri`` XComs a create task pushes before it defers, read after the run under
``airflow dags test`` (whose resume drops the deferral's kwargs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test
from tests.conftest import BUCKET

DAGS = Path(__file__).parent / "dags"


@pytest.mark.system
def test_a_deferred_create_task_keeps_its_created_and_output_uri_xcoms(
    binary_model, emulator, airflow_template, tmp_path
):
    emulator.configure(job_duration=3)
    home = migrated_home(airflow_template, tmp_path / "airflow")
    result = run_dag_test(
        "promises_deferred_create",
        home=home,
        dags_folder=DAGS,
        connection_json=emulator.connection_json(),
        extra_environment={
            "PROMISES_ML_MODEL_ID": binary_model["ml_model_id"],
            "PROMISES_DATA_SOURCE_ID": binary_model["data_source_id"],
            "PROMISES_OUTPUT_URI": f"s3://{BUCKET}/promises/deferred",
        },
        timeout=300,
    )
    assert result.succeeded, result.output[-3000:]
    job_id = result.xcoms[("create", "return_value")]
    assert emulator.call_counts()["CreateBatchPrediction"] >= 1
    assert result.xcoms.get(("create", "created")) is True, sorted(result.xcoms)
    assert result.xcoms.get(("create", "output_uri")) == f"s3://{BUCKET}/promises/deferred/", sorted(
        result.xcoms
    )
    assert ".create." in job_id
