"""Behaviour an audit against botocore's model and the Developer Guide found missing, each pinned by a test."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest
from botocore.exceptions import ClientError

from amazon_ml_emulator import Emulator
from amazon_ml_emulator.datasets import TINY_CSV, TINY_SCHEMA
from amazon_ml_emulator.learning import DEFAULT_RECIPE

from .helpers import BUCKET, SETTINGS, machine_learning_client, new_id, wait_for_status


def create_data_source(ml, location: str, **spec) -> str:
    data_source_id = new_id("ds")
    ml.create_data_source_from_s3(
        DataSourceId=data_source_id, DataSpec={"DataLocationS3": location, **spec}, ComputeStatistics=True
    )
    return data_source_id


def test_a_folder_keeps_its_schema_as_dot_schema_and_reading_the_folder_skips_it(ml, pipeline):
    folder = new_id("with-schema")
    pipeline.put(f"{folder}/part-0.csv", TINY_CSV)
    schema_url = pipeline.put(f"{folder}/.schema", TINY_SCHEMA)
    pipeline.put(f"{folder}/part-0.csv.schema", TINY_SCHEMA)
    data_source_id = create_data_source(ml, f"s3://{BUCKET}/{folder}/", DataSchemaLocationS3=schema_url)

    done = pipeline.wait_data_source(data_source_id)

    assert done["Status"] == "COMPLETED", done.get("Message")
    assert done["NumberOfFiles"] == 1
    assert done["DataSizeInBytes"] == len(TINY_CSV)


def test_a_location_without_trailing_slash_is_that_folder_and_never_a_sibling_prefix(ml, pipeline):
    folder = new_id("new")
    pipeline.put(f"{folder}/records.csv", TINY_CSV)
    pipeline.put(f"{folder}-archive/old.csv", TINY_CSV + TINY_CSV)
    data_source_id = create_data_source(ml, f"s3://{BUCKET}/{folder}", DataSchema=TINY_SCHEMA)

    done = pipeline.wait_data_source(data_source_id)

    assert done["Status"] == "COMPLETED", done.get("Message")
    assert (done["NumberOfFiles"], done["DataSizeInBytes"]) == (1, len(TINY_CSV))


def test_a_model_reports_the_training_parameters_it_trained_with(ml, pipeline, tiny):
    ml_model_id = pipeline.ml_model(tiny["data_source_id"])
    with_l1 = pipeline.ml_model(
        tiny["data_source_id"], Parameters={"sgd.l1RegularizationAmount": "1.0E-8", "sgd.maxPasses": "3"}
    )

    assert ml.get_ml_model(MLModelId=ml_model_id)["TrainingParameters"] == {
        "algorithm": "sgd",
        "sgd.maxPasses": "10",
        "sgd.shuffleType": "none",
        "sgd.l2RegularizationAmount": "1.0E-6",
        "sgd.maxMLModelSizeInBytes": "33554432",
    }
    assert ml.get_ml_model(MLModelId=with_l1)["TrainingParameters"] == {
        "algorithm": "sgd",
        "sgd.maxPasses": "3",
        "sgd.shuffleType": "none",
        "sgd.l1RegularizationAmount": "1.0E-8",
        "sgd.maxMLModelSizeInBytes": "33554432",
    }


def test_verbose_get_ml_model_shows_the_default_recipe_of_a_model_given_none(ml, tiny):
    answer = ml.get_ml_model(MLModelId=tiny["ml_model_id"], Verbose=True)

    assert json.loads(answer["Recipe"]) == DEFAULT_RECIPE
    assert "Recipe" not in ml.get_ml_model(MLModelId=tiny["ml_model_id"])


def fetch_log(emulator: Emulator, log_uri: str) -> str:
    context = ssl.create_default_context(cafile=emulator.log_certificate)
    with urllib.request.urlopen(log_uri, context=context, timeout=10) as response:
        return response.read().decode()


def test_log_uri_is_an_https_url_the_emulator_serves_holding_the_jobs_log(ml, pipeline, tiny, emulator):
    done = pipeline.wait_batch_prediction(
        pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    )
    emulator.fail_next_jobs(1, message="Input data is missing")
    failed = pipeline.wait_batch_prediction(
        pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    )

    assert done["LogUri"].startswith("https://127.0.0.1:")
    log = fetch_log(emulator, done["LogUri"])
    assert [line.split(" ", 1)[1] for line in log.splitlines()] == [
        f"BatchPrediction {done['BatchPredictionId']} created, status PENDING",
        "Job started, status INPROGRESS",
        "Job finished, status COMPLETED",
    ]
    assert (
        fetch_log(emulator, failed["LogUri"])
        .splitlines()[-1]
        .endswith("Job failed, status FAILED: Input data is missing")
    )
    model_log = fetch_log(emulator, ml.get_ml_model(MLModelId=tiny["ml_model_id"])["LogUri"])
    assert "Job finished, status COMPLETED" in model_log


@pytest.mark.parametrize(
    ("operand", "rule"),
    [("x" * 1025, "must be at most 1024 characters long"), ("   ", r"must match the pattern .*\S.*|^$")],
)
def test_describe_rejects_a_comparator_value_botocore_lets_through(ml, operand, rule):
    with pytest.raises(ClientError) as raised:
        ml.describe_data_sources(FilterVariable="Name", Prefix=operand)

    assert raised.value.response["Error"]["Code"] == "InvalidInputException"
    assert raised.value.response["Error"]["Message"].startswith("Prefix ")
    assert rule in raised.value.response["Error"]["Message"]


def test_describe_accepts_an_empty_comparator_value(ml):
    assert "Results" in ml.describe_data_sources(FilterVariable="Name", EQ="")


TOO_LONG_DOCUMENT = json.dumps({"padding": "x" * 131071})


def test_a_data_schema_longer_than_131071_characters_is_rejected(ml):
    with pytest.raises(ClientError) as raised:
        create_data_source(ml, f"s3://{BUCKET}/tiny/", DataSchema=TOO_LONG_DOCUMENT)

    assert raised.value.response["Error"]["Code"] == "InvalidInputException"
    assert raised.value.response["Error"]["Message"] == (
        f"DataSpec.DataSchema: {len(TOO_LONG_DOCUMENT)} characters; must be at most 131071 characters long"
    )


def test_a_recipe_longer_than_131071_characters_is_rejected(ml, tiny):
    with pytest.raises(ClientError) as raised:
        ml.create_ml_model(
            MLModelId=new_id("model"),
            MLModelType="BINARY",
            TrainingDataSourceId=tiny["data_source_id"],
            Recipe=TOO_LONG_DOCUMENT,
        )

    assert raised.value.response["Error"]["Code"] == "InvalidInputException"
    assert raised.value.response["Error"]["Message"] == (
        f"Recipe: {len(TOO_LONG_DOCUMENT)} characters; must be at most 131071 characters long"
    )


def test_a_malformed_created_at_operand_is_rejected_even_in_an_empty_account():
    with Emulator(**SETTINGS) as empty:
        ml, _ = machine_learning_client(empty.endpoint_url)
        with pytest.raises(ClientError) as raised:
            ml.describe_ml_models(FilterVariable="CreatedAt", GT="last tuesday")

    assert raised.value.response["Error"]["Code"] == "InvalidInputException"
    assert "GT 'last tuesday': CreatedAt takes epoch seconds or an ISO 8601 date-time" in str(raised.value)


def test_a_pending_model_has_neither_score_threshold_nor_log_uri(ml, pipeline, tiny, emulator):
    emulator.configure(pending_duration=0.5)
    ml_model_id = pipeline.ml_model(tiny["data_source_id"])

    pending = ml.get_ml_model(MLModelId=ml_model_id)
    done = pipeline.wait_ml_model(ml_model_id)

    assert pending["Status"] == "PENDING"
    assert "ScoreThreshold" not in pending
    assert "LogUri" not in pending
    assert done["ScoreThreshold"] == 0.5
    assert done["LogUri"].startswith("https://")


def test_a_job_running_longer_than_the_run_time_limit_fails_with_the_services_message(
    ml, pipeline, tiny, emulator
):
    assert emulator.config.max_job_runtime == 7 * 24 * 3600
    emulator.configure(job_duration=30, max_job_runtime=0.3)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])

    failed = wait_for_status(
        lambda: ml.get_batch_prediction(BatchPredictionId=batch_prediction_id), timeout=10
    )

    assert failed["Status"] == "FAILED"
    assert failed["Message"] == "The job exceeded the maximum run time of 0.3 seconds and was stopped"
    emulator.configure(max_job_runtime=7 * 24 * 3600)
