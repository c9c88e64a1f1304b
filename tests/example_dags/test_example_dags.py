"""Every example DAG runs end to end on the local emulator under ``airflow dags test``."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION, DATA_SOURCE, EVALUATION, ML_MODEL
from amazon_ml_emulator import datasets
from amazon_ml_emulator.testing.dag_runner import (
    airflow_command,
    airflow_environment,
    migrated_home,
    run_dag_test,
)
from tests.conftest import BUCKET, REPOSITORY
from tests.example_dags.database_pipeline import run_database_pipeline

# The cost-allocation tags example_database_pipeline puts on every object it creates.
EXAMPLE_TAGS = {"project": "breast-cancer-screening", "cost-center": "ml-research"}


def asset_events(home):
    """The extras of every asset event in an Airflow home's metadata database (dataset events on Airflow 2)."""
    with sqlite3.connect(home / "airflow.db") as database:
        tables = {name for (name,) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        table = "asset_event" if "asset_event" in tables else "dataset_event"
        return [json.loads(extra) for (extra,) in database.execute(f"SELECT extra FROM {table} ORDER BY id")]


EXAMPLE_ENVIRONMENT = {"EXAMPLE_BUCKET": f"s3://{BUCKET}"}


@pytest.fixture(scope="module")
def examples_template(airflow_template, tmp_path_factory):
    """
    A migrated home whose database already holds the example DAGs and their assets.

    Airflow 3.0.0's ``dags test`` reads the DAG from the database, and 2.11's records an asset's events only
    once a DAG processor registered the asset: ``dags reserialize`` does both, once for the module.
    """
    template = migrated_home(airflow_template, tmp_path_factory.mktemp("airflow-examples"))
    environment = airflow_environment(template, REPOSITORY / "example_dags", None)
    subprocess.run(
        airflow_command("dags", "reserialize"),
        env={**environment, **EXAMPLE_ENVIRONMENT},
        check=True,
        capture_output=True,
    )
    return template


@pytest.fixture
def run_example(emulator, examples_template, tmp_path):
    def run(dag_id: str, conf: dict):
        home = migrated_home(examples_template, tmp_path / "airflow")
        result = run_dag_test(
            dag_id,
            home=home,
            dags_folder=REPOSITORY / "example_dags",
            connection_json=emulator.connection_json(),
            conf=conf,
        )
        assert result.succeeded, result.output[-4000:]
        return result

    return run


@pytest.mark.system
def test_example_batch_prediction_scores_every_record(run_example, binary_model, emulator):
    emulator.reset_call_counts()
    result = run_example(
        "example_batch_prediction",
        {
            "ml_model_id": binary_model["ml_model_id"],
            "data_source_id": binary_model["data_source_id"],
            "output_uri": f"s3://{BUCKET}/example/",
        },
    )
    batch_prediction_id = result.xcoms[("create_batch_prediction", "return_value")]
    assert result.xcoms[("create_batch_prediction", "output_uri")] == f"s3://{BUCKET}/example/"
    sensed = result.xcoms[("wait_for_batch_prediction", "return_value")]
    assert sensed["batch_prediction_id"] == batch_prediction_id
    assert sensed["status"] == "COMPLETED"
    records = int(binary_model["record_count"])
    assert result.xcoms[("summarize", "return_value")] == {"scored": records, "invalid": 0}
    assert emulator.call_counts()["CreateBatchPrediction"] == 1


@pytest.mark.system
def test_example_ml_pipeline_trains_gates_and_scores(run_example, s3_client):
    csv_bytes, schema = datasets.make_dataset("iris")
    header, *records = csv_bytes.decode().splitlines(keepends=True)
    s3_client.put_object(
        Bucket=BUCKET, Key="iris/history.csv", Body="".join([header, *records[::2]]).encode()
    )
    s3_client.put_object(Bucket=BUCKET, Key="iris/new.csv", Body="".join([header, *records[1::2]]).encode())
    s3_client.put_object(Bucket=BUCKET, Key="iris/schema.json", Body=schema.encode())
    result = run_example(
        "example_ml_pipeline",
        {
            "history_uri": f"s3://{BUCKET}/iris/history.csv",
            "new_records_uri": f"s3://{BUCKET}/iris/new.csv",
            "schema_uri": f"s3://{BUCKET}/iris/schema.json",
            "output_uri": f"s3://{BUCKET}/iris-predictions/",
            "ml_model_type": "MULTICLASS",
            "min_metric": 0.8,
        },
    )
    assert result.xcoms[("wait_for_evaluation", "return_value")] >= 0.8
    summary = result.xcoms[("summarize", "return_value")]
    assert summary["scored"] == len(records[1::2])
    assert summary["accuracy"] > 0.85
    assert all(tries == 1 for tries in result.tries.values()), result.tries


@pytest.mark.system
def test_mapped_predictions_publish_an_asset_the_consumer_reads(
    emulator, examples_template, tmp_path, s3_client, binary_model
):
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    parts = datasets.split_files(csv_bytes, 3)
    uris = []
    for number, part in enumerate(parts, start=1):
        s3_client.put_object(Bucket=BUCKET, Key=f"mapped/part-{number}.csv", Body=part)
        uris.append(f"s3://{BUCKET}/mapped/part-{number}.csv")
    s3_client.put_object(Bucket=BUCKET, Key="mapped/schema.json", Body=schema.encode())
    home = migrated_home(examples_template, tmp_path / "airflow")
    common = {
        "home": home,
        "dags_folder": REPOSITORY / "example_dags",
        "connection_json": emulator.connection_json(),
        "extra_environment": EXAMPLE_ENVIRONMENT,
    }
    emulator.reset_call_counts()
    producer = run_dag_test(
        "example_mapped_predictions",
        conf={
            "ml_model_id": binary_model["ml_model_id"],
            "data_location_uris": uris,
            "schema_uri": f"s3://{BUCKET}/mapped/schema.json",
        },
        **common,
    )
    assert producer.succeeded, producer.output[-4000:]
    job_ids = {producer.xcoms[(f"create_batch_predictions[{index}]", "return_value")] for index in range(3)}
    assert len(job_ids) == 3
    assert emulator.call_counts()["CreateBatchPrediction"] == 3
    assert producer.xcoms[("report", "return_value")] == {
        "jobs": 3,
        "records": int(binary_model["record_count"]),
    }

    events = asset_events(home)
    assert sorted(event["batch_prediction_id"] for event in events) == sorted(job_ids)
    assert all(event["status"] == "COMPLETED" and event["result_uris"] for event in events)

    consumer = run_dag_test("example_predictions_consumer", **common)
    assert consumer.succeeded, consumer.output[-4000:]
    counts = consumer.xcoms[("count_positive_predictions", "return_value")]
    assert set(counts) <= job_ids
    assert len(counts) == 1
    assert 0 < next(iter(counts.values())) < int(binary_model["record_count"])


@pytest.mark.system
def test_example_database_pipeline_trains_on_redshift_scores_rds_and_deploys(
    emulator, redshift, rds, s3_client, breast_cancer_tables, examples_template, tmp_path
):
    emulator.reset_call_counts()
    result = run_database_pipeline(
        emulator, redshift, rds, s3_client, breast_cancer_tables, examples_template, tmp_path / "airflow"
    )
    assert result.succeeded, result.output[-4000:]
    hook = MachineLearningHook()
    ml_model_id = result.xcoms[("train_model", "return_value")]
    sensed = result.xcoms[("wait_for_batch_prediction", "return_value")]
    rows = list(hook.iter_results(sensed))
    prediction = result.xcoms[("predict_one_patient", "return_value")]

    assert result.xcoms[("wait_for_evaluation", "return_value")] >= 0.9
    assert sensed["total_record_count"] == len(breast_cancer_tables["new_patients"])
    diagnoses = sorted(breast_cancer_tables["new_patients"], key=lambda row: (row[0], row[1]))
    assert [row["trueLabel"] for row in rows] == [str(row[-1]) for row in diagnoses]
    assert sum(row["bestAnswer"] == row["trueLabel"] for row in rows) / len(rows) > 0.85
    # The record asked about is the first the batch prediction scored: both answers agree.
    assert prediction["predictedLabel"] == rows[0]["bestAnswer"]
    assert prediction["predictedScores"][prediction["predictedLabel"]] == pytest.approx(
        float(rows[0]["score"]), rel=1e-6
    )
    assert f"Model {ml_model_id} predicts {prediction['predictedLabel']}" in result.output
    assert result.xcoms[("deploy_model", "endpoint_url")] == emulator.endpoint_url
    assert hook.get_endpoint_info(ml_model_id)["EndpointStatus"] == "READY"
    created = {
        task_id: (kind, result.xcoms[(task_id, "return_value")])
        for task_id, kind in (
            ("create_training_data_source", DATA_SOURCE),
            ("create_evaluation_data_source", DATA_SOURCE),
            ("create_new_patients_data_source", DATA_SOURCE),
            ("train_model", ML_MODEL),
            ("evaluate_model", EVALUATION),
            ("create_batch_prediction", BATCH_PREDICTION),
        )
    }
    for task_id, (kind, entity_id) in created.items():
        tags = hook.get_tags(kind, entity_id)
        assert tags.items() >= EXAMPLE_TAGS.items(), (task_id, tags)
    counts = emulator.call_counts()
    assert (counts["CreateDataSourceFromRedshift"], counts["CreateDataSourceFromRDS"]) == (2, 1)
    assert counts["CreateRealtimeEndpoint"] == counts["Predict"] == 1
    hook.delete_realtime_endpoint(ml_model_id)
