"""What Airflow's provider manager reads about this package; imports nothing heavy."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's provider manager."""
    return {
        "package-name": "airflow-ml-provider",
        "name": "Amazon Machine Learning",
        "description": "Amazon Machine Learning: data sources, models, evaluations, batch predictions and real-time endpoints.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Amazon Machine Learning",
                "external-doc-url": "https://docs.aws.amazon.com/machine-learning/latest/dg/",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Amazon Machine Learning",
                "python-modules": ["airflow_ml_provider.hooks.machine_learning"],
            }
        ],
        "operators": [
            {
                "integration-name": "Amazon Machine Learning",
                "python-modules": [
                    "airflow_ml_provider.operators.batch_prediction",
                    "airflow_ml_provider.operators.data_source",
                    "airflow_ml_provider.operators.ml_model",
                    "airflow_ml_provider.operators.evaluation",
                    "airflow_ml_provider.operators.realtime_endpoint",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Amazon Machine Learning",
                "python-modules": [
                    "airflow_ml_provider.sensors.batch_prediction",
                    "airflow_ml_provider.sensors.data_source",
                    "airflow_ml_provider.sensors.ml_model",
                    "airflow_ml_provider.sensors.evaluation",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Amazon Machine Learning",
                "python-modules": [
                    "airflow_ml_provider.triggers.batch_prediction",
                    "airflow_ml_provider.triggers.data_source",
                    "airflow_ml_provider.triggers.ml_model",
                    "airflow_ml_provider.triggers.evaluation",
                ],
            }
        ],
        "config": {
            "amazon_ml": {
                "description": "Settings of the Amazon Machine Learning provider.",
                "options": {
                    "id_namespace": {
                        "description": (
                            "Enters the IDs the create operators derive for their objects, so that two "
                            "Airflow deployments on one AWS account (staging and production, whose run IDs "
                            "coincide) never share an object. Empty keeps the IDs of earlier releases."
                        ),
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "production",
                        "default": "",
                    }
                },
            }
        },
        "extra-links": [
            f"airflow_ml_provider.links.machine_learning.{link}"
            for link in ("BatchPredictionLink", "DataSourceLink", "MLModelLink", "EvaluationLink")
        ],
    }
