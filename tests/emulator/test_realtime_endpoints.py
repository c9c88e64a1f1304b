"""Real-time endpoints: CreateRealtimeEndpoint, DeleteRealtimeEndpoint, Predict, and EndpointInfo everywhere."""

from __future__ import annotations

import csv
import gzip
import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from amazon_ml_emulator import datasets

from .helpers import BUCKET, CREDENTIALS, new_id, wait_until_endpoint_ready
from .shapes import attach_checker


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


@pytest.fixture
def endpoint(ml, tiny):
    """The tiny model's endpoint, READY; deleted after the test so other tests see none."""
    ml.create_realtime_endpoint(MLModelId=tiny["ml_model_id"])
    yield wait_until_endpoint_ready(ml, tiny["ml_model_id"])
    ml.delete_realtime_endpoint(MLModelId=tiny["ml_model_id"])


def test_a_new_endpoint_is_updating_then_ready_and_leads_back_to_the_emulator(ml, tiny, emulator):
    ml_model_id = tiny["ml_model_id"]
    created = ml.create_realtime_endpoint(MLModelId=ml_model_id)
    updating = ml.describe_ml_models(FilterVariable="RealtimeEndpointStatus", EQ="UPDATING")["Results"]
    ready = wait_until_endpoint_ready(ml, ml_model_id)
    listed = ml.describe_ml_models(FilterVariable="RealtimeEndpointStatus", EQ="READY")["Results"]
    without = ml.describe_ml_models(FilterVariable="RealtimeEndpointStatus", EQ="NONE")["Results"]
    deleted = ml.delete_realtime_endpoint(MLModelId=ml_model_id)

    info = created["RealtimeEndpointInfo"]
    assert created["MLModelId"] == ml_model_id
    assert (info["EndpointStatus"], info["PeakRequestsPerSecond"]) == ("UPDATING", 200)
    assert info["EndpointUrl"] == emulator.endpoint_url
    assert [model["MLModelId"] for model in updating] == [ml_model_id]
    assert ready == {**info, "EndpointStatus": "READY"}
    assert [model["EndpointInfo"] for model in listed] == [ready]
    assert ml_model_id not in {model["MLModelId"] for model in without}
    assert deleted["RealtimeEndpointInfo"] == {"PeakRequestsPerSecond": 0, "EndpointStatus": "NONE"}
    assert ml.get_ml_model(MLModelId=ml_model_id)["EndpointInfo"]["EndpointStatus"] == "NONE"


def test_predict_without_a_ready_endpoint_is_predictor_not_mounted(ml, tiny, emulator):
    with pytest.raises(ClientError) as raised:
        ml.predict(MLModelId=tiny["ml_model_id"], Record={"x": "3"}, PredictEndpoint=emulator.endpoint_url)

    code, message = error_of(raised)
    assert code == "PredictorNotMountedException"
    assert message == (
        f"MLModelId {tiny['ml_model_id']!r}: has no READY real-time endpoint (EndpointStatus NONE); "
        "call CreateRealtimeEndpoint first"
    )


def test_an_endpoint_needs_a_trained_model(ml, pipeline, tiny, emulator):
    emulator.configure(pending_duration=5)
    pending_model_id = pipeline.ml_model(tiny["data_source_id"])
    with pytest.raises(ClientError) as pending:
        ml.create_realtime_endpoint(MLModelId=pending_model_id)
    with pytest.raises(ClientError) as missing:
        ml.create_realtime_endpoint(MLModelId="no-such-model")

    assert error_of(pending) == (
        "InvalidInputException",
        f"MLModelId {pending_model_id!r}: is PENDING; only a COMPLETED model can have a real-time endpoint",
    )
    assert error_of(missing)[0] == "ResourceNotFoundException"


def test_predict_goes_to_the_predict_endpoint_host_and_scores_as_batch_prediction_does(
    ml, pipeline, tiny, endpoint, s3
):
    # A client whose own endpoint leads nowhere: only botocore's switch to PredictEndpoint reaches the emulator.
    elsewhere = boto3.session.Session().client(
        "machinelearning", endpoint_url="http://127.0.0.1:9", **CREDENTIALS
    )
    checker = attach_checker(elsewhere)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    assert pipeline.wait_batch_prediction(batch_prediction_id)["Status"] == "COMPLETED"
    key = f"output/{batch_prediction_id}/batch-prediction/result/{batch_prediction_id}-data.csv.gz"
    result = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(result).decode())))

    for x, row in enumerate(rows):
        prediction = elsewhere.predict(
            MLModelId=tiny["ml_model_id"], Record={"x": str(x)}, PredictEndpoint=endpoint["EndpointUrl"]
        )["Prediction"]
        label = prediction["predictedLabel"]
        assert label == row["bestAnswer"]
        assert prediction["predictedScores"][label] == pytest.approx(float(row["score"]), rel=1e-6)
        assert prediction["details"] == {"Algorithm": "SGD", "PredictiveModelType": "BINARY"}
    assert {operation for operation, _, _ in checker.bodies} == {"Predict"}


def test_multiclass_and_regression_models_predict_labels_with_scores_and_values(ml, pipeline, emulator):
    emulator.configure(endpoint_startup_duration=0.05)
    answers = {}
    for data_set, model_type in (("iris", "MULTICLASS"), ("diabetes", "REGRESSION")):
        csv_bytes, schema = datasets.make_dataset(data_set)
        location = pipeline.put(f"{new_id(data_set)}/data.csv", csv_bytes)
        ml_model_id = pipeline.ml_model(pipeline.data_source(location, schema), model_type)
        assert pipeline.wait_ml_model(ml_model_id)["Status"] == "COMPLETED"
        ml.create_realtime_endpoint(MLModelId=ml_model_id)
        endpoint_url = wait_until_endpoint_ready(ml, ml_model_id)["EndpointUrl"]
        first = next(csv.DictReader(io.StringIO(csv_bytes.decode())))
        target = json.loads(schema)["targetAttributeName"]
        record = {name: value for name, value in first.items() if name != target}
        answers[model_type] = ml.predict(MLModelId=ml_model_id, Record=record, PredictEndpoint=endpoint_url)

    multiclass = answers["MULTICLASS"]["Prediction"]
    scores = multiclass["predictedScores"]
    assert len(scores) == 3
    assert sum(scores.values()) == pytest.approx(1.0)
    assert multiclass["predictedLabel"] == max(scores, key=scores.__getitem__)
    regression = answers["REGRESSION"]["Prediction"]
    assert set(regression) == {"predictedValue", "details"}
    assert 25 <= regression["predictedValue"] <= 346  # the range of the diabetes targets
