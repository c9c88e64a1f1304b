"""Every operation's answers checked against botocore's shapes, and every error code the model lists produced.

One test drives the whole service: objects of each kind in each status (PENDING, COMPLETED, FAILED, DELETED),
Verbose and plain reads, pages of Describe*, endpoints, predictions and tags; then, for each (operation, error
code) pair of the model, a call that the service answers with that error. Every answer, success or error, is
checked member by member (types, enums, lengths, ranges, patterns; EndpointUrl's host aside, which a local
server cannot make ``*.amazonaws.com``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from amazon_ml_emulator import Emulator
from amazon_ml_emulator.datasets import TINY_SCHEMA
from amazon_ml_emulator.responses import OPERATIONS

from .helpers import CREDENTIALS, Pipeline, new_id, wait_for_status, wait_until_endpoint_ready
from .shapes import SERVICE_MODEL, ResponseShapeChecker, attach_checker
from .test_database_sources import ROLE_ARN, rds_spec, redshift_spec

MODEL_ERROR_PAIRS = {
    (operation, error.name)
    for operation in SERVICE_MODEL.operation_names
    for error in SERVICE_MODEL.operation_model(operation).error_shapes
}
TOO_LONG_ID = "x" * 65  # botocore checks an ID's minimum length, never its maximum: the service must


def unretried_client(emulator: Emulator) -> tuple[Any, ResponseShapeChecker]:
    client = boto3.session.Session().client(
        "machinelearning",
        endpoint_url=emulator.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
        **CREDENTIALS,
    )
    return client, attach_checker(client, strict=False)


def exercise_every_answer(ml: Any, pipeline: Pipeline, emulator: Emulator, tiny: dict[str, str]) -> None:
    """Call every operation so that each kind of object is read in each of its statuses."""
    emulator.configure(endpoint_startup_duration=0.05)
    data_source_id = pipeline.data_source(tiny["location"], TINY_SCHEMA)
    ml.get_data_source(DataSourceId=data_source_id)  # PENDING
    pipeline.wait_data_source(data_source_id)
    ml.get_data_source(DataSourceId=data_source_id, Verbose=True)
    ml_model_id = pipeline.ml_model(data_source_id, Parameters={"sgd.maxPasses": "2"})
    ml.get_ml_model(MLModelId=ml_model_id)  # PENDING
    pipeline.wait_ml_model(ml_model_id)
    ml.get_ml_model(MLModelId=ml_model_id, Verbose=True)
    ml.update_ml_model(MLModelId=ml_model_id, MLModelName="coverage", ScoreThreshold=0.4)
    ml.update_data_source(DataSourceId=data_source_id, DataSourceName="coverage")
    # Database sources, whose clusters are not configured here: they turn FAILED with their metadata.
    database_ids = [new_id("redshift"), new_id("redshift"), new_id("rds")]
    ml.create_data_source_from_redshift(
        DataSourceId=database_ids[0], DataSpec=redshift_spec(), RoleARN=ROLE_ARN, ComputeStatistics=True
    )
    ml.create_data_source_from_redshift(
        DataSourceId=database_ids[1], DataSpec=redshift_spec(DataSchema=None), RoleARN=ROLE_ARN
    )
    ml.create_data_source_from_rds(DataSourceId=database_ids[2], RDSData=rds_spec(), RoleARN=ROLE_ARN)
    for database_id in database_ids:
        pipeline.wait_data_source(database_id)
        ml.get_data_source(DataSourceId=database_id, Verbose=True)
    # Evaluations and batch predictions: COMPLETED, FAILED, DELETED.
    evaluation_ids, batch_prediction_ids = [new_id("ev"), new_id("ev")], []
    for index, evaluation_id in enumerate(evaluation_ids):
        if index:
            emulator.fail_next_jobs(1, "coverage failure", kind="Evaluation")
        ml.create_evaluation(
            EvaluationId=evaluation_id, MLModelId=ml_model_id, EvaluationDataSourceId=data_source_id
        )
        wait_for_status(lambda evaluation_id=evaluation_id: ml.get_evaluation(EvaluationId=evaluation_id))
        if index:
            emulator.fail_next_jobs(1, "coverage failure", kind="BatchPrediction")
        batch_prediction_ids.append(pipeline.batch_prediction(ml_model_id, data_source_id))
        pipeline.wait_batch_prediction(batch_prediction_ids[-1])
    ml.update_evaluation(EvaluationId=evaluation_ids[0], EvaluationName="coverage")
    ml.update_batch_prediction(BatchPredictionId=batch_prediction_ids[0], BatchPredictionName="coverage")
    # A real-time endpoint and a prediction.
    ml.create_realtime_endpoint(MLModelId=ml_model_id)
    endpoint_url = wait_until_endpoint_ready(ml, ml_model_id)["EndpointUrl"]
    ml.predict(MLModelId=ml_model_id, Record={"x": "4"}, PredictEndpoint=endpoint_url)
    # Tags.
    ml.add_tags(ResourceId=ml_model_id, ResourceType="MLModel", Tags=[{"Key": "team", "Value": "a b"}])
    ml.describe_tags(ResourceId=ml_model_id, ResourceType="MLModel")
    ml.delete_tags(ResourceId=ml_model_id, ResourceType="MLModel", TagKeys=["team"])
    # Lists, page by page, while every status is present.
    for describe in (
        ml.describe_data_sources,
        ml.describe_ml_models,
        ml.describe_evaluations,
        ml.describe_batch_predictions,
    ):
        first = describe(Limit=1)
        describe(Limit=1, NextToken=first["NextToken"])
    ml.delete_realtime_endpoint(MLModelId=ml_model_id)
    # Deletions, and each kind read once DELETED.
    ml.delete_evaluation(EvaluationId=evaluation_ids[0])
    ml.get_evaluation(EvaluationId=evaluation_ids[0])
    ml.delete_batch_prediction(BatchPredictionId=batch_prediction_ids[0])
    ml.get_batch_prediction(BatchPredictionId=batch_prediction_ids[0])
    ml.delete_ml_model(MLModelId=ml_model_id)
    ml.get_ml_model(MLModelId=ml_model_id, Verbose=True)
    ml.delete_data_source(DataSourceId=data_source_id)
    ml.get_data_source(DataSourceId=data_source_id)
    ml.describe_data_sources(FilterVariable="Status", EQ="DELETED")
    ml.describe_ml_models(FilterVariable="Status", EQ="DELETED")


def error_calls(ml: Any, tiny: dict[str, str], endpoint_url: str) -> dict[tuple[str, str], Callable[[], Any]]:
    """For each (operation, error code) pair of the model but InternalServerException: a call answered so."""
    ml_model_id, data_source_id = tiny["ml_model_id"], tiny["data_source_id"]
    known_ids = {
        "DataSource": ("DataSourceId", data_source_id),
        "MLModel": ("MLModelId", ml_model_id),
        "Evaluation": ("EvaluationId", None),
        "BatchPrediction": ("BatchPredictionId", None),
    }
    calls: dict[tuple[str, str], Callable[[], Any]] = {}
    for kind, (id_member, _) in known_ids.items():
        for verb in ("Get", "Update", "Delete"):
            operation = f"{verb}{kind}"
            method = getattr(ml, _snake(operation))
            extra = {f"{kind}Name": "n"} if verb == "Update" else {}
            calls[(operation, "ResourceNotFoundException")] = lambda m=method, i=id_member, e=extra: m(
                **{i: "fake-id"}, **e
            )
            calls[(operation, "InvalidInputException")] = lambda m=method, i=id_member, e=extra: m(
                **{i: TOO_LONG_ID}, **e
            )
        describe = getattr(ml, _snake(f"Describe{kind}s"))
        calls[(f"Describe{kind}s", "InvalidInputException")] = lambda d=describe: d(Limit=101)
    for operation in ("CreateRealtimeEndpoint", "DeleteRealtimeEndpoint"):
        method = getattr(ml, _snake(operation))
        calls[(operation, "ResourceNotFoundException")] = lambda m=method: m(MLModelId="fake-id")
        calls[(operation, "InvalidInputException")] = lambda m=method: m(MLModelId=TOO_LONG_ID)
    predict = {"Record": {"x": "1"}, "PredictEndpoint": endpoint_url}
    calls[("Predict", "ResourceNotFoundException")] = lambda: ml.predict(MLModelId="fake-id", **predict)
    calls[("Predict", "InvalidInputException")] = lambda: ml.predict(MLModelId=TOO_LONG_ID, **predict)
    calls[("Predict", "PredictorNotMountedException")] = lambda: ml.predict(MLModelId=ml_model_id, **predict)
    tag = {"ResourceType": "MLModel"}
    for operation, extra in (
        ("AddTags", {"Tags": [{"Key": "k"}]}),
        ("DescribeTags", {}),
        ("DeleteTags", {"TagKeys": ["k"]}),
    ):
        method = getattr(ml, _snake(operation))
        calls[(operation, "ResourceNotFoundException")] = lambda m=method, e=extra: m(
            ResourceId="fake-id", **tag, **e
        )
        calls[(operation, "InvalidInputException")] = lambda m=method, e=extra: m(
            ResourceId=TOO_LONG_ID, **tag, **e
        )
    tagged = {"ResourceId": ml_model_id, **tag}
    calls[("AddTags", "InvalidTagException")] = lambda: ml.add_tags(**tagged, Tags=[{"Key": "aws:reserved"}])
    calls[("AddTags", "TagLimitExceededException")] = lambda: ml.add_tags(
        **tagged, Tags=[{"Key": f"k{index}"} for index in range(11)]
    )
    calls[("DeleteTags", "InvalidTagException")] = lambda: ml.delete_tags(**tagged, TagKeys=["bad#key"])
    calls.update(create_error_calls(ml, tiny))
    return calls


def create_error_calls(ml: Any, tiny: dict[str, str]) -> dict[tuple[str, str], Callable[[], Any]]:
    """InvalidInputException and IdempotentParameterMismatchException of the six creates."""
    ml_model_id, data_source_id, location = tiny["ml_model_id"], tiny["data_source_id"], tiny["location"]
    creates: dict[str, tuple[Callable[..., Any], str, dict[str, Any], dict[str, Any]]] = {
        "CreateDataSourceFromS3": (
            ml.create_data_source_from_s3,
            "DataSourceId",
            {"DataSpec": {"DataLocationS3": location, "DataSchema": TINY_SCHEMA}},
            {"DataSourceName": "other"},
        ),
        "CreateDataSourceFromRedshift": (
            ml.create_data_source_from_redshift,
            "DataSourceId",
            {"DataSpec": redshift_spec(), "RoleARN": ROLE_ARN},
            {"DataSourceName": "other"},
        ),
        "CreateDataSourceFromRDS": (
            ml.create_data_source_from_rds,
            "DataSourceId",
            {"RDSData": rds_spec(), "RoleARN": ROLE_ARN},
            {"DataSourceName": "other"},
        ),
        "CreateMLModel": (
            ml.create_ml_model,
            "MLModelId",
            {"MLModelType": "BINARY", "TrainingDataSourceId": data_source_id},
            {"MLModelName": "other"},
        ),
        "CreateEvaluation": (
            ml.create_evaluation,
            "EvaluationId",
            {"MLModelId": ml_model_id, "EvaluationDataSourceId": data_source_id},
            {"EvaluationName": "other"},
        ),
        "CreateBatchPrediction": (
            ml.create_batch_prediction,
            "BatchPredictionId",
            {
                "MLModelId": ml_model_id,
                "BatchPredictionDataSourceId": data_source_id,
                "OutputUri": "s3://emulator-tests/coverage/",
            },
            {"BatchPredictionName": "other"},
        ),
    }
    calls: dict[tuple[str, str], Callable[[], Any]] = {}
    for operation, (create, id_member, request, change) in creates.items():

        def mismatch(create=create, id_member=id_member, request=request, change=change) -> Any:
            entity_id = new_id("mismatch")
            create(**{id_member: entity_id}, **request)
            return create(**{id_member: entity_id}, **request, **change)

        calls[(operation, "InvalidInputException")] = lambda c=create, i=id_member, r=request: c(
            **{i: TOO_LONG_ID}, **r
        )
        calls[(operation, "IdempotentParameterMismatchException")] = mismatch
    return calls


def _snake(operation: str) -> str:
    return xform_name(operation)  # botocore's own: CreateDataSourceFromRDS -> create_data_source_from_rds


def minimal_request(operation: str, endpoint_url: str) -> dict[str, Any]:
    """Parameters botocore accepts for ``operation`` (the service's answer does not matter)."""
    entity_id = "coverage"
    requests = {
        "CreateDataSourceFromS3": {"DataSourceId": entity_id, "DataSpec": {"DataLocationS3": "s3://b/k"}},
        "CreateDataSourceFromRedshift": {
            "DataSourceId": entity_id,
            "DataSpec": redshift_spec(),
            "RoleARN": ROLE_ARN,
        },
        "CreateDataSourceFromRDS": {"DataSourceId": entity_id, "RDSData": rds_spec(), "RoleARN": ROLE_ARN},
        "CreateMLModel": {"MLModelId": entity_id, "MLModelType": "BINARY", "TrainingDataSourceId": entity_id},
        "CreateEvaluation": {
            "EvaluationId": entity_id,
            "MLModelId": entity_id,
            "EvaluationDataSourceId": entity_id,
        },
        "CreateBatchPrediction": {
            "BatchPredictionId": entity_id,
            "MLModelId": entity_id,
            "BatchPredictionDataSourceId": entity_id,
            "OutputUri": "s3://b/out/",
        },
        "Predict": {"MLModelId": entity_id, "Record": {}, "PredictEndpoint": endpoint_url},
        "CreateRealtimeEndpoint": {"MLModelId": entity_id},
        "DeleteRealtimeEndpoint": {"MLModelId": entity_id},
        "AddTags": {"ResourceId": entity_id, "ResourceType": "MLModel", "Tags": [{"Key": "k"}]},
        "DescribeTags": {"ResourceId": entity_id, "ResourceType": "MLModel"},
        "DeleteTags": {"ResourceId": entity_id, "ResourceType": "MLModel", "TagKeys": ["k"]},
    }
    if operation in requests:
        return requests[operation]
    if operation.startswith("Describe"):
        return {}
    kind = next(
        kind for kind in ("DataSource", "MLModel", "Evaluation", "BatchPrediction") if kind in operation
    )
    request = {f"{kind}Id": entity_id}
    if operation.startswith("Update") and kind != "MLModel":
        request[f"{kind}Name"] = "n"
    return request


def exceed_peak_requests(ml: Any, emulator: Emulator, ml_model_id: str) -> None:
    """Predict on an endpoint of 5 requests a second until it answers LimitExceededException."""
    emulator.configure(peak_requests_per_second=5)
    ml.create_realtime_endpoint(MLModelId=ml_model_id)
    request = {"MLModelId": ml_model_id, "Record": {"x": "4"}}
    request["PredictEndpoint"] = wait_until_endpoint_ready(ml, ml_model_id)["EndpointUrl"]
    for _ in range(5):
        ml.predict(**request)
    with pytest.raises(ClientError):
        ml.predict(**request)  # the sixth within the second
    ml.delete_realtime_endpoint(MLModelId=ml_model_id)


def test_every_answer_fits_botocores_shapes_and_every_modeled_error_is_produced(emulator, s3, tiny):
    ml, checker = unretried_client(emulator)
    exercise_every_answer(ml, Pipeline(ml, s3), emulator, tiny)
    for call in error_calls(ml, tiny, emulator.endpoint_url).values():
        with pytest.raises(ClientError):
            call()
    # The service's own failure for every operation, and a real-time endpoint past its rate.
    for operation in OPERATIONS:
        emulator.configure(error_rate=1.0, operations=[operation])
        with pytest.raises(ClientError):
            getattr(ml, _snake(operation))(**minimal_request(operation, emulator.endpoint_url))
    emulator.configure(error_rate=0.0, operations=None)
    exceed_peak_requests(ml, emulator, tiny["ml_model_id"])

    off_shape = [
        (operation, status, problems) for operation, status, problems in checker.problems if problems
    ]
    answered = {operation for operation, status, _ in checker.bodies if status == 200}
    produced = {(operation, body["__type"]) for operation, status, body in checker.bodies if status != 200}
    assert off_shape == []
    assert answered == set(OPERATIONS)
    assert MODEL_ERROR_PAIRS - produced == set()
    assert len(MODEL_ERROR_PAIRS) == 85
