"""Apache Airflow provider for Amazon Machine Learning batch predictions.

Airflow's provider manager imports this package while Airflow itself is still starting, so
nothing here may import ``airflow.sdk``, boto3 or the operator modules eagerly.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_LAZY_ATTRIBUTES = {
    "MachineLearningHook": "airflow_ml_provider.hooks.machine_learning",
    "CreateBatchPredictionOperator": "airflow_ml_provider.operators.batch_prediction",
    "CreateDataSourceFromS3Operator": "airflow_ml_provider.operators.data_source",
    "CreateDataSourceFromRedshiftOperator": "airflow_ml_provider.operators.data_source",
    "CreateDataSourceFromRDSOperator": "airflow_ml_provider.operators.data_source",
    "CreateMLModelOperator": "airflow_ml_provider.operators.ml_model",
    "UpdateMLModelScoreThresholdOperator": "airflow_ml_provider.operators.ml_model",
    "CreateEvaluationOperator": "airflow_ml_provider.operators.evaluation",
    "CreateRealtimeEndpointOperator": "airflow_ml_provider.operators.realtime_endpoint",
    "DeleteRealtimeEndpointOperator": "airflow_ml_provider.operators.realtime_endpoint",
    "BatchPredictionSensor": "airflow_ml_provider.sensors.batch_prediction",
    "DataSourceSensor": "airflow_ml_provider.sensors.data_source",
    "MLModelSensor": "airflow_ml_provider.sensors.ml_model",
    "EvaluationSensor": "airflow_ml_provider.sensors.evaluation",
    "BatchPredictionTrigger": "airflow_ml_provider.triggers.batch_prediction",
    "DataSourceTrigger": "airflow_ml_provider.triggers.data_source",
    "MLModelTrigger": "airflow_ml_provider.triggers.ml_model",
    "EvaluationTrigger": "airflow_ml_provider.triggers.evaluation",
}

if TYPE_CHECKING:
    from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
    from airflow_ml_provider.operators.batch_prediction import CreateBatchPredictionOperator
    from airflow_ml_provider.operators.data_source import (
        CreateDataSourceFromRDSOperator,
        CreateDataSourceFromRedshiftOperator,
        CreateDataSourceFromS3Operator,
    )
    from airflow_ml_provider.operators.evaluation import CreateEvaluationOperator
    from airflow_ml_provider.operators.ml_model import (
        CreateMLModelOperator,
        UpdateMLModelScoreThresholdOperator,
    )
    from airflow_ml_provider.operators.realtime_endpoint import (
        CreateRealtimeEndpointOperator,
        DeleteRealtimeEndpointOperator,
    )
    from airflow_ml_provider.sensors.batch_prediction import BatchPredictionSensor
    from airflow_ml_provider.sensors.data_source import DataSourceSensor
    from airflow_ml_provider.sensors.evaluation import EvaluationSensor
    from airflow_ml_provider.sensors.ml_model import MLModelSensor
    from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
    from airflow_ml_provider.triggers.data_source import DataSourceTrigger
    from airflow_ml_provider.triggers.evaluation import EvaluationTrigger
    from airflow_ml_provider.triggers.ml_model import MLModelTrigger

__all__ = [
    "BatchPredictionSensor",
    "BatchPredictionTrigger",
    "CreateBatchPredictionOperator",
    "CreateDataSourceFromRDSOperator",
    "CreateDataSourceFromRedshiftOperator",
    "CreateDataSourceFromS3Operator",
    "CreateEvaluationOperator",
    "CreateMLModelOperator",
    "CreateRealtimeEndpointOperator",
    "DataSourceSensor",
    "DataSourceTrigger",
    "DeleteRealtimeEndpointOperator",
    "EvaluationSensor",
    "EvaluationTrigger",
    "MLModelSensor",
    "MLModelTrigger",
    "MachineLearningHook",
    "UpdateMLModelScoreThresholdOperator",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRIBUTES:
        return getattr(import_module(_LAZY_ATTRIBUTES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
