"""Input rules botocore leaves to the service, and idempotent creates."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from amazon_ml_emulator.datasets import TINY_SCHEMA

from .helpers import BUCKET, CREDENTIALS, new_id
from .shapes import attach_checker


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]


def create_batch_prediction_kwargs(tiny, **overrides):
    return {
        "BatchPredictionId": new_id("bp"),
        "MLModelId": tiny["ml_model_id"],
        "BatchPredictionDataSourceId": tiny["data_source_id"],
        "OutputUri": f"s3://{BUCKET}/validation/",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"BatchPredictionId": "x" * 65}, "1 to 64 characters"),
        ({"BatchPredictionId": "bad id!"}, "[a-zA-Z0-9_.-]+"),
        ({"BatchPredictionId": "slash/id"}, "[a-zA-Z0-9_.-]+"),
        ({"MLModelId": "m" * 65}, "1 to 64 characters"),
        ({"BatchPredictionDataSourceId": "ds#1"}, "[a-zA-Z0-9_.-]+"),
        ({"BatchPredictionName": "   "}, "whitespace"),
        ({"BatchPredictionName": "n" * 1025}, "at most 1024"),
        ({"OutputUri": "https://bucket/key/"}, "s3://([^/]+)(/.*)?"),
        ({"OutputUri": "s3://"}, "s3://([^/]+)(/.*)?"),
        ({"OutputUri": "s3://" + BUCKET + "/" + "k" * 2048}, "at most 2048"),
        ({"OutputUri": f"s3://{BUCKET}/a:b/"}, "':'"),
        ({"OutputUri": f"s3://{BUCKET}/a//b/"}, "'//'"),
        ({"OutputUri": f"s3://{BUCKET}/a/./b/"}, "'/./'"),
        ({"OutputUri": f"s3://{BUCKET}/a/../b/"}, "'/../'"),
        ({"MLModelId": "no-such-model"}, "No MLModel with id no-such-model exists (MLModelId)"),
        (
            {"BatchPredictionDataSourceId": "no-such-data-source"},
            "No DataSource with id no-such-data-source exists (BatchPredictionDataSourceId)",
        ),
    ],
)
def test_create_batch_prediction_rejects_bad_input_naming_field_and_rule(ml, tiny, overrides, rule):
    error = error_of(ml.create_batch_prediction, **create_batch_prediction_kwargs(tiny, **overrides))

    assert error["Code"] == "InvalidInputException"
    field = next(iter(overrides))
    assert field in error["Message"]
    assert rule in error["Message"]


def test_empty_id_is_rejected_by_botocore_before_reaching_the_service(ml, tiny):
    with pytest.raises(ParamValidationError):
        ml.create_batch_prediction(**create_batch_prediction_kwargs(tiny, BatchPredictionId=""))


def test_output_uri_without_trailing_slash_is_accepted_as_a_folder(ml, tiny, pipeline, s3):
    batch_prediction_id = pipeline.batch_prediction(
        tiny["ml_model_id"], tiny["data_source_id"], f"s3://{BUCKET}/no-slash-{new_id('out')}"
    )
    answer = pipeline.wait_batch_prediction(batch_prediction_id)

    assert answer["Status"] == "COMPLETED"
    assert not answer["OutputUri"].endswith("/")
    key = answer["OutputUri"].split("/", 3)[3] + f"/batch-prediction/{batch_prediction_id}.manifest"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_output_uri_without_slash_is_rejected_when_configured_strict(ml, tiny, emulator):
    emulator.configure(output_uri_requires_slash=True)
    try:
        error = error_of(
            ml.create_batch_prediction, **create_batch_prediction_kwargs(tiny, OutputUri="s3://b/out")
        )
    finally:
        emulator.configure(output_uri_requires_slash=False)

    assert error["Code"] == "InvalidInputException"
    assert "must end with '/'" in error["Message"]


@pytest.fixture
def unvalidated_ml(emulator):
    """A client that skips botocore's own checks, as other SDKs may, so the service's rules show."""
    client = boto3.session.Session().client(
        "machinelearning",
        endpoint_url=emulator.endpoint_url,
        config=Config(parameter_validation=False),
        **CREDENTIALS,
    )
    attach_checker(client)
    return client


def test_empty_id_is_rejected_by_the_service_too(unvalidated_ml, tiny):
    error = error_of(
        unvalidated_ml.create_batch_prediction, **create_batch_prediction_kwargs(tiny, BatchPredictionId="")
    )

    assert error["Code"] == "InvalidInputException"
    assert "BatchPredictionId '': must be 1 to 64 characters long" in error["Message"]


@pytest.mark.parametrize("limit", [0, 101])
def test_describe_limit_outside_1_to_100_is_rejected(unvalidated_ml, limit):
    error = error_of(unvalidated_ml.describe_batch_predictions, Limit=limit)

    assert error["Code"] == "InvalidInputException"
    assert f"Limit {limit}" in error["Message"]


@pytest.mark.parametrize(
    ("call", "kwargs", "field"),
    [
        ("describe_batch_predictions", {"FilterVariable": "Colour", "EQ": "x"}, "FilterVariable"),
        ("describe_data_sources", {"FilterVariable": "MLModelId", "EQ": "x"}, "FilterVariable"),
        ("describe_ml_models", {"SortOrder": "desc"}, "SortOrder"),
        ("describe_evaluations", {"EQ": "x"}, "FilterVariable is required"),
        ("describe_batch_predictions", {"NextToken": "garbage"}, "NextToken"),
        ("describe_batch_predictions", {"FilterVariable": "CreatedAt", "GT": "yesterday"}, "ISO 8601"),
    ],
)
def test_describe_rejects_bad_enums_and_tokens(ml, call, kwargs, field):
    error = error_of(getattr(ml, call), **kwargs)

    assert error["Code"] == "InvalidInputException"
    assert field in error["Message"]


def test_create_ml_model_rejects_bad_type_parameters_and_data_source_without_statistics(ml, pipeline, tiny):
    no_statistics = pipeline.data_source(tiny["location"], TINY_SCHEMA, compute_statistics=False)
    cases = [
        ({"MLModelType": "CLUSTERING"}, "MLModelType"),
        ({"Parameters": {"sgd.maxPasses": "0"}}, "sgd.maxPasses"),
        ({"Parameters": {"sgd.unknown": "1"}}, "sgd.unknown"),
        ({"TrainingDataSourceId": no_statistics}, "ComputeStatistics=true"),
        ({"Recipe": "{", "RecipeUri": "s3://b/r.json"}, "not both"),
    ]
    for overrides, expected in cases:
        kwargs = {
            "MLModelId": new_id("model"),
            "MLModelType": "BINARY",
            "TrainingDataSourceId": tiny["data_source_id"],
            **overrides,
        }
        error = error_of(ml.create_ml_model, **kwargs)
        assert error["Code"] == "InvalidInputException", overrides
        assert expected in error["Message"], error["Message"]


@pytest.mark.parametrize(
    ("data_spec", "expected"),
    [
        ({"DataLocationS3": "s3://"}, "DataLocationS3"),
        ({"DataLocationS3": f"s3://{BUCKET}/x", "DataSchema": "{not json"}, "DataSchema"),
        ({"DataLocationS3": f"s3://{BUCKET}/x"}, "DataSchema or DataSchemaLocationS3"),
        (
            {"DataLocationS3": f"s3://{BUCKET}/x", "DataSchema": TINY_SCHEMA, "DataRearrangement": "[]"},
            "DataRearrangement",
        ),
    ],
)
def test_create_data_source_rejects_bad_spec(ml, data_spec, expected):
    error = error_of(ml.create_data_source_from_s3, DataSourceId=new_id("ds"), DataSpec=data_spec)

    assert error["Code"] == "InvalidInputException"
    assert expected in error["Message"]


def test_update_ml_model_score_threshold_only_for_binary_and_within_0_to_1(ml, tiny):
    error = error_of(ml.update_ml_model, MLModelId=tiny["ml_model_id"], ScoreThreshold=1.5)

    assert error["Code"] == "InvalidInputException"
    assert "between 0 and 1" in error["Message"]


def test_same_id_and_parameters_returns_the_same_job_without_a_second_one(ml, tiny, emulator):
    kwargs = create_batch_prediction_kwargs(tiny, BatchPredictionName="once")
    first = ml.create_batch_prediction(**kwargs)
    second = ml.create_batch_prediction(**kwargs)
    listed = ml.describe_batch_predictions(FilterVariable="Name", EQ="once")["Results"]

    assert first["BatchPredictionId"] == second["BatchPredictionId"] == kwargs["BatchPredictionId"]
    assert [item["BatchPredictionId"] for item in listed] == [kwargs["BatchPredictionId"]]


def test_same_id_with_other_parameters_is_an_idempotent_parameter_mismatch(ml, tiny):
    kwargs = create_batch_prediction_kwargs(tiny)
    ml.create_batch_prediction(**kwargs)
    error = error_of(ml.create_batch_prediction, **{**kwargs, "OutputUri": f"s3://{BUCKET}/elsewhere/"})

    assert error["Code"] == "IdempotentParameterMismatchException"
    assert "OutputUri" in error["Message"]


def test_ids_are_unique_per_type_only(ml, tiny, pipeline):
    shared_id = new_id("shared")
    ml.create_batch_prediction(**create_batch_prediction_kwargs(tiny, BatchPredictionId=shared_id))
    ml.create_evaluation(
        EvaluationId=shared_id, MLModelId=tiny["ml_model_id"], EvaluationDataSourceId=tiny["data_source_id"]
    )

    assert ml.get_batch_prediction(BatchPredictionId=shared_id)["BatchPredictionId"] == shared_id
    assert ml.get_evaluation(EvaluationId=shared_id)["EvaluationId"] == shared_id
