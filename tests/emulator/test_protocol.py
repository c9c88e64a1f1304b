"""The wire protocol: JSON 1.1 dispatch, answer shapes, headers, errors, and the async client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from amazon_ml_emulator.datasets import TINY_SCHEMA
from amazon_ml_emulator.responses import OPERATIONS

from .helpers import BUCKET, CREDENTIALS, new_id, sigv4_headers, wait_for_status, wait_until_endpoint_ready
from .shapes import attach_checker


def raw_call(
    endpoint_url: str, target: str, body: bytes, signed: bool = True
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST ``body`` as ``target``, SigV4-signed as botocore signs (the emulator refuses unsigned calls)."""
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    if signed:
        headers = sigv4_headers(endpoint_url + "/", body, headers)
    request = urllib.request.Request(endpoint_url + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_every_operation_of_a_pipeline_answers_in_botocore_shape(ml, checked_client, pipeline, tiny):
    _, checker = checked_client
    data_source_id = tiny["data_source_id"]
    ml_model_id = tiny["ml_model_id"]
    evaluation_id = new_id("ev")
    ml.create_evaluation(
        EvaluationId=evaluation_id,
        EvaluationName="e",
        MLModelId=ml_model_id,
        EvaluationDataSourceId=data_source_id,
    )
    batch_prediction_id = pipeline.batch_prediction(ml_model_id, data_source_id)
    evaluation = wait_for_status(lambda: ml.get_evaluation(EvaluationId=evaluation_id))
    batch_prediction = pipeline.wait_batch_prediction(batch_prediction_id)

    assert evaluation["Status"] == "COMPLETED"
    assert set(evaluation["PerformanceMetrics"]["Properties"]) == {"BinaryAUC"}
    assert batch_prediction["Status"] == "COMPLETED"
    ml.get_data_source(DataSourceId=data_source_id, Verbose=True)
    ml.get_ml_model(MLModelId=ml_model_id, Verbose=True)
    ml.update_ml_model(MLModelId=ml_model_id, MLModelName="renamed")
    ml.update_batch_prediction(BatchPredictionId=batch_prediction_id, BatchPredictionName="renamed")
    ml.update_data_source(DataSourceId=data_source_id, DataSourceName="renamed")
    ml.update_evaluation(EvaluationId=evaluation_id, EvaluationName="renamed")
    for describe in (
        ml.describe_data_sources,
        ml.describe_ml_models,
        ml.describe_batch_predictions,
        ml.describe_evaluations,
    ):
        assert describe(FilterVariable="Name", EQ="renamed")["Results"]
    endpoint = ml.create_realtime_endpoint(MLModelId=ml_model_id)["RealtimeEndpointInfo"]
    ml.describe_ml_models(FilterVariable="RealtimeEndpointStatus", EQ="UPDATING")
    wait_until_endpoint_ready(ml, ml_model_id)
    ml.predict(MLModelId=ml_model_id, Record={"x": "7"}, PredictEndpoint=endpoint["EndpointUrl"])
    ml.delete_realtime_endpoint(MLModelId=ml_model_id)
    ml.add_tags(ResourceId=ml_model_id, ResourceType="MLModel", Tags=[{"Key": "team", "Value": "scoring"}])
    assert ml.describe_tags(ResourceId=ml_model_id, ResourceType="MLModel")["Tags"]
    ml.delete_tags(ResourceId=ml_model_id, ResourceType="MLModel", TagKeys=["team"])
    ml.delete_evaluation(EvaluationId=evaluation_id)
    ml.delete_batch_prediction(BatchPredictionId=batch_prediction_id)
    spare_data_source_id = pipeline.data_source(tiny["location"], TINY_SCHEMA)
    ml.delete_ml_model(MLModelId=pipeline.ml_model(spare_data_source_id))
    ml.delete_data_source(DataSourceId=spare_data_source_id)

    checked = {operation for operation, _, _ in checker.bodies}
    # The Redshift and RDS creates need database servers: test_database_sources checks their answers.
    assert checked == set(OPERATIONS) - {"CreateDataSourceFromRedshift", "CreateDataSourceFromRDS"}


def test_verbose_gets_carry_schema_and_recipe_only_when_asked(ml, tiny):
    plain = ml.get_data_source(DataSourceId=tiny["data_source_id"])
    verbose = ml.get_data_source(DataSourceId=tiny["data_source_id"], Verbose=True)
    model = ml.get_ml_model(MLModelId=tiny["ml_model_id"], Verbose=True)

    assert "DataSourceSchema" not in plain
    assert json.loads(verbose["DataSourceSchema"])["targetAttributeName"] == "label"
    assert json.loads(model["Schema"])["targetAttributeName"] == "label"
    assert model["MLModelType"] == "BINARY"
    assert model["ScoreThreshold"] == 0.5
    assert model["TrainingParameters"]["sgd.maxPasses"] == "10"
    assert model["InputDataLocationS3"] == tiny["location"]


def test_unset_members_are_omitted_rather_than_null(ml, checked_client, pipeline, tiny, emulator):
    _, checker = checked_client
    emulator.configure(pending_duration=60)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    ml.get_batch_prediction(BatchPredictionId=batch_prediction_id)
    emulator.fail_job(batch_prediction_id, "stop here")

    body = checker.last_body("GetBatchPrediction")
    assert body["Status"] == "PENDING"
    assert None not in body.values()
    for member in (
        "StartedAt",
        "FinishedAt",
        "ComputeTime",
        "Message",
        "TotalRecordCount",
        "InvalidRecordCount",
    ):
        assert member not in body
    assert isinstance(body["CreatedAt"], float)


def test_errors_carry_type_message_and_code_with_the_service_status(emulator):
    status, headers, body = raw_call(
        emulator.endpoint_url, "AmazonML_20141212.GetBatchPrediction", b'{"BatchPredictionId": "no-such-job"}'
    )

    assert status == 404
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert headers["x-amzn-RequestId"]
    assert body == {
        "__type": "ResourceNotFoundException",
        "message": "No BatchPrediction with id no-such-job exists",
        "code": 404,
    }


def test_missing_entity_raises_resource_not_found_in_boto3(ml):
    with pytest.raises(ClientError) as caught:
        ml.get_ml_model(MLModelId="no-such-model")

    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize(
    ("target", "body", "error_type"),
    [
        ("AmazonML_20141212.LaunchRocket", b"{}", "UnknownOperationException"),
        ("DynamoDB_20120810.ListTables", b"{}", "UnknownOperationException"),
        ("AmazonML_20141212.GetBatchPrediction", b"{not json", "SerializationException"),
        ("AmazonML_20141212.GetBatchPrediction", b"[1, 2]", "SerializationException"),
    ],
)
def test_unknown_operations_and_bad_bodies_are_rejected_with_400(emulator, target, body, error_type):
    status, _, answer = raw_call(emulator.endpoint_url, target, body)

    assert status == 400
    assert answer["__type"] == error_type


async def test_aiobotocore_client_creates_and_polls_a_batch_prediction(emulator, tiny, s3):
    session = get_session()
    async with session.create_client(
        "machinelearning", endpoint_url=emulator.endpoint_url, **CREDENTIALS
    ) as client:
        checker = attach_checker(client)
        batch_prediction_id = new_id("bp-async")
        answer = await client.create_batch_prediction(
            BatchPredictionId=batch_prediction_id,
            MLModelId=tiny["ml_model_id"],
            BatchPredictionDataSourceId=tiny["data_source_id"],
            OutputUri=f"s3://{BUCKET}/async/",
        )
        assert answer["BatchPredictionId"] == batch_prediction_id
        statuses = []
        while not statuses or statuses[-1] not in ("COMPLETED", "FAILED"):
            statuses.append(
                (await client.get_batch_prediction(BatchPredictionId=batch_prediction_id))["Status"]
            )
        with pytest.raises(ClientError) as caught:
            await client.get_batch_prediction(BatchPredictionId="missing")

    assert statuses[-1] == "COMPLETED"
    assert statuses[0] == "PENDING"
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert checker.bodies
