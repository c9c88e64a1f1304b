"""State and rules of the emulated Amazon ML service: entities, validation, idempotency, Describe queries.

Nothing here knows about HTTP; the protocol layer turns requests into calls on the backend.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from amazon_ml_emulator import learning
from amazon_ml_emulator.controls import Clock, EmulatorConfig
from amazon_ml_emulator.databases import RDS, REDSHIFT, DatabaseQuery
from amazon_ml_emulator.exceptions import (
    IdempotentParameterMismatchException,
    InvalidInputException,
    InvalidTagException,
    LimitExceededException,
    PredictorNotMountedException,
    ResourceNotFoundException,
    TagLimitExceededException,
)

PENDING = "PENDING"
INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
DELETED = "DELETED"

ML_MODEL_TYPES = ("REGRESSION", "BINARY", "MULTICLASS")
SORT_ORDERS = ("asc", "dsc")
FILTER_OPERATORS = ("EQ", "GT", "LT", "GE", "LE", "NE", "Prefix")
DEFAULT_SCORE_THRESHOLD = 0.5
# Real-time endpoints: EndpointStatus values, and the request rate the service gives every endpoint.
ENDPOINT_NONE, ENDPOINT_UPDATING, ENDPOINT_READY = "NONE", "UPDATING", "READY"
DEFAULT_ACCOUNT_ID = "123456789012"
# Bounds botocore's model sets on members it leaves to the service.
MAX_COMPARATOR_VALUE_LENGTH = 1024
MAX_DOCUMENT_LENGTH = 131071  # DataSchema and Recipe
MAX_MESSAGE_LENGTH = 10240  # the Message of every object

_ENTITY_ID = re.compile(r"[a-zA-Z0-9_.-]+")
_DATABASE_IDENTIFIER = re.compile(r"[a-z0-9-]+")  # ClusterIdentifier, InstanceIdentifier
_REDSHIFT_DATABASE_NAME = re.compile(r"[a-z0-9]+")
_S3_URL = re.compile(r"s3://([^/]+)(/.*)?", re.DOTALL)


# Validation of what botocore sends without checking (it checks only required members and minimums).


def validate_entity_id(field_name: str, value: Any) -> str:
    value = _require_string(field_name, value)
    if not 1 <= len(value) <= 64:
        raise InvalidInputException(f"{field_name} {value!r}: must be 1 to 64 characters long")
    if not _ENTITY_ID.fullmatch(value):
        raise InvalidInputException(f"{field_name} {value!r}: must match the pattern [a-zA-Z0-9_.-]+")
    return value


def validate_name(field_name: str, value: Any) -> str | None:
    if value is None:
        return None
    value = _require_string(field_name, value, required=False)
    if len(value) > 1024:
        raise InvalidInputException(f"{field_name} {value[:40]!r}...: must be at most 1024 characters long")
    if value and not value.strip():
        raise InvalidInputException(f"{field_name} {value!r}: must not be only whitespace")
    return value


def validate_s3_url(field_name: str, value: Any) -> str:
    value = _require_string(field_name, value)
    if len(value) > 2048:
        raise InvalidInputException(f"{field_name} {value[:40]!r}...: must be at most 2048 characters long")
    if not _S3_URL.fullmatch(value):
        raise InvalidInputException(f"{field_name} {value!r}: must match the pattern s3://([^/]+)(/.*)?")
    return value


def validate_output_uri(value: Any, requires_slash: bool) -> str:
    value = validate_s3_url("OutputUri", value)
    key = value[len("s3://") :].partition("/")[2]
    for forbidden in (":", "//", "/./", "/../"):
        # A leading "./" or "../" is the same relative path as an inner one, so check with a '/' in front.
        if forbidden in key or (forbidden.startswith("/") and forbidden in "/" + key):
            raise InvalidInputException(f"OutputUri {value!r}: key must not contain {forbidden!r}")
    if requires_slash and not value.endswith("/"):
        raise InvalidInputException(f"OutputUri {value!r}: must end with '/'")
    return value


def validate_comparator_value(operator: str, value: Any) -> str:
    value = _require_string(operator, value)
    if len(value) > MAX_COMPARATOR_VALUE_LENGTH:
        raise InvalidInputException(
            f"{operator} {value[:40]!r}...: must be at most {MAX_COMPARATOR_VALUE_LENGTH} characters long"
        )
    if value and not value.strip():
        raise InvalidInputException(
            f"{operator} {value!r}: must match the pattern .*\\S.*|^$ (not only whitespace)"
        )
    return value


def validate_document(field_name: str, value: Any) -> str:
    """A JSON document given inline (DataSchema, Recipe): a string of at most 131071 characters."""
    value = _require_string(field_name, value)
    if len(value) > MAX_DOCUMENT_LENGTH:
        raise InvalidInputException(
            f"{field_name}: {len(value)} characters; must be at most {MAX_DOCUMENT_LENGTH} characters long"
        )
    return value


def validate_string(
    field_name: str, value: Any, low: int, high: int, pattern: re.Pattern[str] | None = None
) -> str:
    """A required string of ``low`` to ``high`` characters, matching ``pattern`` when given."""
    value = _require_string(field_name, value)
    if not low <= len(value) <= high:
        shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
        raise InvalidInputException(f"{field_name} {shown}: must be {low} to {high} characters long")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInputException(f"{field_name} {value!r}: must match the pattern {pattern.pattern}")
    return value


def validate_structure(field_name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputException(f"{field_name}: is required and must be a structure")
    return value


def validate_enum(field_name: str, value: Any, allowed: tuple[str, ...] | list[str]) -> str:
    value = _require_string(field_name, value)
    if value not in allowed:
        raise InvalidInputException(f"{field_name} {value!r}: must be one of {', '.join(allowed)}")
    return value


def validate_limit(value: Any) -> int:
    if value is None:
        return 100
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputException(f"Limit {value!r}: must be an integer")
    if not 1 <= value <= 100:
        raise InvalidInputException(f"Limit {value!r}: must be between 1 and 100")
    return value


def _require_string(field_name: str, value: Any, required: bool = True) -> str:
    if value is None and required:
        raise InvalidInputException(f"{field_name}: is required")
    if not isinstance(value, str):
        raise InvalidInputException(f"{field_name} {value!r}: must be a string")
    return value


def _learning_rule(field_name: str, check: Callable[[], Any]) -> Any:
    """Run a check of the learning module, turning its error into the service's InvalidInputException."""
    try:
        return check()
    except learning.LearningError as error:
        message = str(error)
        # The learning module's messages mostly name the field already; do not name it twice.
        if not message.startswith(field_name.rsplit(".", 1)[-1]):
            message = f"{field_name}: {message}"
        raise InvalidInputException(message) from error


# Tags: keys and values of letters, digits, spaces and ``_.:/=+-@``; the ``aws:`` prefix is reserved.
MAX_TAGS_PER_CALL = 100
TAG_KEY_LENGTH = (1, 128)
TAG_VALUE_LENGTH = (0, 256)
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _valid_tag_text(field_name: str, value: Any, length: tuple[int, int]) -> str:
    if not isinstance(value, str) or not length[0] <= len(value) <= length[1]:
        raise InvalidTagException(
            f"{field_name} {value!r}: must be a string of {length[0]}-{length[1]} characters"
        )
    # The model's pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$: letters, separators (a tab is not one), digits.
    bad = [
        char for char in value if unicodedata.category(char)[0] not in "LZN" and char not in _TAG_PUNCTUATION
    ]
    if bad:
        raise InvalidTagException(
            f"{field_name} {value!r}: may hold only letters, digits, spaces and _.:/=+-@ (not {bad[0]!r})"
        )
    return value


def _valid_tag(tag: Any) -> tuple[str, str | None]:
    if not isinstance(tag, dict) or "Key" not in tag:
        raise InvalidInputException(f"Tags: {tag!r} must be an object with a Key and an optional Value")
    key = _valid_tag_text("Tag Key", tag["Key"], TAG_KEY_LENGTH)
    if key.lower().startswith("aws:"):
        raise InvalidTagException(f"Tag Key {key!r}: the prefix 'aws:' is reserved for AWS use")
    if tag.get("Value") is None:
        # "If you specify a key without specifying a value, Amazon ML creates a tag with the specified key and a
        # value of null" (API Reference, AddTags): DescribeTags then gives the key alone.
        return key, None
    return key, _valid_tag_text("Tag Value", tag["Value"], TAG_VALUE_LENGTH)


# Entities.


class StatusIndex:
    """The stored entities of each kind by status: status-filtered lists and the job runner read it, not a scan."""

    def __init__(self) -> None:
        self._by_status: dict[tuple[str, str], dict[str, Entity]] = {}

    def add(self, entity: Entity) -> None:
        self._by_status.setdefault((entity.kind, entity.status), {})[entity.entity_id] = entity

    def moved(self, entity: Entity, previous: str) -> None:
        self._by_status.get((entity.kind, previous), {}).pop(entity.entity_id, None)
        self.add(entity)

    def with_status(self, kind: str, status: str) -> list[Entity]:
        return list(self._by_status.get((kind, status), {}).values())

    def count(self, status: str) -> int:
        return sum(len(self._by_status.get((kind, status), {})) for kind in ENTITY_TYPES)


@dataclass(eq=False)
class Entity:
    """
    What every Amazon ML object shares: identity, status and the times of its job.

    :param entity_id: the caller's ID, unique among entities of one type.
    :param name: the optional name.
    :param created_at: creation time, epoch seconds.
    :param created_by_iam_user: the ARN of the caller.
    :param request: the create parameters, compared when the same ID is submitted again.
    """

    kind: ClassVar[str] = ""
    id_member: ClassVar[str] = ""
    log_folder: ClassVar[str] = ""

    entity_id: str
    name: str | None
    created_at: float
    created_by_iam_user: str
    request: dict[str, Any]
    status: str = PENDING
    last_updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    compute_time: int | None = None
    message: str | None = None
    # Set by the controls: the job fails with this message instead of doing its work.
    injected_failure: str | None = None
    tags: dict[str, str | None] = field(default_factory=dict)
    # The job's log, served at the LogUri.
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_updated_at = self.created_at
        self.record(self.created_at, f"{self.kind} {self.entity_id} created, status {self.status}")

    def __setattr__(self, name: str, value: Any) -> None:
        previous = self.__dict__.get(name)
        object.__setattr__(self, name, value)
        # Every status change, however made, keeps the backend's index true.
        index = self.__dict__.get("status_index")
        if name == "status" and index is not None and previous != value:
            index.moved(self, previous)

    def record(self, now: float, text: str) -> None:
        moment = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.log.append(f"{moment} {text}")

    def dependencies(self) -> list[tuple[str, str]]:
        """The (kind, ID) of each entity this job needs COMPLETED before it can start."""
        return []

    def start(self, now: float) -> None:
        self.status = INPROGRESS
        self.started_at = now
        self.last_updated_at = now
        self.record(now, "Job started, status INPROGRESS")

    def complete(self, now: float) -> None:
        self.status = COMPLETED
        self.finished_at = now
        self.last_updated_at = now
        self.compute_time = round((now - (self.started_at or now)) * 1000)
        self.record(now, "Job finished, status COMPLETED")

    def fail(self, now: float, message: str) -> None:
        self.status = FAILED
        # A database's or a parser's error can be long; the model bounds Message.
        self.message = message[:MAX_MESSAGE_LENGTH]
        self.finished_at = now
        self.last_updated_at = now
        self.record(now, f"Job failed, status FAILED: {message}")

    def set_status(self, now: float, status: str) -> None:
        self.status = status
        self.last_updated_at = now
        self.record(now, f"Status set to {status}")

    def has_log(self) -> bool:
        """Whether Get* names a LogUri yet."""
        return True

    def filter_value(self, variable: str) -> str | float | None:
        return {
            "CreatedAt": self.created_at,
            "LastUpdatedAt": self.last_updated_at,
            "Status": self.status,
            "Name": self.name,
            "IAMUser": self.created_by_iam_user,
        }.get(variable)

    def _common_members(self) -> dict[str, Any]:
        members: dict[str, Any] = {
            self.id_member: self.entity_id,
            "CreatedByIamUser": self.created_by_iam_user,
            "CreatedAt": self.created_at,
            "LastUpdatedAt": self.last_updated_at,
            "Name": self.name,
            "Status": self.status,
            "Message": self.message,
            "StartedAt": self.started_at,
            # "Only available when the <object> is in the COMPLETED or FAILED state" (API Reference).
            "FinishedAt": self.finished_at if self.status in (COMPLETED, FAILED) else None,
            "ComputeTime": self.compute_time if self.status == COMPLETED else None,
        }
        return members

    def describe(self) -> dict[str, Any]:
        """The members of this entity in a Describe* result list."""
        return _without_unset(self._common_members())

    def get(self, log_uri: str, verbose: bool = False) -> dict[str, Any]:
        """The body of the Get* answer for this entity, its log at ``log_uri``."""
        return _without_unset({**self._common_members(), "LogUri": log_uri if self.has_log() else None})


@dataclass(eq=False)
class DataSource(Entity):
    """
    A data source over CSV files in S3.

    :param data_location_s3: one object, or a prefix meaning every object under it in key order.
    :param data_schema: the schema JSON given inline, if any.
    :param data_schema_location_s3: where the schema JSON is, if not given inline.
    :param data_rearrangement: the DataRearrangement JSON, if any.
    :param compute_statistics: whether statistics are computed (needed to train a model on it).
    """

    kind: ClassVar[str] = "DataSource"
    id_member: ClassVar[str] = "DataSourceId"
    log_folder: ClassVar[str] = "data-source"

    data_location_s3: str = ""
    data_schema: str | None = None
    data_schema_location_s3: str | None = None
    data_rearrangement: str | None = None
    compute_statistics: bool = False
    # Known once the job has read the data.
    file_urls: list[str] = field(default_factory=list)
    data_size_in_bytes: int | None = None
    number_of_files: int | None = None
    schema_text: str | None = None
    schema: learning.DataSchema | None = None
    dataset: learning.Dataset | None = None
    statistics: dict[str, Any] | None = None
    # Redshift and RDS data sources: the query whose result is staged at data_location_s3, and their roles.
    database_query: DatabaseQuery | None = None
    role_arn: str | None = None
    rds_roles: dict[str, str] | None = None

    def database_metadata(self, verbose: bool) -> dict[str, Any]:
        """
        RedshiftMetadata or RDSMetadata: where the data comes from, never the password.

        SelectSqlQuery "returns only if Verbose is true in GetDataSourceInput" (API Reference), so never in a
        Describe* list. RDS data is copied by an AWS Data Pipeline, whose ID RDSMetadata names.
        """
        query = self.database_query
        if query is None:
            return {}
        if query.engine == REDSHIFT:
            database = {"DatabaseName": query.database_name, "ClusterIdentifier": query.identifier}
            metadata = {"RedshiftDatabase": database}
        else:
            database = {"InstanceIdentifier": query.identifier, "DatabaseName": query.database_name}
            metadata = {
                "Database": database,
                **(self.rds_roles or {}),
                "DataPipelineId": self.data_pipeline_id(),
            }
        metadata["DatabaseUserName"] = query.username
        if verbose:
            metadata["SelectSqlQuery"] = query.select_sql_query
        return {f"{query.engine}Metadata": metadata}

    def data_pipeline_id(self) -> str:
        """The ID of the Data Pipeline copying an RDS query's result, in Data Pipeline's form ``df-...``."""
        digest = hashlib.sha256(f"{self.entity_id}@{self.created_at}".encode()).hexdigest()
        return f"df-{digest[:20].upper()}"

    def filter_value(self, variable: str) -> str | float | None:
        if variable == "DataLocationS3":
            return self.data_location_s3
        return super().filter_value(variable)

    def _common_members(self) -> dict[str, Any]:
        return {
            **super()._common_members(),
            "DataLocationS3": self.data_location_s3,
            "DataRearrangement": self.data_rearrangement,
            "DataSizeInBytes": self.data_size_in_bytes,
            "NumberOfFiles": self.number_of_files,
            "ComputeStatistics": self.compute_statistics,
            "RoleARN": self.role_arn,
            # "Only available if the DataSource is in the COMPLETED state and the ComputeStatistics is set to
            # true" (API Reference, GetDataSource).
            "ComputeTime": self.compute_time
            if self.status == COMPLETED and self.compute_statistics
            else None,
        }

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.database_metadata(verbose=False)}

    def get(self, log_uri: str, verbose: bool = False) -> dict[str, Any]:
        members = {**super().get(log_uri, verbose), **self.database_metadata(verbose)}
        schema_text = self.schema_text or self.data_schema
        if verbose and schema_text is not None:
            members["DataSourceSchema"] = schema_text
        return members


@dataclass(eq=False)
class MLModel(Entity):
    """
    A model trained on a data source.

    :param ml_model_type: REGRESSION, BINARY or MULTICLASS.
    :param training_data_source_id: the data source it is trained on.
    :param parameters: the training parameters as given.
    :param recipe: the recipe JSON given inline, if any.
    :param recipe_uri: where the recipe JSON is, if not given inline.
    :param input_data_location_s3: the training data source's DataLocationS3.
    """

    kind: ClassVar[str] = "MLModel"
    id_member: ClassVar[str] = "MLModelId"
    log_folder: ClassVar[str] = "ml-model"

    ml_model_type: str = "BINARY"
    training_data_source_id: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    recipe: str | None = None
    recipe_uri: str | None = None
    input_data_location_s3: str | None = None
    score_threshold: float | None = None
    score_threshold_last_updated_at: float | None = None
    # Known once trained.
    size_in_bytes: int | None = None
    schema_text: str | None = None
    trained_model: learning.TrainedModel | None = None
    # The real-time endpoint, once created.
    endpoint_status: str = ENDPOINT_NONE
    endpoint_created_at: float | None = None
    endpoint_ready_at: float | None = None
    endpoint_url: str | None = None
    # The endpoint's PeakRequestsPerSecond, fixed when it is created, and when it answered its recent Predict
    # calls (monotonic real seconds).
    peak_requests_per_second: int = 0
    recent_predictions: deque[float] = field(default_factory=deque, repr=False)

    def admit_prediction(self, now: float) -> None:
        """Count one Predict call at ``now``; refuse it past PeakRequestsPerSecond calls in the last second."""
        while self.recent_predictions and now - self.recent_predictions[0] >= 1.0:
            self.recent_predictions.popleft()
        if len(self.recent_predictions) >= self.peak_requests_per_second:
            raise LimitExceededException(
                f"MLModelId {self.entity_id!r}: the real-time endpoint's limit of "
                f"{self.peak_requests_per_second} requests per second (PeakRequestsPerSecond) is exceeded"
            )
        self.recent_predictions.append(now)

    def endpoint_info(self) -> dict[str, Any]:
        """``EndpointInfo`` of GetMLModel and DescribeMLModels, ``RealtimeEndpointInfo`` of the endpoint calls."""
        mounted = self.endpoint_status != ENDPOINT_NONE
        return _without_unset(
            {
                "PeakRequestsPerSecond": self.peak_requests_per_second if mounted else 0,
                "CreatedAt": self.endpoint_created_at,
                "EndpointUrl": self.endpoint_url,
                "EndpointStatus": self.endpoint_status,
            }
        )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ml_model_type == "BINARY":
            self.score_threshold = DEFAULT_SCORE_THRESHOLD

    def dependencies(self) -> list[tuple[str, str]]:
        return [(DataSource.kind, self.training_data_source_id)]

    def training_parameters(self) -> dict[str, str]:
        return learning.reported_training_parameters(self.parameters)

    def filter_value(self, variable: str) -> str | float | None:
        values = {
            "TrainingDataSourceId": self.training_data_source_id,
            "RealtimeEndpointStatus": self.endpoint_status,
            "MLModelType": self.ml_model_type,
            "Algorithm": "sgd",
            "TrainingDataURI": self.input_data_location_s3,
        }
        if variable in values:
            return values[variable]
        return super().filter_value(variable)

    def _common_members(self) -> dict[str, Any]:
        return {
            **super()._common_members(),
            "TrainingDataSourceId": self.training_data_source_id,
            "SizeInBytes": self.size_in_bytes,
            "EndpointInfo": self.endpoint_info(),
            "TrainingParameters": self.training_parameters(),
            "InputDataLocationS3": self.input_data_location_s3,
            "MLModelType": self.ml_model_type,
            # A model that has not started training has no threshold yet (seen in the CLI's answers).
            "ScoreThreshold": self.score_threshold if self.status != PENDING else None,
            "ScoreThresholdLastUpdatedAt": self.score_threshold_last_updated_at,
        }

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "Algorithm": "sgd"}

    def has_log(self) -> bool:
        # Neither has a model that has not started training (seen in the CLI's answers).
        return self.status != PENDING

    def get(self, log_uri: str, verbose: bool = False) -> dict[str, Any]:
        members = super().get(log_uri, verbose)
        if verbose:
            recipe = self.recipe
            if recipe is None and self.recipe_uri is None:
                # A model created without a recipe trains with the default one, and shows it.
                recipe = json.dumps(learning.DEFAULT_RECIPE)
            members.update(_without_unset({"Recipe": recipe, "Schema": self.schema_text}))
        return members


@dataclass(eq=False)
class BatchPrediction(Entity):
    """
    A batch prediction job: scores every file of a data source with a model and writes the results to S3.

    :param ml_model_id: the model that scores.
    :param batch_prediction_data_source_id: the data source scored.
    :param output_uri: where the manifest and result files go, as given.
    :param input_data_location_s3: the data source's DataLocationS3.
    """

    kind: ClassVar[str] = "BatchPrediction"
    id_member: ClassVar[str] = "BatchPredictionId"
    log_folder: ClassVar[str] = "batch-prediction"

    ml_model_id: str = ""
    batch_prediction_data_source_id: str = ""
    output_uri: str = ""
    input_data_location_s3: str | None = None
    total_record_count: int | None = None
    invalid_record_count: int | None = None

    def dependencies(self) -> list[tuple[str, str]]:
        return [(MLModel.kind, self.ml_model_id), (DataSource.kind, self.batch_prediction_data_source_id)]

    def output_prefix(self) -> str:
        """OutputUri with the trailing '/' the output layout assumes."""
        return self.output_uri if self.output_uri.endswith("/") else self.output_uri + "/"

    def manifest_url(self) -> str:
        return f"{self.output_prefix()}batch-prediction/{self.entity_id}.manifest"

    def result_url(self, input_url: str) -> str:
        basename = input_url.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.output_prefix()}batch-prediction/result/{self.entity_id}-{basename}.gz"

    def filter_value(self, variable: str) -> str | float | None:
        values = {
            "MLModelId": self.ml_model_id,
            "DataSourceId": self.batch_prediction_data_source_id,
            "DataURI": self.input_data_location_s3,
        }
        if variable in values:
            return values[variable]
        return super().filter_value(variable)

    def _common_members(self) -> dict[str, Any]:
        return {
            **super()._common_members(),
            "MLModelId": self.ml_model_id,
            "BatchPredictionDataSourceId": self.batch_prediction_data_source_id,
            "InputDataLocationS3": self.input_data_location_s3,
            "OutputUri": self.output_uri,
            "TotalRecordCount": self.total_record_count,
            "InvalidRecordCount": self.invalid_record_count,
        }


@dataclass(eq=False)
class Evaluation(Entity):
    """
    An evaluation of a model on a data source.

    :param ml_model_id: the model evaluated.
    :param evaluation_data_source_id: the data source holding the observed targets.
    :param input_data_location_s3: the data source's DataLocationS3.
    """

    kind: ClassVar[str] = "Evaluation"
    id_member: ClassVar[str] = "EvaluationId"
    log_folder: ClassVar[str] = "evaluation"

    ml_model_id: str = ""
    evaluation_data_source_id: str = ""
    input_data_location_s3: str | None = None
    performance_metrics: dict[str, str] | None = None

    def dependencies(self) -> list[tuple[str, str]]:
        return [(MLModel.kind, self.ml_model_id), (DataSource.kind, self.evaluation_data_source_id)]

    def filter_value(self, variable: str) -> str | float | None:
        values = {
            "MLModelId": self.ml_model_id,
            "DataSourceId": self.evaluation_data_source_id,
            "DataURI": self.input_data_location_s3,
        }
        if variable in values:
            return values[variable]
        return super().filter_value(variable)

    def _common_members(self) -> dict[str, Any]:
        metrics = None if self.performance_metrics is None else {"Properties": self.performance_metrics}
        return {
            **super()._common_members(),
            "MLModelId": self.ml_model_id,
            "EvaluationDataSourceId": self.evaluation_data_source_id,
            "InputDataLocationS3": self.input_data_location_s3,
            "PerformanceMetrics": metrics,
        }


ENTITY_TYPES: dict[str, type[Entity]] = {
    entity_type.kind: entity_type for entity_type in (DataSource, MLModel, BatchPrediction, Evaluation)
}
FILTER_VARIABLES: dict[str, tuple[str, ...]] = {
    DataSource.kind: ("CreatedAt", "LastUpdatedAt", "Status", "Name", "DataLocationS3", "IAMUser"),
    MLModel.kind: (
        "CreatedAt",
        "LastUpdatedAt",
        "Status",
        "Name",
        "IAMUser",
        "TrainingDataSourceId",
        "RealtimeEndpointStatus",
        "MLModelType",
        "Algorithm",
        "TrainingDataURI",
    ),
    BatchPrediction.kind: (
        "CreatedAt",
        "LastUpdatedAt",
        "Status",
        "Name",
        "IAMUser",
        "MLModelId",
        "DataSourceId",
        "DataURI",
    ),
    Evaluation.kind: (
        "CreatedAt",
        "LastUpdatedAt",
        "Status",
        "Name",
        "IAMUser",
        "MLModelId",
        "DataSourceId",
        "DataURI",
    ),
}
_TIME_VARIABLES = frozenset({"CreatedAt", "LastUpdatedAt"})


def _refuse_deleted(entity: Entity, members: str) -> None:
    """
    A DELETED object is "unusable" and its deletion "irreversible" (API Reference, Delete*): the emulator's
    choice, where the reference is silent, is that it takes no update either. Its tags stay open to change.
    """
    if entity.status == DELETED:
        raise InvalidInputException(
            f"{entity.id_member} {entity.entity_id!r}: is DELETED; {members} of a deleted object cannot be updated"
        )


def _without_unset(members: dict[str, Any]) -> dict[str, Any]:
    # The service omits members it has no value for; it never sends null.
    return {name: value for name, value in members.items() if value is not None}


@dataclass
class DescribeQuery:
    """
    One Describe* query: a filter on one variable, an order and a page.

    :param kind: the entity type listed.
    :param filter_variable: the variable the operators compare, if any.
    :param operators: operator name (EQ, GT, LT, GE, LE, NE, Prefix) to operand.
    :param sort_order: ``asc`` or ``dsc``, on the filter variable (CreatedAt without one).
    :param limit: most results in one page.
    :param next_token: where the previous page of the same query stopped.
    """

    kind: str
    filter_variable: str | None
    operators: dict[str, str]
    sort_order: str
    limit: int
    next_token: str | None

    def fingerprint(self) -> str:
        query = [self.kind, self.filter_variable, sorted(self.operators.items()), self.sort_order]
        return hashlib.sha256(json.dumps(query).encode()).hexdigest()[:16]

    def offset(self) -> int:
        if self.next_token is None:
            return 0
        try:
            token = json.loads(base64.urlsafe_b64decode(self.next_token.encode()))
            offset, fingerprint = int(token["offset"]), token["query"]
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise InvalidInputException(f"NextToken {self.next_token!r}: is not a valid token") from error
        if fingerprint != self.fingerprint():
            raise InvalidInputException(
                f"NextToken {self.next_token!r}: belongs to another query; "
                "repeat the filter and sort order of the call that returned it"
            )
        return offset

    def token_for(self, offset: int) -> str:
        token = json.dumps({"offset": offset, "query": self.fingerprint()})
        return base64.urlsafe_b64encode(token.encode()).decode()

    def matches(self, entity: Entity) -> bool:
        if self.filter_variable is None:
            return True
        value = entity.filter_value(self.filter_variable)
        for operator, operand in self.operators.items():
            if not _compare(self.filter_variable, value, operator, operand):
                return False
        return True

    def status_only(self) -> str | None:
        """The status when the query filters on ``Status`` EQ alone (answered from the status index)."""
        if self.filter_variable == "Status" and list(self.operators) == ["EQ"]:
            return self.operators["EQ"]
        return None

    def sort_key(self, entity: Entity) -> tuple[Any, ...]:
        value = entity.filter_value(self.filter_variable) if self.filter_variable else entity.created_at
        # Entities without a value sort first; ties keep creation order.
        return (value is not None, value if value is not None else "", entity.created_at, entity.entity_id)


def _creation_order(entity: Entity) -> tuple[float, str]:
    return entity.created_at, entity.entity_id


def _compare(variable: str, value: str | float | None, operator: str, operand: str) -> bool:
    if value is None:
        return operator == "NE"
    if operator == "Prefix":
        return str(value).startswith(operand)
    left: str | float = value
    right: str | float = _parse_time(variable, operator, operand) if variable in _TIME_VARIABLES else operand
    if isinstance(left, float) != isinstance(right, float):
        left, right = str(left), str(right)
    return {
        "EQ": left == right,
        "NE": left != right,
        "GT": left > right,  # type: ignore[operator]
        "GE": left >= right,  # type: ignore[operator]
        "LT": left < right,  # type: ignore[operator]
        "LE": left <= right,  # type: ignore[operator]
    }[operator]


def _parse_time(variable: str, operator: str, operand: str) -> float:
    """A time operand: epoch seconds, or an ISO 8601 date-time (UTC when it names no zone)."""
    try:
        return float(operand)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(operand.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidInputException(
            f"{operator} {operand!r}: {variable} takes epoch seconds or an ISO 8601 date-time"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _schema_and_rearrangement(
    spec_member: str, spec: dict[str, Any], location_member: str, schema_required: bool = True
) -> tuple[str | None, str | None, str | None]:
    """A data spec's DataSchema or its location (one at most; one when required), and its DataRearrangement."""
    schema, schema_location = spec.get("DataSchema"), spec.get(location_member)
    rearrangement = spec.get("DataRearrangement")
    if schema is None and schema_location is None and schema_required:
        raise InvalidInputException(f"{spec_member}: one of DataSchema or {location_member} is required")
    if schema is not None and schema_location is not None:
        raise InvalidInputException(f"{spec_member}: give DataSchema or {location_member}, not both")
    if schema is not None:
        schema = validate_document(f"{spec_member}.DataSchema", schema)
        _learning_rule(f"{spec_member}.DataSchema", lambda: learning.DataSchema.from_json(schema))
    if schema_location is not None:
        schema_location = validate_s3_url(f"{spec_member}.{location_member}", schema_location)
    if rearrangement is not None:
        rearrangement = _require_string(f"{spec_member}.DataRearrangement", rearrangement)
        _learning_rule(
            f"{spec_member}.DataRearrangement", lambda: learning.parse_data_rearrangement(rearrangement)
        )
    return schema, schema_location, rearrangement


def _compute_statistics(value: Any) -> bool:
    if value is not None and not isinstance(value, bool):
        raise InvalidInputException(f"ComputeStatistics {value!r}: must be a boolean")
    return bool(value)


def _database_query(
    engine: str,
    spec_member: str,
    spec: dict[str, Any],
    identifier: str,
    database_name: str,
    max_password: int,
) -> DatabaseQuery:
    credentials = validate_structure(f"{spec_member}.DatabaseCredentials", spec.get("DatabaseCredentials"))
    username = validate_string(
        f"{spec_member}.DatabaseCredentials.Username", credentials.get("Username"), 1, 128
    )
    password = _require_string(f"{spec_member}.DatabaseCredentials.Password", credentials.get("Password"))
    if not 8 <= len(password) <= max_password:
        # The password is never echoed, not even in an error.
        raise InvalidInputException(
            f"{spec_member}.DatabaseCredentials.Password: must be 8 to {max_password} characters long"
        )
    select_sql_query = validate_string(
        f"{spec_member}.SelectSqlQuery", spec.get("SelectSqlQuery"), 1, 16_777_216
    )
    return DatabaseQuery(engine, identifier, database_name, username, password, select_sql_query)


class MachineLearningBackend:
    """
    The account's Amazon ML objects and the rules of every operation on them.

    All state is guarded by :attr:`lock`, which the job runner also takes to move statuses on.

    :param config: the live settings (validation choices, clock pace).
    :param clock: the emulator's clock.
    :param account_id: the account the fake caller ARN names.
    """

    def __init__(self, config: EmulatorConfig, clock: Clock, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.config = config
        self.clock = clock
        self.caller_arn = f"arn:aws:iam::{account_id}:user/emulator"
        self.lock = threading.RLock()
        self._entities: dict[str, dict[str, Entity]] = {kind: {} for kind in ENTITY_TYPES}
        self._status_index = StatusIndex()
        self._failures_to_inject: list[tuple[str | None, str]] = []
        # Where the job logs are served, and where clients reach this service (the EndpointUrl of real-time
        # endpoints, so that Predict comes back here); the emulator sets both once it listens.
        self.log_base_url = ""
        self.endpoint_url = ""

    def log_uri(self, entity: Entity) -> str:
        """The HTTPS URL of ``entity``'s log (a presigned URL in the service; this one needs no signature)."""
        return f"{self.log_base_url}/{entity.log_folder}/{entity.entity_id}.log"

    # Data sources.

    def create_data_source_from_s3(
        self,
        data_source_id: Any,
        data_source_name: Any,
        data_spec: Any,
        compute_statistics: Any,
    ) -> DataSource:
        data_source_id = validate_entity_id("DataSourceId", data_source_id)
        name = validate_name("DataSourceName", data_source_name)
        data_spec = validate_structure("DataSpec", data_spec)
        location = validate_s3_url("DataSpec.DataLocationS3", data_spec.get("DataLocationS3"))
        schema, schema_location, rearrangement = _schema_and_rearrangement(
            "DataSpec", data_spec, "DataSchemaLocationS3"
        )
        compute_statistics = _compute_statistics(compute_statistics)
        request = {
            "DataSourceName": name,
            "DataSpec": {
                "DataLocationS3": location,
                "DataSchema": schema,
                "DataSchemaLocationS3": schema_location,
                "DataRearrangement": rearrangement,
            },
            "ComputeStatistics": compute_statistics,
        }
        return self._add_data_source(
            data_source_id,
            request,
            name=name,
            data_location_s3=location,
            data_schema=schema,
            data_schema_location_s3=schema_location,
            data_rearrangement=rearrangement,
            compute_statistics=compute_statistics,
        )

    def create_data_source_from_redshift(
        self,
        data_source_id: Any,
        data_source_name: Any,
        data_spec: Any,
        role_arn: Any,
        compute_statistics: Any,
    ) -> DataSource:
        data_source_id = validate_entity_id("DataSourceId", data_source_id)
        name = validate_name("DataSourceName", data_source_name)
        data_spec = validate_structure("DataSpec", data_spec)
        database = validate_structure("DataSpec.DatabaseInformation", data_spec.get("DatabaseInformation"))
        identifier = validate_string(
            "DataSpec.DatabaseInformation.ClusterIdentifier",
            database.get("ClusterIdentifier"),
            1,
            63,
            _DATABASE_IDENTIFIER,
        )
        database_name = validate_string(
            "DataSpec.DatabaseInformation.DatabaseName",
            database.get("DatabaseName"),
            1,
            64,
            _REDSHIFT_DATABASE_NAME,
        )
        query = _database_query(REDSHIFT, "DataSpec", data_spec, identifier, database_name, max_password=64)
        return self._create_database_data_source(
            data_source_id, name, "DataSpec", data_spec, query, role_arn, compute_statistics, rds_roles=None
        )

    def create_data_source_from_rds(
        self,
        data_source_id: Any,
        data_source_name: Any,
        rds_data: Any,
        role_arn: Any,
        compute_statistics: Any,
    ) -> DataSource:
        data_source_id = validate_entity_id("DataSourceId", data_source_id)
        name = validate_name("DataSourceName", data_source_name)
        rds_data = validate_structure("RDSData", rds_data)
        database = validate_structure("RDSData.DatabaseInformation", rds_data.get("DatabaseInformation"))
        identifier = validate_string(
            "RDSData.DatabaseInformation.InstanceIdentifier",
            database.get("InstanceIdentifier"),
            1,
            63,
            _DATABASE_IDENTIFIER,
        )
        database_name = validate_string(
            "RDSData.DatabaseInformation.DatabaseName", database.get("DatabaseName"), 1, 64
        )
        query = _database_query(RDS, "RDSData", rds_data, identifier, database_name, max_password=128)
        roles = {
            "ResourceRole": validate_string("RDSData.ResourceRole", rds_data.get("ResourceRole"), 1, 64),
            "ServiceRole": validate_string("RDSData.ServiceRole", rds_data.get("ServiceRole"), 1, 64),
        }
        validate_string("RDSData.SubnetId", rds_data.get("SubnetId"), 1, 255)
        groups = rds_data.get("SecurityGroupIds")
        if not isinstance(groups, list):
            raise InvalidInputException("RDSData.SecurityGroupIds: is required and must be a list")
        for index, group in enumerate(groups):
            validate_string(f"RDSData.SecurityGroupIds[{index}]", group, 1, 255)
        return self._create_database_data_source(
            data_source_id, name, "RDSData", rds_data, query, role_arn, compute_statistics, rds_roles=roles
        )

    def _create_database_data_source(
        self,
        data_source_id: str,
        name: str | None,
        spec_member: str,
        spec: dict[str, Any],
        query: DatabaseQuery,
        role_arn: Any,
        compute_statistics: Any,
        rds_roles: dict[str, str] | None,
    ) -> DataSource:
        staging = validate_s3_url(f"{spec_member}.S3StagingLocation", spec.get("S3StagingLocation"))
        # The Developer Guide makes the schema optional for Redshift ("(Optional) The location of the Amazon ML
        # schema"): without one it is inferred from the query's result. For RDS it names no such option.
        schema, schema_uri, rearrangement = _schema_and_rearrangement(
            spec_member, spec, "DataSchemaUri", schema_required=query.engine != REDSHIFT
        )
        role_arn = validate_string("RoleARN", role_arn, 1, 110)
        compute_statistics = _compute_statistics(compute_statistics)
        # Everything given, the password included, decides whether a create repeats an earlier one.
        request = {
            "DataSourceName": name,
            spec_member: spec,
            "RoleARN": role_arn,
            "ComputeStatistics": compute_statistics,
        }
        return self._add_data_source(
            data_source_id,
            request,
            name=name,
            # The query's result is staged in a folder of its own under S3StagingLocation.
            data_location_s3=f"{staging.rstrip('/')}/{data_source_id}/",
            data_schema=schema,
            data_schema_location_s3=schema_uri,
            data_rearrangement=rearrangement,
            compute_statistics=compute_statistics,
            database_query=query,
            role_arn=role_arn,
            rds_roles=rds_roles,
        )

    def _add_data_source(self, data_source_id: str, request: dict[str, Any], **members: Any) -> DataSource:
        with self.lock:
            existing = self._existing(DataSource, data_source_id, request)
            if existing is not None:
                return existing
            data_source = DataSource(
                entity_id=data_source_id,
                created_at=self.clock.now(),
                created_by_iam_user=self.caller_arn,
                request=request,
                **members,
            )
            self._add(data_source)
            return data_source

    def get_data_source(self, data_source_id: Any) -> DataSource:
        return self._get(DataSource, "DataSourceId", data_source_id)

    def update_data_source(self, data_source_id: Any, data_source_name: Any) -> DataSource:
        return self._rename(DataSource, "DataSourceId", data_source_id, "DataSourceName", data_source_name)

    def delete_data_source(self, data_source_id: Any) -> DataSource:
        return self._delete(DataSource, "DataSourceId", data_source_id)

    # Models.

    def create_ml_model(
        self,
        ml_model_id: Any,
        ml_model_name: Any,
        ml_model_type: Any,
        parameters: Any,
        training_data_source_id: Any,
        recipe: Any,
        recipe_uri: Any,
    ) -> MLModel:
        ml_model_id = validate_entity_id("MLModelId", ml_model_id)
        name = validate_name("MLModelName", ml_model_name)
        ml_model_type = validate_enum("MLModelType", ml_model_type, ML_MODEL_TYPES)
        training_data_source_id = validate_entity_id("TrainingDataSourceId", training_data_source_id)
        parameters = parameters or {}
        if not isinstance(parameters, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in parameters.items()
        ):
            raise InvalidInputException(f"Parameters {parameters!r}: must map strings to strings")
        _learning_rule("Parameters", lambda: learning.validate_model_parameters(ml_model_type, parameters))
        if recipe is not None and recipe_uri is not None:
            raise InvalidInputException("Recipe, RecipeUri: give one of them, not both")
        if recipe is not None:
            recipe = validate_document("Recipe", recipe)
        if recipe_uri is not None:
            recipe_uri = validate_s3_url("RecipeUri", recipe_uri)
        request = {
            "MLModelName": name,
            "MLModelType": ml_model_type,
            "Parameters": parameters,
            "TrainingDataSourceId": training_data_source_id,
            "Recipe": recipe,
            "RecipeUri": recipe_uri,
        }
        with self.lock:
            existing = self._existing(MLModel, ml_model_id, request)
            if existing is not None:
                return existing
            training = self._dependency(DataSource, "TrainingDataSourceId", training_data_source_id)
            if training is not None:
                # Whether the service rejects this at once or fails the job is unverified; rejecting at once
                # points at the call that made the mistake.
                if not training.compute_statistics:
                    raise InvalidInputException(
                        f"TrainingDataSourceId {training_data_source_id!r}: a model can only be trained on a "
                        "data source created with ComputeStatistics=true"
                    )
                schema_text = training.schema_text or training.data_schema
                if recipe is not None and schema_text is not None:
                    schema = learning.DataSchema.from_json(schema_text)
                    _learning_rule("Recipe", lambda: learning.validate_recipe(recipe, schema))
            ml_model = MLModel(
                entity_id=ml_model_id,
                name=name,
                created_at=self.clock.now(),
                created_by_iam_user=self.caller_arn,
                request=request,
                ml_model_type=ml_model_type,
                training_data_source_id=training_data_source_id,
                parameters=dict(parameters),
                recipe=recipe,
                recipe_uri=recipe_uri,
                input_data_location_s3=training.data_location_s3 if training else None,
            )
            self._add(ml_model)
            return ml_model

    def get_ml_model(self, ml_model_id: Any) -> MLModel:
        return self._get(MLModel, "MLModelId", ml_model_id)

    def update_ml_model(self, ml_model_id: Any, ml_model_name: Any, score_threshold: Any) -> MLModel:
        ml_model_id = validate_entity_id("MLModelId", ml_model_id)
        name = validate_name("MLModelName", ml_model_name)
        if score_threshold is not None and (
            isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float))
        ):
            raise InvalidInputException(f"ScoreThreshold {score_threshold!r}: must be a number")
        if score_threshold is not None and not 0 <= score_threshold <= 1:
            raise InvalidInputException(f"ScoreThreshold {score_threshold!r}: must be between 0 and 1")
        with self.lock:
            ml_model = self.get_ml_model(ml_model_id)
            _refuse_deleted(ml_model, "MLModelName, ScoreThreshold")
            if score_threshold is not None and ml_model.ml_model_type != "BINARY":
                raise InvalidInputException(
                    f"ScoreThreshold {score_threshold!r}: applies only to BINARY models, "
                    f"not to {ml_model.ml_model_type} model {ml_model_id!r}"
                )
            now = self.clock.now()
            if name is not None:
                ml_model.name = name
            if score_threshold is not None:
                ml_model.score_threshold = float(score_threshold)
                ml_model.score_threshold_last_updated_at = now
            ml_model.last_updated_at = now
            return ml_model

    def delete_ml_model(self, ml_model_id: Any) -> MLModel:
        with self.lock:
            ml_model: MLModel = self._delete(MLModel, "MLModelId", ml_model_id)
            # Deleting renders a model unusable (API Reference, DeleteMLModel): its endpoint goes with it.
            self._unmount(ml_model)
            return ml_model

    # Real-time endpoints.

    def create_realtime_endpoint(self, ml_model_id: Any) -> MLModel:
        with self.lock:
            ml_model = self.get_ml_model(ml_model_id)
            if ml_model.status != COMPLETED:
                # Whether the service accepts a model still training is unverified; only a trained one can answer.
                raise InvalidInputException(
                    f"MLModelId {ml_model.entity_id!r}: is {ml_model.status}; "
                    "only a COMPLETED model can have a real-time endpoint"
                )
            if ml_model.endpoint_status == ENDPOINT_NONE:
                now = self.clock.now()
                ml_model.endpoint_status = ENDPOINT_UPDATING
                ml_model.endpoint_created_at = now
                ml_model.endpoint_ready_at = now + self.config.endpoint_startup_duration
                ml_model.endpoint_url = self.endpoint_url
                ml_model.peak_requests_per_second = self.config.peak_requests_per_second
                ml_model.record(now, "Real-time endpoint created, status UPDATING")
            return ml_model

    def delete_realtime_endpoint(self, ml_model_id: Any) -> MLModel:
        with self.lock:
            ml_model = self.get_ml_model(ml_model_id)
            self._unmount(ml_model)
            return ml_model

    def _unmount(self, ml_model: MLModel) -> None:
        if ml_model.endpoint_status != ENDPOINT_NONE:
            ml_model.record(self.clock.now(), "Real-time endpoint deleted")
        ml_model.endpoint_status = ENDPOINT_NONE
        ml_model.endpoint_created_at = ml_model.endpoint_ready_at = ml_model.endpoint_url = None
        ml_model.recent_predictions.clear()

    def mount_ready_endpoints(self, now: float) -> None:
        """Turn the endpoints whose startup time has passed READY."""
        with self.lock:
            for ml_model in self._entities[MLModel.kind].values():
                if ml_model.endpoint_status == ENDPOINT_UPDATING and now >= (
                    ml_model.endpoint_ready_at or now
                ):
                    ml_model.endpoint_status = ENDPOINT_READY
                    ml_model.record(now, "Real-time endpoint READY")

    def predict(self, ml_model_id: Any, record: Any, predict_endpoint: Any) -> dict[str, Any]:
        """Predict's ``Prediction``: the model's answer for one record, from its READY real-time endpoint."""
        _require_string("PredictEndpoint", predict_endpoint)
        if not isinstance(record, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in record.items()
        ):
            raise InvalidInputException(f"Record {record!r}: must map attribute names to string values")
        with self.lock:
            ml_model = self.get_ml_model(ml_model_id)
            if ml_model.status == DELETED:
                raise PredictorNotMountedException(
                    f"MLModelId {ml_model.entity_id!r}: is DELETED; a deleted model has no real-time endpoint"
                )
            if ml_model.endpoint_status != ENDPOINT_READY or ml_model.trained_model is None:
                raise PredictorNotMountedException(
                    f"MLModelId {ml_model.entity_id!r}: has no READY real-time endpoint "
                    f"(EndpointStatus {ml_model.endpoint_status}); call CreateRealtimeEndpoint first"
                )
            # The rate is the callers', so it is counted in real seconds whatever the emulator's time scale.
            ml_model.admit_prediction(time.monotonic())
            schema = learning.DataSchema.from_json(ml_model.schema_text or "")
            threshold = (
                ml_model.score_threshold if ml_model.score_threshold is not None else DEFAULT_SCORE_THRESHOLD
            )
            return ml_model.trained_model.predict(schema, record, threshold)

    # Batch predictions.

    def create_batch_prediction(
        self,
        batch_prediction_id: Any,
        batch_prediction_name: Any,
        ml_model_id: Any,
        batch_prediction_data_source_id: Any,
        output_uri: Any,
    ) -> BatchPrediction:
        batch_prediction_id = validate_entity_id("BatchPredictionId", batch_prediction_id)
        name = validate_name("BatchPredictionName", batch_prediction_name)
        ml_model_id = validate_entity_id("MLModelId", ml_model_id)
        data_source_id = validate_entity_id("BatchPredictionDataSourceId", batch_prediction_data_source_id)
        output_uri = validate_output_uri(output_uri, self.config.output_uri_requires_slash)
        request = {
            "BatchPredictionName": name,
            "MLModelId": ml_model_id,
            "BatchPredictionDataSourceId": data_source_id,
            "OutputUri": output_uri,
        }
        with self.lock:
            existing = self._existing(BatchPrediction, batch_prediction_id, request)
            if existing is not None:
                return existing
            self._dependency(MLModel, "MLModelId", ml_model_id)
            data_source = self._dependency(DataSource, "BatchPredictionDataSourceId", data_source_id)
            batch_prediction = BatchPrediction(
                entity_id=batch_prediction_id,
                name=name,
                created_at=self.clock.now(),
                created_by_iam_user=self.caller_arn,
                request=request,
                ml_model_id=ml_model_id,
                batch_prediction_data_source_id=data_source_id,
                output_uri=output_uri,
                input_data_location_s3=data_source.data_location_s3 if data_source else None,
            )
            self._add(batch_prediction)
            return batch_prediction

    def get_batch_prediction(self, batch_prediction_id: Any) -> BatchPrediction:
        return self._get(BatchPrediction, "BatchPredictionId", batch_prediction_id)

    def update_batch_prediction(
        self, batch_prediction_id: Any, batch_prediction_name: Any
    ) -> BatchPrediction:
        return self._rename(
            BatchPrediction,
            "BatchPredictionId",
            batch_prediction_id,
            "BatchPredictionName",
            batch_prediction_name,
        )

    def delete_batch_prediction(self, batch_prediction_id: Any) -> BatchPrediction:
        return self._delete(BatchPrediction, "BatchPredictionId", batch_prediction_id)

    # Evaluations.

    def create_evaluation(
        self, evaluation_id: Any, evaluation_name: Any, ml_model_id: Any, evaluation_data_source_id: Any
    ) -> Evaluation:
        evaluation_id = validate_entity_id("EvaluationId", evaluation_id)
        name = validate_name("EvaluationName", evaluation_name)
        ml_model_id = validate_entity_id("MLModelId", ml_model_id)
        data_source_id = validate_entity_id("EvaluationDataSourceId", evaluation_data_source_id)
        request = {"EvaluationName": name, "MLModelId": ml_model_id, "EvaluationDataSourceId": data_source_id}
        with self.lock:
            existing = self._existing(Evaluation, evaluation_id, request)
            if existing is not None:
                return existing
            self._dependency(MLModel, "MLModelId", ml_model_id)
            data_source = self._dependency(DataSource, "EvaluationDataSourceId", data_source_id)
            evaluation = Evaluation(
                entity_id=evaluation_id,
                name=name,
                created_at=self.clock.now(),
                created_by_iam_user=self.caller_arn,
                request=request,
                ml_model_id=ml_model_id,
                evaluation_data_source_id=data_source_id,
                input_data_location_s3=data_source.data_location_s3 if data_source else None,
            )
            self._add(evaluation)
            return evaluation

    def get_evaluation(self, evaluation_id: Any) -> Evaluation:
        return self._get(Evaluation, "EvaluationId", evaluation_id)

    def update_evaluation(self, evaluation_id: Any, evaluation_name: Any) -> Evaluation:
        return self._rename(Evaluation, "EvaluationId", evaluation_id, "EvaluationName", evaluation_name)

    def delete_evaluation(self, evaluation_id: Any) -> Evaluation:
        return self._delete(Evaluation, "EvaluationId", evaluation_id)

    # Describe*.

    def describe(self, kind: str, request: dict[str, Any]) -> tuple[list[Entity], str | None]:
        """Run a Describe* query on entities of ``kind``; return one page and the token of the next."""
        filter_variable = request.get("FilterVariable")
        if filter_variable is not None:
            filter_variable = validate_enum("FilterVariable", filter_variable, FILTER_VARIABLES[kind])
        operators = {}
        for operator in FILTER_OPERATORS:
            if request.get(operator) is not None:
                operators[operator] = validate_comparator_value(operator, request[operator])
        if operators and filter_variable is None:
            raise InvalidInputException(
                f"{', '.join(operators)}: FilterVariable is required with an operator"
            )
        sort_order = request.get("SortOrder")
        sort_order = "asc" if sort_order is None else validate_enum("SortOrder", sort_order, SORT_ORDERS)
        next_token = request.get("NextToken")
        if next_token is not None:
            next_token = _require_string("NextToken", next_token)
        query = DescribeQuery(
            kind=kind,
            filter_variable=filter_variable,
            operators=operators,
            sort_order=sort_order,
            limit=validate_limit(request.get("Limit")),
            next_token=next_token,
        )
        offset = query.offset()
        if filter_variable in _TIME_VARIABLES:
            # A malformed time is the caller's mistake whether or not any entity would be compared to it.
            for operator, operand in operators.items():
                if operator != "Prefix":
                    _parse_time(filter_variable, operator, operand)
        status = query.status_only()
        with self.lock:
            if status is None:
                matching = [entity for entity in self._entities[kind].values() if query.matches(entity)]
            else:
                matching = self._status_index.with_status(kind, status)
        if status is None:
            matching.sort(key=query.sort_key, reverse=sort_order == "dsc")
        else:
            # One status: the sort key's first member is the same for all, so creation order decides.
            matching.sort(key=_creation_order, reverse=sort_order == "dsc")
        page = matching[offset : offset + query.limit]
        more = offset + query.limit < len(matching)
        return page, query.token_for(offset + query.limit) if more else None

    # Tags.

    def add_tags(self, resource_id: Any, resource_type: Any, tags: Any) -> Entity:
        """Add or overwrite tags; the object may carry at most ``tag_limit`` of them afterwards."""
        entity = self.find_resource(resource_id, resource_type)
        if not isinstance(tags, list) or not tags:
            raise InvalidInputException("Tags: must be a list of 1 to 100 tags")
        if len(tags) > MAX_TAGS_PER_CALL:
            raise InvalidInputException(f"Tags: at most {MAX_TAGS_PER_CALL} tags per call")
        new = dict(_valid_tag(tag) for tag in tags)
        merged = {**entity.tags, **new}
        if len(merged) > self.config.tag_limit:
            raise TagLimitExceededException(
                f"{entity.kind} {entity.entity_id!r} would carry {len(merged)} tags; "
                f"the limit is {self.config.tag_limit}"
            )
        entity.tags = merged
        return entity

    def delete_tags(self, resource_id: Any, resource_type: Any, tag_keys: Any) -> Entity:
        """Remove the tags with these keys; keys the object does not carry are ignored."""
        entity = self.find_resource(resource_id, resource_type)
        if not isinstance(tag_keys, list) or not tag_keys:
            raise InvalidInputException("TagKeys: must be a list of 1 to 100 keys")
        for key in tag_keys:
            entity.tags.pop(_valid_tag_text("TagKeys", key, TAG_KEY_LENGTH), None)
        return entity

    def find_resource(self, resource_id: Any, resource_type: Any) -> Entity:
        """The object a tag operation names by ``ResourceId`` and ``ResourceType``."""
        resource_type = validate_enum("ResourceType", resource_type, list(ENTITY_TYPES))
        entity_type = ENTITY_TYPES[resource_type]
        return self._get(entity_type, "ResourceId", resource_id)

    # Controls and the job runner's view.

    def find(self, kind: str, entity_id: str) -> Entity | None:
        with self.lock:
            return self._entities[kind].get(entity_id)

    def count_in_progress(self) -> int:
        with self.lock:
            return self._status_index.count(INPROGRESS)

    def with_status(self, status: str) -> list[Entity]:
        """The entities of every kind with ``status``, oldest first."""
        with self.lock:
            found = [
                entity for kind in ENTITY_TYPES for entity in self._status_index.with_status(kind, status)
            ]
        found.sort(key=_creation_order)
        return found

    def fail_entity(self, kind: str, entity_id: str, message: str) -> Entity:
        with self.lock:
            entity = self._control_target(kind, entity_id)
            entity.fail(self.clock.now(), message)
            return entity

    def set_status(self, kind: str, entity_id: str, status: str) -> Entity:
        with self.lock:
            entity = self._control_target(kind, entity_id)
            entity.set_status(self.clock.now(), status)
            return entity

    def fail_next_jobs(self, count: int, message: str, kind: str | None = None) -> None:
        if kind is not None and kind not in ENTITY_TYPES:
            raise ValueError(f"kind {kind!r}: must be one of {sorted(ENTITY_TYPES)}")
        with self.lock:
            self._failures_to_inject.extend([(kind, message)] * count)

    def reset(self) -> None:
        with self.lock:
            for entities in self._entities.values():
                entities.clear()
            # Entities kept by a job in flight keep the old index, which nothing reads.
            self._status_index = StatusIndex()
            self._failures_to_inject.clear()

    def all_entities(self) -> Iterator[Entity]:
        with self.lock:
            entities = [entity for by_id in self._entities.values() for entity in by_id.values()]
        return iter(entities)

    # Shared rules.

    def _existing(self, entity_type: type[Entity], entity_id: str, request: dict[str, Any]) -> Entity | None:
        existing = self._entities[entity_type.kind].get(entity_id)
        if existing is None:
            return None
        if existing.request != request:
            differing = sorted(name for name in request if request[name] != existing.request.get(name))
            raise IdempotentParameterMismatchException(
                f"{entity_type.id_member} {entity_id!r}: already used with other parameters "
                f"({', '.join(differing)} differ)"
            )
        # The same request again: the entity it created, and no second job.
        return existing

    def _dependency(self, entity_type: type[Entity], member: str, entity_id: str) -> Any:
        # What the service does here is unverified: EmulatorConfig.missing_dependency chooses. A dependency
        # that exists but is FAILED or DELETED is accepted either way; the job fails when it would start.
        entity = self._entities[entity_type.kind].get(entity_id)
        if entity is None and self.config.missing_dependency == "reject":
            # The service's not-found wording (see _get), under the code the model lists for creates.
            raise InvalidInputException(f"No {entity_type.kind} with id {entity_id} exists ({member})")
        return entity

    def _add(self, entity: Entity) -> None:
        self._entities[entity.kind][entity.entity_id] = entity
        self._status_index.add(entity)
        object.__setattr__(entity, "status_index", self._status_index)
        for index, (kind, message) in enumerate(self._failures_to_inject):
            if kind is None or kind == entity.kind:
                entity.injected_failure = message
                del self._failures_to_inject[index]
                break

    def _get(self, entity_type: type[Entity], member: str, entity_id: Any) -> Any:
        entity_id = validate_entity_id(member, entity_id)
        with self.lock:
            entity = self._entities[entity_type.kind].get(entity_id)
        # The service's reads can lag its writes: an object this young may not be found yet.
        if entity is None or self.clock.now() - entity.created_at < self.config.read_after_create_lag:
            # The service's wording, as the AWS SDKs' integration tests against it assert.
            raise ResourceNotFoundException(f"No {entity_type.kind} with id {entity_id} exists")
        return entity

    def _rename(
        self, entity_type: type[Entity], member: str, entity_id: Any, name_member: str, name: Any
    ) -> Any:
        if name is None:
            raise InvalidInputException(f"{name_member}: is required")
        name = validate_name(name_member, name)
        with self.lock:
            entity = self._get(entity_type, member, entity_id)
            _refuse_deleted(entity, name_member)
            entity.name = name
            entity.last_updated_at = self.clock.now()
            return entity

    def _delete(self, entity_type: type[Entity], member: str, entity_id: Any) -> Any:
        with self.lock:
            entity = self._get(entity_type, member, entity_id)
            entity.set_status(self.clock.now(), DELETED)
            return entity

    def _control_target(self, kind: str, entity_id: str) -> Entity:
        if kind not in ENTITY_TYPES:
            raise ValueError(f"kind {kind!r}: must be one of {sorted(ENTITY_TYPES)}")
        entity = self._entities[kind].get(entity_id)
        if entity is None:
            raise KeyError(f"no {kind} with ID {entity_id!r}")
        return entity
