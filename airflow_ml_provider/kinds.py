"""What each kind of Amazon ML object is: its names, identity, service calls, error, trigger and console link.

This is the one place that says so; operators, sensors, triggers, the hook and the provider's
registration read it from here. It imports nothing heavy (Airflow's provider manager reads it while
Airflow starts): classes are named by import path and loaded when first used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any

from airflow_ml_provider.utils.entities import json_text

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_ml_provider.exceptions import EntityFailedError
    from airflow_ml_provider.links.machine_learning import MachineLearningConsoleLink


def _load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


@dataclass(frozen=True)
class EntityKind:
    """
    One kind of Amazon ML object (the API model's ``Entity``).

    :param name: Snake-case name, e.g. ``batch_prediction``; ``<name>_id`` is its ID parameter.
    :param title: Name for messages, e.g. ``Batch prediction``.
    :param operation: The API's noun, e.g. ``BatchPrediction`` in ``GetBatchPrediction``; also the
        ``ResourceType`` of its tags.
    :param create_operation: The create call's name, e.g. ``CreateBatchPrediction``, for messages.
    :param create: Makes the create call on a client with a request (including the ID).
    :param get: Makes the ``Get`` call on a sync or async client for an ID.
    :param delete: Makes the ``Delete`` call on a sync or async client for an ID.
    :param identity: From a create request, every parameter that shapes the object, normalised so that
        two requests for the same object compare equal (absent parameters are None). The name is not
        part of it.
    :param reported: From a ``Get`` response and a request's identity, those identity parameters the
        service reports in a form that compares with :attr:`identity`'s.
    :param error: Import path of the error raised when an object of the kind does not complete.
    :param link: Import path of its console link.
    :param trigger: Import path of the trigger that waits for it.
    :param operator: Import path of the operator that creates it.
    :param sensor: Import path of the sensor that waits for it.
    """

    name: str
    title: str
    operation: str
    create_operation: str
    create: Callable[[Any, Mapping[str, Any]], Any]
    get: Callable[[Any, str], Any]
    delete: Callable[[Any, str], Any]
    identity: Callable[[Mapping[str, Any]], dict[str, Any]]
    reported: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    error: str
    link: str
    trigger: str
    operator: str
    sensor: str

    @property
    def id_key(self) -> str:
        """The ID's key in requests and responses, e.g. ``BatchPredictionId``."""
        return f"{self.operation}Id"

    @property
    def id_param(self) -> str:
        """The ID's parameter name in operators, sensors and triggers, e.g. ``batch_prediction_id``."""
        return f"{self.name}_id"

    @cached_property
    def failed_error(self) -> type[EntityFailedError]:
        """The error raised when an object of this kind does not complete."""
        return _load(self.error)

    @cached_property
    def link_class(self) -> type[MachineLearningConsoleLink]:
        """The console link of this kind's tasks."""
        return _load(self.link)

    def new_trigger(self, entity_id: str, **kwargs: Any) -> BaseTrigger:
        """The trigger that waits for the object ``entity_id``; its module is imported only now."""
        return _load(self.trigger)(**{self.id_param: entity_id}, **kwargs)


def _batch_prediction_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: request.get(key) for key in ("MLModelId", "BatchPredictionDataSourceId", "OutputUri")}


def _batch_prediction_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    return _batch_prediction_identity(description)


def _data_source_identity(request: Mapping[str, Any]) -> dict[str, Any]:
    spec = request["DataSpec"]
    return {
        "DataLocationS3": spec.get("DataLocationS3"),
        "DataSchema": json_text(spec.get("DataSchema")),
        "DataSchemaLocationS3": spec.get("DataSchemaLocationS3"),
        "DataRearrangement": json_text(spec.get("DataRearrangement")),
        "ComputeStatistics": bool(request.get("ComputeStatistics", False)),
    }


def _data_source_reported(description: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "DataLocationS3": description.get("DataLocationS3"),
        "DataRearrangement": json_text(description.get("DataRearrangement")),
        "ComputeStatistics": bool(description.get("ComputeStatistics", False)),
    }


def _database_identity(request: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """What shapes a Redshift or RDS data source; the password is left out (it never reaches a tag or a log)."""
    return {
        "DatabaseInformation": dict(spec.get("DatabaseInformation") or {}),
        "DatabaseUserName": (spec.get("DatabaseCredentials") or {}).get("Username"),
        "SelectSqlQuery": spec.get("SelectSqlQuery"),
        "S3StagingLocation": _folder(spec.get("S3StagingLocation")),
        "DataSchema": json_text(spec.get("DataSchema")),
        "DataSchemaUri": spec.get("DataSchemaUri"),
        "DataRearrangement": json_text(spec.get("DataRearrangement")),
        "RoleARN": request.get("RoleARN"),
        "ComputeStatistics": bool(request.get("ComputeStatistics", False)),
    }


def _folder(url: str | None) -> str | None:
    return None if url is None else url.rstrip("/")


def _database_reported(description: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    # The service stages the query's result in a folder of the data source's own under S3StagingLocation.
    location, own_folder = description.get("DataLocationS3") or "", f"{description.get('DataSourceId')}/"
    return {
        "S3StagingLocation": _folder(location[: -len(own_folder)]) if location.endswith(own_folder) else None,
        "DatabaseUserName": metadata.get("DatabaseUserName"),
        # The service shows the query only to a Verbose Get: absent, the request's digest tag judges it.
        **({"SelectSqlQuery": metadata["SelectSqlQuery"]} if "SelectSqlQuery" in metadata else {}),
        "DataRearrangement": json_text(description.get("DataRearrangement")),
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
        "Recipe": json_text(request.get("Recipe")),
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


_PACKAGE = "airflow_ml_provider"

BATCH_PREDICTION = EntityKind(
    name="batch_prediction",
    title="Batch prediction",
    operation="BatchPrediction",
    create_operation="CreateBatchPrediction",
    create=lambda client, request: client.create_batch_prediction(**request),
    get=lambda client, entity_id: client.get_batch_prediction(BatchPredictionId=entity_id),
    delete=lambda client, entity_id: client.delete_batch_prediction(BatchPredictionId=entity_id),
    identity=_batch_prediction_identity,
    reported=_batch_prediction_reported,
    error=f"{_PACKAGE}.exceptions.BatchPredictionFailedError",
    link=f"{_PACKAGE}.links.machine_learning.BatchPredictionLink",
    trigger=f"{_PACKAGE}.triggers.batch_prediction.BatchPredictionTrigger",
    operator=f"{_PACKAGE}.operators.batch_prediction.CreateBatchPredictionOperator",
    sensor=f"{_PACKAGE}.sensors.batch_prediction.BatchPredictionSensor",
)
DATA_SOURCE = EntityKind(
    name="data_source",
    title="Data source",
    operation="DataSource",
    create_operation="CreateDataSourceFromS3",
    create=lambda client, request: client.create_data_source_from_s3(**request),
    # Verbose: only then does the service show a database source's query, a part of its identity.
    get=lambda client, entity_id: client.get_data_source(DataSourceId=entity_id, Verbose=True),
    delete=lambda client, entity_id: client.delete_data_source(DataSourceId=entity_id),
    identity=_data_source_identity,
    reported=_data_source_reported,
    error=f"{_PACKAGE}.exceptions.DataSourceFailedError",
    link=f"{_PACKAGE}.links.machine_learning.DataSourceLink",
    trigger=f"{_PACKAGE}.triggers.data_source.DataSourceTrigger",
    operator=f"{_PACKAGE}.operators.data_source.CreateDataSourceFromS3Operator",
    sensor=f"{_PACKAGE}.sensors.data_source.DataSourceSensor",
)
# Data sources read from a database: the same kind of object (read, waited for, deleted and linked
# alike), created by another call from another request.
DATA_SOURCE_FROM_REDSHIFT = replace(
    DATA_SOURCE,
    create_operation="CreateDataSourceFromRedshift",
    create=lambda client, request: client.create_data_source_from_redshift(**request),
    identity=_redshift_data_source_identity,
    reported=_redshift_data_source_reported,
    operator=f"{_PACKAGE}.operators.data_source.CreateDataSourceFromRedshiftOperator",
)
DATA_SOURCE_FROM_RDS = replace(
    DATA_SOURCE,
    create_operation="CreateDataSourceFromRDS",
    create=lambda client, request: client.create_data_source_from_rds(**request),
    identity=_rds_data_source_identity,
    reported=_rds_data_source_reported,
    operator=f"{_PACKAGE}.operators.data_source.CreateDataSourceFromRDSOperator",
)
ML_MODEL = EntityKind(
    name="ml_model",
    title="ML model",
    operation="MLModel",
    create_operation="CreateMLModel",
    create=lambda client, request: client.create_ml_model(**request),
    get=lambda client, entity_id: client.get_ml_model(MLModelId=entity_id),
    delete=lambda client, entity_id: client.delete_ml_model(MLModelId=entity_id),
    identity=_ml_model_identity,
    reported=_ml_model_reported,
    error=f"{_PACKAGE}.exceptions.MLModelFailedError",
    link=f"{_PACKAGE}.links.machine_learning.MLModelLink",
    trigger=f"{_PACKAGE}.triggers.ml_model.MLModelTrigger",
    operator=f"{_PACKAGE}.operators.ml_model.CreateMLModelOperator",
    sensor=f"{_PACKAGE}.sensors.ml_model.MLModelSensor",
)
EVALUATION = EntityKind(
    name="evaluation",
    title="Evaluation",
    operation="Evaluation",
    create_operation="CreateEvaluation",
    create=lambda client, request: client.create_evaluation(**request),
    get=lambda client, entity_id: client.get_evaluation(EvaluationId=entity_id),
    delete=lambda client, entity_id: client.delete_evaluation(EvaluationId=entity_id),
    identity=_evaluation_identity,
    reported=_evaluation_reported,
    error=f"{_PACKAGE}.exceptions.EvaluationFailedError",
    link=f"{_PACKAGE}.links.machine_learning.EvaluationLink",
    trigger=f"{_PACKAGE}.triggers.evaluation.EvaluationTrigger",
    operator=f"{_PACKAGE}.operators.evaluation.CreateEvaluationOperator",
    sensor=f"{_PACKAGE}.sensors.evaluation.EvaluationSensor",
)

KINDS = (BATCH_PREDICTION, DATA_SOURCE, ML_MODEL, EVALUATION)
# The variants of a kind: another create call for an object of the same kind.
VARIANTS = (DATA_SOURCE_FROM_REDSHIFT, DATA_SOURCE_FROM_RDS)
