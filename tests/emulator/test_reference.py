"""The emulator against the service's own references: the SDKs' real-service tests, the Smithy model, and the
API Reference's documentation of each member. Each test names its source."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from amazon_ml_emulator import datasets
from amazon_ml_emulator.datasets import TINY_SCHEMA

from .helpers import CREDENTIALS, new_id, sigv4_headers, wait_for_status, wait_until_endpoint_ready
from .shapes import attach_checker


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


# 1, 2: the not-found wording of the aws-sdk-go integration test for Amazon ML ("No BatchPrediction with id
# fake-id exists", also in botocore's first smoke feature); the status of the Smithy model's httpError.
NOT_FOUND_CALLS = [
    ("get_batch_prediction", {"BatchPredictionId": "fake-id"}, "BatchPrediction"),
    ("get_data_source", {"DataSourceId": "fake-id"}, "DataSource"),
    ("get_ml_model", {"MLModelId": "fake-id"}, "MLModel"),
    ("get_evaluation", {"EvaluationId": "fake-id"}, "Evaluation"),
    ("update_data_source", {"DataSourceId": "fake-id", "DataSourceName": "n"}, "DataSource"),
    ("update_ml_model", {"MLModelId": "fake-id", "MLModelName": "n"}, "MLModel"),
    ("update_evaluation", {"EvaluationId": "fake-id", "EvaluationName": "n"}, "Evaluation"),
    (
        "update_batch_prediction",
        {"BatchPredictionId": "fake-id", "BatchPredictionName": "n"},
        "BatchPrediction",
    ),
    ("delete_data_source", {"DataSourceId": "fake-id"}, "DataSource"),
    ("delete_ml_model", {"MLModelId": "fake-id"}, "MLModel"),
    ("delete_evaluation", {"EvaluationId": "fake-id"}, "Evaluation"),
    ("delete_batch_prediction", {"BatchPredictionId": "fake-id"}, "BatchPrediction"),
    ("create_realtime_endpoint", {"MLModelId": "fake-id"}, "MLModel"),
    ("delete_realtime_endpoint", {"MLModelId": "fake-id"}, "MLModel"),
    ("describe_tags", {"ResourceId": "fake-id", "ResourceType": "Evaluation"}, "Evaluation"),
    ("add_tags", {"ResourceId": "fake-id", "ResourceType": "MLModel", "Tags": [{"Key": "k"}]}, "MLModel"),
    ("delete_tags", {"ResourceId": "fake-id", "ResourceType": "DataSource", "TagKeys": ["k"]}, "DataSource"),
]


@pytest.mark.parametrize(
    ("operation", "params", "kind"), NOT_FOUND_CALLS, ids=[c[0] for c in NOT_FOUND_CALLS]
)
def test_a_missing_object_is_named_in_the_services_words_with_status_404(ml, operation, params, kind):
    with pytest.raises(ClientError) as raised:
        getattr(ml, operation)(**params)

    assert error_of(raised) == (404, "ResourceNotFoundException", f"No {kind} with id fake-id exists")


def test_predict_on_a_missing_model_is_not_found_in_the_same_words(ml, emulator):
    with pytest.raises(ClientError) as raised:
        ml.predict(MLModelId="fake-id", Record={"x": "1"}, PredictEndpoint=emulator.endpoint_url)

    assert error_of(raised) == (404, "ResourceNotFoundException", "No MLModel with id fake-id exists")


# 3: PeakRequestsPerSecond is 200 (the Developer Guide's System Limits: "TPS for each real-time prediction
# endpoint 200"); LimitExceededException is among Predict's errors in the model, with status 417 in Smithy's.


@pytest.fixture
def endpoint(ml, tiny, emulator):
    emulator.configure(endpoint_startup_duration=0.05)
    ml.create_realtime_endpoint(MLModelId=tiny["ml_model_id"])
    yield wait_until_endpoint_ready(ml, tiny["ml_model_id"])
    ml.delete_realtime_endpoint(MLModelId=tiny["ml_model_id"])


def test_predict_beyond_peak_requests_per_second_is_limit_exceeded_with_417(tiny, endpoint, emulator):
    # No retries: a DAG testing its own handling of throttled predictions must see the raw answer.
    ml = boto3.session.Session().client(
        "machinelearning",
        endpoint_url=emulator.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
        **CREDENTIALS,
    )
    attach_checker(ml)
    request = {
        "MLModelId": tiny["ml_model_id"],
        "Record": {"x": "3"},
        "PredictEndpoint": endpoint["EndpointUrl"],
    }
    started = time.monotonic()
    answered, refused = 0, []
    while answered + len(refused) < 300:
        try:
            ml.predict(**request)
            answered += 1
        except ClientError as error:
            refused.append(error)
    elapsed = time.monotonic() - started

    if elapsed >= 1.0:
        pytest.skip(f"300 calls took {elapsed:.2f}s here: too slow a machine to exceed 200 a second")
    assert endpoint["PeakRequestsPerSecond"] == 200
    assert answered == 200
    status, code, message = error_of(pytest.ExceptionInfo.from_exc_info((ClientError, refused[0], None)))
    assert (status, code) == (417, "LimitExceededException")
    assert message == (
        f"MLModelId {tiny['ml_model_id']!r}: the real-time endpoint's limit of 200 requests per second "
        "(PeakRequestsPerSecond) is exceeded"
    )
    time.sleep(1.0)
    assert "Prediction" in ml.predict(**request)  # the next second admits calls again


def test_a_lower_peak_rate_set_before_the_endpoint_is_created_is_reported_and_enforced(ml, tiny, emulator):
    # A DAG testing its handling of throttled predictions meets LimitExceededException without 200 calls a second.
    emulator.configure(peak_requests_per_second=3, endpoint_startup_duration=0.05)
    ml.create_realtime_endpoint(MLModelId=tiny["ml_model_id"])
    try:
        info = wait_until_endpoint_ready(ml, tiny["ml_model_id"])
        request = {
            "MLModelId": tiny["ml_model_id"],
            "Record": {"x": "3"},
            "PredictEndpoint": info["EndpointUrl"],
        }
        answers = []
        for _ in range(4):
            try:
                answers.append(sorted(ml.predict(**request)["Prediction"]))
            except ClientError as error:
                answers.append(error.response["Error"]["Code"])
    finally:
        ml.delete_realtime_endpoint(MLModelId=tiny["ml_model_id"])

    assert info["PeakRequestsPerSecond"] == 3
    assert answers[3] == "LimitExceededException"
    assert all(isinstance(answer, list) for answer in answers[:3])


# 6: "Assigns the DELETED status to an MLModel, rendering it unusable" (API Reference, DeleteMLModel).


def test_a_deleted_model_loses_its_endpoint_and_answers_no_prediction(ml, pipeline, tiny, emulator):
    emulator.configure(endpoint_startup_duration=0.05)
    ml_model_id = pipeline.ml_model(tiny["data_source_id"])
    assert pipeline.wait_ml_model(ml_model_id)["Status"] == "COMPLETED"
    ml.create_realtime_endpoint(MLModelId=ml_model_id)
    endpoint_url = wait_until_endpoint_ready(ml, ml_model_id)["EndpointUrl"]
    ml.delete_ml_model(MLModelId=ml_model_id)

    deleted = ml.get_ml_model(MLModelId=ml_model_id)
    with pytest.raises(ClientError) as predicted:
        ml.predict(MLModelId=ml_model_id, Record={"x": "3"}, PredictEndpoint=endpoint_url)
    with pytest.raises(ClientError) as remounted:
        ml.create_realtime_endpoint(MLModelId=ml_model_id)

    assert deleted["Status"] == "DELETED"
    assert deleted["EndpointInfo"] == {"PeakRequestsPerSecond": 0, "EndpointStatus": "NONE"}
    assert error_of(predicted) == (
        400,
        "PredictorNotMountedException",
        f"MLModelId {ml_model_id!r}: is DELETED; a deleted model has no real-time endpoint",
    )
    assert error_of(remounted)[:2] == (400, "InvalidInputException")


# Members whose API Reference documentation says when they are present.


def test_compute_time_of_a_data_source_is_given_only_when_it_computed_statistics(ml, pipeline, tiny):
    # "ComputeTime is only available if the DataSource is in the COMPLETED state and the ComputeStatistics
    # is set to true" (API Reference, GetDataSource).
    without = pipeline.data_source(tiny["location"], TINY_SCHEMA, compute_statistics=False)
    done_without = pipeline.wait_data_source(without)
    done_with = ml.get_data_source(DataSourceId=tiny["data_source_id"])

    assert done_without["Status"] == "COMPLETED"
    assert "ComputeTime" not in done_without
    assert isinstance(done_with["ComputeTime"], int)


def test_finished_at_and_compute_time_leave_an_object_once_it_is_deleted(ml, pipeline, tiny):
    # "FinishedAt is only available when the BatchPrediction is in the COMPLETED or FAILED state";
    # "ComputeTime is only available if the BatchPrediction is in the COMPLETED state" (API Reference).
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    done = pipeline.wait_batch_prediction(batch_prediction_id)
    ml.delete_batch_prediction(BatchPredictionId=batch_prediction_id)
    deleted = ml.get_batch_prediction(BatchPredictionId=batch_prediction_id)

    assert {"FinishedAt", "ComputeTime"} <= set(done)
    assert deleted["Status"] == "DELETED"
    assert not {"FinishedAt", "ComputeTime"} & set(deleted)
    assert deleted["StartedAt"] == done["StartedAt"]


def test_a_failure_message_is_cut_to_the_models_10240_characters(ml, pipeline, tiny, emulator):
    emulator.fail_next_jobs(1, message="x" * 20000, kind="BatchPrediction")
    failed = pipeline.wait_batch_prediction(
        pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    )

    assert failed["Message"] == "x" * 10240


# 9: every call is SigV4-signed (the model's signatureVersion v4, signing name machinelearning); the errors
# are the API Reference's common errors. Only the form is checked: the emulator knows no secret.


def post(emulator, headers: dict[str, str], body: bytes = b'{"MLModelId": "fake-id"}') -> tuple[int, dict]:
    request = urllib.request.Request(emulator.endpoint_url + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


TARGET = {"X-Amz-Target": "AmazonML_20141212.GetMLModel", "Content-Type": "application/x-amz-json-1.1"}


def test_an_unsigned_request_is_refused_as_missing_an_authentication_token(emulator):
    assert post(emulator, TARGET) == (
        403,
        {
            "__type": "MissingAuthenticationTokenException",
            "message": "Missing Authentication Token",
            "code": 403,
        },
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda headers: {
                **headers,
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1",
            },
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            lambda headers: {
                **headers,
                "Authorization": headers["Authorization"].replace("machinelearning", "s3"),
            },
            "Credential should be scoped to correct service: 'machinelearning'.",
        ),
        (
            lambda headers: {k: v for k, v in headers.items() if k != "X-Amz-Date"},
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ),
        (
            lambda headers: {**headers, "Authorization": "Basic dXNlcjpwYXNz"},
            "Unsupported Authorization algorithm 'Basic': requests must be signed with AWS4-HMAC-SHA256",
        ),
    ],
    ids=["no-signature", "other-service", "no-date", "basic-auth"],
)
def test_a_signature_of_the_wrong_form_is_an_incomplete_signature(emulator, change, message):
    body = b'{"MLModelId": "fake-id"}'
    signed = sigv4_headers(emulator.endpoint_url + "/", body, TARGET)

    status, answer = post(emulator, change(signed), body)

    assert (status, answer["__type"]) == (400, "IncompleteSignatureException")
    assert answer["message"].startswith(message)


def test_a_signed_request_is_answered_whatever_its_secret_and_a_setting_lets_unsigned_ones_through(emulator):
    body = b'{"MLModelId": "fake-id"}'
    status, answer = post(emulator, sigv4_headers(emulator.endpoint_url + "/", body, TARGET), body)
    emulator.configure(require_signature=False)
    unsigned_status, unsigned_answer = post(emulator, TARGET, body)

    assert (status, answer["__type"]) == (404, "ResourceNotFoundException")
    assert (unsigned_status, unsigned_answer["__type"]) == (404, "ResourceNotFoundException")
    assert emulator.config.require_signature is False  # the fixture restores the default after the test


def test_botocore_with_other_credentials_signs_and_is_answered(emulator):
    other = boto3.session.Session().client(
        "machinelearning",
        endpoint_url=emulator.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDOTHER",
        aws_secret_access_key="another-secret",
    )

    assert "Results" in other.describe_ml_models(Limit=1)


# 8: "Pseudo-random numbers are assigned using both the input seed string value and the byte offset as a seed,
# so changing the data results in a different split" (API Reference, DataRearrangement).


def test_the_random_split_follows_the_seed_and_the_records_byte_offsets(ml, pipeline, emulator):
    csv_bytes, schema = datasets.make_dataset("diabetes")
    header, _, records = csv_bytes.partition(b"\n")
    folder = new_id("split")
    original = pipeline.put(f"{folder}/data.csv", csv_bytes)
    # The same records after a longer header (columns are read by position): every record's offset moves.
    moved = pipeline.put(
        f"{folder}-moved/data.csv", header.replace(b"age", b"age_in_years", 1) + b"\n" + records
    )
    ml_model_id = pipeline.ml_model(pipeline.data_source(original, schema), "REGRESSION")
    assert pipeline.wait_ml_model(ml_model_id)["Status"] == "COMPLETED"
    split = '{"splitting":{"percentBegin":0,"percentEnd":30,"strategy":"random","randomSeed":"seed"}}'

    def rmse_on(location: str, rearrangement: str) -> str:
        data_source_id = pipeline.data_source(location, schema, DataRearrangement=rearrangement)
        evaluation_id = new_id("ev")
        ml.create_evaluation(
            EvaluationId=evaluation_id, MLModelId=ml_model_id, EvaluationDataSourceId=data_source_id
        )
        done = wait_for_status(lambda: ml.get_evaluation(EvaluationId=evaluation_id))
        assert done["Status"] == "COMPLETED", done.get("Message")
        return done["PerformanceMetrics"]["Properties"]["RegressionRMSE"]

    first = rmse_on(original, split)
    again = rmse_on(original, split)
    after_move = rmse_on(moved, split)
    other_seed = rmse_on(original, split.replace('"seed"', '"another"'))

    assert first == again
    assert after_move != first
    assert other_seed != first


# 10: where the references are silent, the emulator's choices (docs/emulator.md lists them with these tests).


def test_deleted_objects_stay_listed_by_describe_and_are_found_by_status(ml, pipeline, tiny):
    # The Describe* results' Status documentation lists "DELETED - The MLModel is marked as deleted".
    ml_model_id = pipeline.ml_model(tiny["data_source_id"])
    pipeline.wait_ml_model(ml_model_id)
    ml.delete_ml_model(MLModelId=ml_model_id)

    by_prefix = ml.describe_ml_models(FilterVariable="TrainingDataSourceId", EQ=tiny["data_source_id"])
    deleted = ml.describe_ml_models(FilterVariable="Status", EQ="DELETED")

    assert ml_model_id in {model["MLModelId"] for model in by_prefix["Results"]}
    assert ml_model_id in {model["MLModelId"] for model in deleted["Results"]}


def test_a_deleted_object_takes_no_update_but_its_tags_stay_open(ml, pipeline, tiny):
    evaluation_id = new_id("ev")
    ml.create_evaluation(
        EvaluationId=evaluation_id,
        MLModelId=tiny["ml_model_id"],
        EvaluationDataSourceId=tiny["data_source_id"],
    )
    ml.delete_evaluation(EvaluationId=evaluation_id)
    ml_model_id = pipeline.ml_model(tiny["data_source_id"])
    ml.delete_ml_model(MLModelId=ml_model_id)

    with pytest.raises(ClientError) as renamed:
        ml.update_evaluation(EvaluationId=evaluation_id, EvaluationName="after")
    with pytest.raises(ClientError) as rethresholded:
        ml.update_ml_model(MLModelId=ml_model_id, ScoreThreshold=0.7)
    ml.add_tags(ResourceId=evaluation_id, ResourceType="Evaluation", Tags=[{"Key": "audit", "Value": "kept"}])

    assert error_of(renamed) == (
        400,
        "InvalidInputException",
        f"EvaluationId {evaluation_id!r}: is DELETED; EvaluationName of a deleted object cannot be updated",
    )
    assert error_of(rethresholded)[:2] == (400, "InvalidInputException")
    assert ml.describe_tags(ResourceId=evaluation_id, ResourceType="Evaluation")["Tags"] == [
        {"Key": "audit", "Value": "kept"}
    ]


def test_a_deleted_id_is_not_reused_the_same_request_returns_the_deleted_object(ml, tiny):
    batch_prediction_id = new_id("bp")
    request = {
        "BatchPredictionId": batch_prediction_id,
        "MLModelId": tiny["ml_model_id"],
        "BatchPredictionDataSourceId": tiny["data_source_id"],
        "OutputUri": "s3://emulator-tests/deleted-id/",
    }
    ml.create_batch_prediction(**request)
    ml.delete_batch_prediction(BatchPredictionId=batch_prediction_id)

    again = ml.create_batch_prediction(**request)
    with pytest.raises(ClientError) as other:
        ml.create_batch_prediction(**{**request, "OutputUri": "s3://emulator-tests/elsewhere/"})

    assert again == {"BatchPredictionId": batch_prediction_id, "ResponseMetadata": again["ResponseMetadata"]}
    assert ml.get_batch_prediction(BatchPredictionId=batch_prediction_id)["Status"] == "DELETED"
    assert error_of(other)[:2] == (400, "IdempotentParameterMismatchException")
