"""The JSON 1.1 wire protocol of Amazon ML: ``POST /`` with ``X-Amz-Target``, translated to backend calls.

A request must carry a SigV4 signature of the right form (its value is not checked); fault injection and call
counting happen here, before any rule.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from amazon_ml_emulator.controls import CallCounters, FaultInjector
from amazon_ml_emulator.exceptions import (
    IncompleteSignatureException,
    InternalServerException,
    MachineLearningError,
    MissingAuthenticationTokenException,
    UnknownOperationException,
)
from amazon_ml_emulator.models import (
    BatchPrediction,
    DataSource,
    Entity,
    Evaluation,
    MachineLearningBackend,
    MLModel,
)

TARGET_PREFIX = "AmazonML_20141212."
CONTENT_TYPE = "application/x-amz-json-1.1"


class SerializationException(MachineLearningError):
    """
    The request body is not a JSON object.

    :param message: the error text.
    """


class MachineLearningResponse:
    """
    Answers Amazon ML requests: one method per operation, named as the operation in snake case.

    :param backend: the state and rules the operations act on.
    :param faults: decides on injected faults per call.
    :param counters: counts the calls per operation.
    :param on_change: called after each create, so jobs are looked at without waiting for a tick.
    """

    def __init__(
        self,
        backend: MachineLearningBackend,
        faults: FaultInjector,
        counters: CallCounters,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.backend = backend
        self.faults = faults
        self.counters = counters
        self.on_change = on_change
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            name: getattr(self, _snake_case(name)) for name in OPERATIONS
        }

    def __call__(self, request: Request) -> Response:
        target = request.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else target
        try:
            handler = self.operations.get(operation)
            if request.method != "POST" or handler is None:
                self.counters.record(operation or "<none>", "failed")
                raise UnknownOperationException(f"Operation {target!r} is not supported by this service")
            if self.backend.config.require_signature:
                unsigned = signature_problem(request)
                if unsigned is not None:
                    self.counters.record(operation, "failed")
                    raise unsigned
            fault = self.faults.fault_for(operation, _access_key(request))
            if fault is not None:
                self.counters.record(operation, "injected")
                raise fault
            try:
                params = self._params(request)
                # One lock for the whole call, so an answer never mixes two moments of a job.
                with self.backend.lock:
                    body = handler(params)
            except MachineLearningError:
                self.counters.record(operation, "failed")
                raise
            except Exception as error:
                self.counters.record(operation, "failed")
                raise InternalServerException(f"Internal error: {error}") from error
            self.counters.record(operation, "succeeded")
            return _json_response(200, body)
        except MachineLearningError as error:
            return _json_response(error.status_code, error.to_body())

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        raw = request.get_data()
        if not raw.strip():
            return {}
        try:
            params = json.loads(raw)
        except ValueError as error:
            raise SerializationException(f"Request body is not valid JSON: {error}") from error
        if not isinstance(params, dict):
            raise SerializationException("Request body must be a JSON object")
        return params

    # Data sources.

    def create_data_source_from_s3(self, params: dict[str, Any]) -> dict[str, Any]:
        data_source = self.backend.create_data_source_from_s3(
            params.get("DataSourceId"),
            params.get("DataSourceName"),
            params.get("DataSpec"),
            params.get("ComputeStatistics"),
        )
        self.on_change()
        return {"DataSourceId": data_source.entity_id}

    def create_data_source_from_redshift(self, params: dict[str, Any]) -> dict[str, Any]:
        data_source = self.backend.create_data_source_from_redshift(
            params.get("DataSourceId"),
            params.get("DataSourceName"),
            params.get("DataSpec"),
            params.get("RoleARN"),
            params.get("ComputeStatistics"),
        )
        self.on_change()
        return {"DataSourceId": data_source.entity_id}

    def create_data_source_from_rds(self, params: dict[str, Any]) -> dict[str, Any]:
        data_source = self.backend.create_data_source_from_rds(
            params.get("DataSourceId"),
            params.get("DataSourceName"),
            params.get("RDSData"),
            params.get("RoleARN"),
            params.get("ComputeStatistics"),
        )
        self.on_change()
        return {"DataSourceId": data_source.entity_id}

    def get_data_source(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get(self.backend.get_data_source(params.get("DataSourceId")), params)

    def describe_data_sources(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(DataSource.kind, params)

    def update_data_source(self, params: dict[str, Any]) -> dict[str, Any]:
        data_source = self.backend.update_data_source(
            params.get("DataSourceId"), params.get("DataSourceName")
        )
        return {"DataSourceId": data_source.entity_id}

    def delete_data_source(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"DataSourceId": self.backend.delete_data_source(params.get("DataSourceId")).entity_id}

    # Models.

    def create_ml_model(self, params: dict[str, Any]) -> dict[str, Any]:
        ml_model = self.backend.create_ml_model(
            params.get("MLModelId"),
            params.get("MLModelName"),
            params.get("MLModelType"),
            params.get("Parameters"),
            params.get("TrainingDataSourceId"),
            params.get("Recipe"),
            params.get("RecipeUri"),
        )
        self.on_change()
        return {"MLModelId": ml_model.entity_id}

    def get_ml_model(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get(self.backend.get_ml_model(params.get("MLModelId")), params)

    def describe_ml_models(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(MLModel.kind, params)

    def update_ml_model(self, params: dict[str, Any]) -> dict[str, Any]:
        ml_model = self.backend.update_ml_model(
            params.get("MLModelId"), params.get("MLModelName"), params.get("ScoreThreshold")
        )
        return {"MLModelId": ml_model.entity_id}

    def delete_ml_model(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"MLModelId": self.backend.delete_ml_model(params.get("MLModelId")).entity_id}

    # Real-time endpoints.

    def create_realtime_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        ml_model = self.backend.create_realtime_endpoint(params.get("MLModelId"))
        self.on_change()
        return {"MLModelId": ml_model.entity_id, "RealtimeEndpointInfo": ml_model.endpoint_info()}

    def delete_realtime_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        ml_model = self.backend.delete_realtime_endpoint(params.get("MLModelId"))
        return {"MLModelId": ml_model.entity_id, "RealtimeEndpointInfo": ml_model.endpoint_info()}

    def predict(self, params: dict[str, Any]) -> dict[str, Any]:
        prediction = self.backend.predict(
            params.get("MLModelId"), params.get("Record"), params.get("PredictEndpoint")
        )
        return {"Prediction": prediction}

    # Batch predictions.

    def create_batch_prediction(self, params: dict[str, Any]) -> dict[str, Any]:
        batch_prediction = self.backend.create_batch_prediction(
            params.get("BatchPredictionId"),
            params.get("BatchPredictionName"),
            params.get("MLModelId"),
            params.get("BatchPredictionDataSourceId"),
            params.get("OutputUri"),
        )
        self.on_change()
        return {"BatchPredictionId": batch_prediction.entity_id}

    def get_batch_prediction(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get(self.backend.get_batch_prediction(params.get("BatchPredictionId")), params)

    def describe_batch_predictions(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(BatchPrediction.kind, params)

    def update_batch_prediction(self, params: dict[str, Any]) -> dict[str, Any]:
        batch_prediction = self.backend.update_batch_prediction(
            params.get("BatchPredictionId"), params.get("BatchPredictionName")
        )
        return {"BatchPredictionId": batch_prediction.entity_id}

    def delete_batch_prediction(self, params: dict[str, Any]) -> dict[str, Any]:
        batch_prediction = self.backend.delete_batch_prediction(params.get("BatchPredictionId"))
        return {"BatchPredictionId": batch_prediction.entity_id}

    # Evaluations.

    def create_evaluation(self, params: dict[str, Any]) -> dict[str, Any]:
        evaluation = self.backend.create_evaluation(
            params.get("EvaluationId"),
            params.get("EvaluationName"),
            params.get("MLModelId"),
            params.get("EvaluationDataSourceId"),
        )
        self.on_change()
        return {"EvaluationId": evaluation.entity_id}

    def get_evaluation(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get(self.backend.get_evaluation(params.get("EvaluationId")), params)

    def describe_evaluations(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(Evaluation.kind, params)

    def update_evaluation(self, params: dict[str, Any]) -> dict[str, Any]:
        evaluation = self.backend.update_evaluation(params.get("EvaluationId"), params.get("EvaluationName"))
        return {"EvaluationId": evaluation.entity_id}

    def delete_evaluation(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"EvaluationId": self.backend.delete_evaluation(params.get("EvaluationId")).entity_id}

    # Tags.

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        entity = self.backend.add_tags(
            params.get("ResourceId"), params.get("ResourceType"), params.get("Tags")
        )
        return {"ResourceId": entity.entity_id, "ResourceType": entity.kind}

    def describe_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        entity = self.backend.find_resource(params.get("ResourceId"), params.get("ResourceType"))
        tags = [
            {"Key": key} if value is None else {"Key": key, "Value": value}
            for key, value in entity.tags.items()
        ]
        return {"ResourceId": entity.entity_id, "ResourceType": entity.kind, "Tags": tags}

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        entity = self.backend.delete_tags(
            params.get("ResourceId"), params.get("ResourceType"), params.get("TagKeys")
        )
        return {"ResourceId": entity.entity_id, "ResourceType": entity.kind}

    def _get(self, entity: Entity, params: dict[str, Any]) -> dict[str, Any]:
        # Only GetDataSource and GetMLModel have a Verbose member; botocore sends it to no other Get*.
        return entity.get(self.backend.log_uri(entity), verbose=bool(params.get("Verbose")))

    def _describe(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        page, next_token = self.backend.describe(kind, params)
        body: dict[str, Any] = {"Results": [entity.describe() for entity in page]}
        if next_token is not None:
            body["NextToken"] = next_token
        return body


OPERATIONS = (
    "CreateDataSourceFromS3",
    "CreateDataSourceFromRedshift",
    "CreateDataSourceFromRDS",
    "GetDataSource",
    "DescribeDataSources",
    "UpdateDataSource",
    "DeleteDataSource",
    "CreateMLModel",
    "GetMLModel",
    "DescribeMLModels",
    "UpdateMLModel",
    "DeleteMLModel",
    "CreateRealtimeEndpoint",
    "DeleteRealtimeEndpoint",
    "Predict",
    "CreateBatchPrediction",
    "GetBatchPrediction",
    "DescribeBatchPredictions",
    "UpdateBatchPrediction",
    "DeleteBatchPrediction",
    "CreateEvaluation",
    "GetEvaluation",
    "DescribeEvaluations",
    "UpdateEvaluation",
    "DeleteEvaluation",
    "AddTags",
    "DescribeTags",
    "DeleteTags",
)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
SIGNING_NAME = "machinelearning"
SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")


def signature_problem(request: Request) -> MachineLearningError | None:
    """
    What keeps ``request`` from being a SigV4-signed request, as the service names it; None if nothing.

    The form is checked (algorithm, credential scope naming this service, signed headers, a hex signature, a
    request date), never the signature's value: the emulator knows no secret keys.
    """
    authorization = request.headers.get("Authorization")
    if authorization is None:
        if "X-Amz-Signature" in request.args:
            return None  # a presigned request: its query carries the signature
        return MissingAuthenticationTokenException()
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != SIGV4_ALGORITHM:
        return IncompleteSignatureException(
            f"Unsupported Authorization algorithm {algorithm!r}: requests must be signed with {SIGV4_ALGORITHM}"
        )
    parameters = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not parameters.get(name)
    ]
    if "X-Amz-Date" not in request.headers and "Date" not in request.headers:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    elif "X-Amz-Date" in request.headers and not _AMZ_DATE.fullmatch(request.headers["X-Amz-Date"]):
        problems.append(
            f"X-Amz-Date {request.headers['X-Amz-Date']!r} must have the form YYYYMMDD'T'HHMMSS'Z'."
        )
    if problems:
        return IncompleteSignatureException(" ".join(problems))
    scope = parameters["Credential"].split("/")
    if len(scope) != 5 or not scope[0] or not _SCOPE_DATE.fullmatch(scope[1]) or not scope[2]:
        return IncompleteSignatureException(
            f"Credential {parameters['Credential']!r}: must be <access key>/<YYYYMMDD>/<region>/"
            f"{SIGNING_NAME}/aws4_request"
        )
    if scope[3] != SIGNING_NAME or scope[4] != "aws4_request":
        return IncompleteSignatureException(
            f"Credential should be scoped to correct service: '{SIGNING_NAME}'. ({parameters['Credential']!r})"
        )
    if "host" not in parameters["SignedHeaders"].split(";"):
        return IncompleteSignatureException(
            f"SignedHeaders {parameters['SignedHeaders']!r}: must include host"
        )
    if not _SIGNATURE.fullmatch(parameters["Signature"]):
        return IncompleteSignatureException("Signature: must be 64 lowercase hexadecimal digits")
    return None


def _access_key(request: Request) -> str | None:
    """The access key ID a SigV4-signed request names (the signature itself is not checked)."""
    match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
    return match.group(1) if match else None


def _snake_case(operation: str) -> str:
    # "CreateMLModel" -> "create_ml_model", "CreateDataSourceFromS3" -> "create_data_source_from_s3"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()


def _json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )
