"""The kinds of Amazon ML objects: they differ in names and fields, not in how they are created and awaited."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EntityKind:
    """
    One kind of Amazon ML object (the API model's ``Entity``): its names and its identity.

    :param name: Snake-case name, e.g. ``batch_prediction``; ``<name>_id`` is its ID parameter.
    :param title: Name for messages, e.g. ``Batch prediction``.
    :param operation: The API's noun, e.g. ``BatchPrediction`` in ``GetBatchPrediction``; also the
        ``ResourceType`` of its tags.
    :param create_operation: The create call, e.g. ``CreateBatchPrediction``.
    :param identity: From a create request, every parameter that shapes the object, normalised so that
        two requests for the same object compare equal (absent parameters are None). The name is not
        part of it.
    :param reported: From a ``Get`` response and a request's identity, those identity parameters the
        service reports in a form that compares with :attr:`identity`'s.
    """

    name: str
    title: str
    operation: str
    create_operation: str
    identity: Callable[[Mapping[str, Any]], dict[str, Any]]
    reported: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]

    @property
    def id_key(self) -> str:
        """The ID's key in requests and responses, e.g. ``BatchPredictionId``."""
        return f"{self.operation}Id"

    @property
    def id_param(self) -> str:
        """The ID's parameter name in operators, sensors and triggers, e.g. ``batch_prediction_id``."""
        return f"{self.name}_id"


def identity_digest(identity: Mapping[str, Any]) -> str:
    """A short, stable fingerprint of an identity, kept on the object as a tag."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def identity_differences(
    identity: Mapping[str, Any], reported: Mapping[str, Any], digest_match: bool | None
) -> dict[str, tuple[Any, Any]]:
    """
    Each identity parameter of a new request that differs from an existing object's, as (old, new).

    ``digest_match`` says whether the object's identity tag matches the request (None when the object
    has no tag). A parameter the service does not report is named with an unknown old value when the
    tag shows that something differs and no reported parameter does.
    """
    if digest_match:
        return {}
    differences = {
        key: (reported[key], value)
        for key, value in identity.items()
        if key in reported and reported[key] != value
    }
    if digest_match is False and not differences:
        differences = {key: (UNREPORTED, value) for key, value in identity.items() if key not in reported}
    return differences


class _Unreported:
    def __repr__(self) -> str:
        return "<not reported by the service>"


UNREPORTED: Any = _Unreported()


def _json_text(value: Any) -> str | None:
    """A JSON document in one canonical spelling, whatever its key order and spacing."""
    if value is None or value == "":
        return None
    try:
        return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def _batch_prediction_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: request.get(key) for key in ("MLModelId", "BatchPredictionDataSourceId", "OutputUri")}


def _batch_prediction_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    return _batch_prediction_identity(description)


def _data_source_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    spec = request["DataSpec"]
    return {
        "DataLocationS3": spec.get("DataLocationS3"),
        "DataSchema": _json_text(spec.get("DataSchema")),
        "DataSchemaLocationS3": spec.get("DataSchemaLocationS3"),
        "DataRearrangement": _json_text(spec.get("DataRearrangement")),
        "ComputeStatistics": bool(request.get("ComputeStatistics", False)),
    }


def _data_source_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "DataLocationS3": description.get("DataLocationS3"),
        "DataRearrangement": _json_text(description.get("DataRearrangement")),
        "ComputeStatistics": bool(description.get("ComputeStatistics", False)),
    }


def _database_identity(request: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """What shapes a Redshift or RDS data source; the password is left out (it never reaches a tag or a log)."""
    return {
        "DatabaseInformation": dict(spec.get("DatabaseInformation") or {}),
        "DatabaseUserName": (spec.get("DatabaseCredentials") or {}).get("Username"),
        "SelectSqlQuery": spec.get("SelectSqlQuery"),
        "S3StagingLocation": spec.get("S3StagingLocation"),
        "DataSchema": _json_text(spec.get("DataSchema")),
        "DataSchemaUri": spec.get("DataSchemaUri"),
        "DataRearrangement": _json_text(spec.get("DataRearrangement")),
        "RoleARN": request.get("RoleARN"),
        "ComputeStatistics": bool(request.get("ComputeStatistics", False)),
    }


def _database_reported(description: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "DatabaseUserName": metadata.get("DatabaseUserName"),
        "SelectSqlQuery": metadata.get("SelectSqlQuery"),
        "DataRearrangement": _json_text(description.get("DataRearrangement")),
        "RoleARN": description.get("RoleARN"),
        "ComputeStatistics": bool(description.get("ComputeStatistics", False)),
    }


def _redshift_data_source_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return _database_identity(request, request["DataSpec"])


def _redshift_data_source_reported(
    description: Mapping[str, Any], identity: Mapping[str, Any]
) -> dict[str, Any]:
    metadata = description.get("RedshiftMetadata") or {}
    return {
        **_database_reported(description, metadata),
        "DatabaseInformation": metadata.get("RedshiftDatabase"),
    }


_RDS_ONLY = ("ResourceRole", "ServiceRole", "SubnetId", "SecurityGroupIds")


def _rds_data_source_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    spec = request["RDSData"]
    return {**_database_identity(request, spec), **{key: spec.get(key) for key in _RDS_ONLY}}


def _rds_data_source_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    metadata = description.get("RDSMetadata") or {}
    return {
        **_database_reported(description, metadata),
        "DatabaseInformation": metadata.get("Database"),
        "ResourceRole": metadata.get("ResourceRole"),
        "ServiceRole": metadata.get("ServiceRole"),
    }


def _ml_model_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    parameters = request.get("Parameters")
    return {
        "MLModelType": request.get("MLModelType"),
        "TrainingDataSourceId": request.get("TrainingDataSourceId"),
        "Parameters": None if not parameters else {str(k): str(v) for k, v in sorted(parameters.items())},
        "Recipe": _json_text(request.get("Recipe")),
        "RecipeUri": request.get("RecipeUri"),
    }


def _ml_model_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    reported = {key: description.get(key) for key in ("MLModelType", "TrainingDataSourceId")}
    # The service reports the training parameters with its defaults filled in: those the request names
    # compare. The recipe it reports as text it may have reformatted: only the tag covers that.
    if identity.get("Parameters"):
        trained = description.get("TrainingParameters") or {}
        reported["Parameters"] = {key: trained.get(key) for key in identity["Parameters"]}
    return reported


def _evaluation_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: request.get(key) for key in ("MLModelId", "EvaluationDataSourceId")}


def _evaluation_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    return _evaluation_identity(description)


BATCH_PREDICTION = EntityKind(
    "batch_prediction",
    "Batch prediction",
    "BatchPrediction",
    "CreateBatchPrediction",
    _batch_prediction_identity,
    _batch_prediction_reported,
)
DATA_SOURCE = EntityKind(
    "data_source",
    "Data source",
    "DataSource",
    "CreateDataSourceFromS3",
    _data_source_identity,
    _data_source_reported,
)
# A data source read from a database: the same kind of object, created by another call.
DATA_SOURCE_FROM_REDSHIFT = EntityKind(
    "data_source",
    "Data source",
    "DataSource",
    "CreateDataSourceFromRedshift",
    _redshift_data_source_identity,
    _redshift_data_source_reported,
)
DATA_SOURCE_FROM_RDS = EntityKind(
    "data_source",
    "Data source",
    "DataSource",
    "CreateDataSourceFromRDS",
    _rds_data_source_identity,
    _rds_data_source_reported,
)
ML_MODEL = EntityKind(
    "ml_model", "ML model", "MLModel", "CreateMLModel", _ml_model_identity, _ml_model_reported
)
EVALUATION = EntityKind(
    "evaluation", "Evaluation", "Evaluation", "CreateEvaluation", _evaluation_identity, _evaluation_reported
)

ENTITY_KINDS = {kind.name: kind for kind in (BATCH_PREDICTION, DATA_SOURCE, ML_MODEL, EVALUATION)}
