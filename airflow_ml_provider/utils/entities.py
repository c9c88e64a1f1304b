"""The kinds of Amazon ML objects: they differ in names and fields, not in how they are created and awaited."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EntityKind:
    """
    One kind of Amazon ML object (the API model's ``Entity``): its names and its identity.

    :param name: Snake-case name, e.g. ``batch_prediction``; ``<name>_id`` is its ID parameter.
    :param title: Name for messages, e.g. ``Batch prediction``.
    :param operation: The API's noun, e.g. ``BatchPrediction`` in ``GetBatchPrediction``.
    :param create_operation: The create call, e.g. ``CreateBatchPrediction``.
    :param identity: From a create request, the fields a ``Get`` response must match for an existing
        object to count as the same one (a retry of the same task) rather than a conflict.
    """

    name: str
    title: str
    operation: str
    create_operation: str
    identity: Callable[[Mapping[str, Any]], dict[str, Any]]

    @property
    def id_key(self) -> str:
        """The ID's key in requests and responses, e.g. ``BatchPredictionId``."""
        return f"{self.operation}Id"

    @property
    def id_param(self) -> str:
        """The ID's parameter name in operators, sensors and triggers, e.g. ``batch_prediction_id``."""
        return f"{self.name}_id"


def _batch_prediction_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in ("MLModelId", "BatchPredictionDataSourceId", "OutputUri")}


def _data_source_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    spec = request["DataSpec"]
    identity = {
        "DataLocationS3": spec["DataLocationS3"],
        "ComputeStatistics": bool(request.get("ComputeStatistics", False)),
    }
    if spec.get("DataRearrangement"):
        identity["DataRearrangement"] = spec["DataRearrangement"]
    return identity


def _ml_model_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in ("MLModelType", "TrainingDataSourceId")}


def _evaluation_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in ("MLModelId", "EvaluationDataSourceId")}


BATCH_PREDICTION = EntityKind(
    "batch_prediction",
    "Batch prediction",
    "BatchPrediction",
    "CreateBatchPrediction",
    _batch_prediction_identity,
)
DATA_SOURCE = EntityKind(
    "data_source", "Data source", "DataSource", "CreateDataSourceFromS3", _data_source_identity
)
ML_MODEL = EntityKind("ml_model", "ML model", "MLModel", "CreateMLModel", _ml_model_identity)
EVALUATION = EntityKind("evaluation", "Evaluation", "Evaluation", "CreateEvaluation", _evaluation_identity)

ENTITY_KINDS = {kind.name: kind for kind in (BATCH_PREDICTION, DATA_SOURCE, ML_MODEL, EVALUATION)}
