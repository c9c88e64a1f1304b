"""What Airflow's provider manager reads about this package; imports nothing heavy."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider import __version__
from airflow_ml_provider.kinds import KINDS

INTEGRATION = "Amazon Machine Learning"
# Real-time endpoints belong to a model: they are no kind of object of their own.
ENDPOINT_OPERATORS = [
    "airflow_ml_provider.operators.realtime_endpoint.CreateRealtimeEndpointOperator",
    "airflow_ml_provider.operators.realtime_endpoint.DeleteRealtimeEndpointOperator",
]

# Paths in this repository, as the Amazon provider names its guides in Airflow's.
HOW_TO_GUIDES = [
    "/docs/howto/batch-prediction.md",
    "/docs/howto/data-source.md",
    "/docs/howto/database-data-source.md",
    "/docs/howto/ml-model.md",
    "/docs/howto/evaluation.md",
    "/docs/howto/realtime-endpoint.md",
]


def _modules(paths: list[str]) -> list[str]:
    """The modules of these import paths of classes, once each, in order."""
    return list(dict.fromkeys(path.rpartition(".")[0] for path in paths))


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's provider manager."""
    return {
        "package-name": "airflow-ml-provider",
        "name": "Amazon Machine Learning",
        "description": "Amazon Machine Learning: data sources, models, evaluations, batch predictions and real-time endpoints.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.aws.amazon.com/machine-learning/latest/dg/",
                "logo": "/docs/images/integration-logo.svg",
                "how-to-guide": HOW_TO_GUIDES,
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_ml_provider.hooks.machine_learning"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": _modules([*(kind.operator for kind in KINDS), *ENDPOINT_OPERATORS]),
            }
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": _modules([kind.sensor for kind in KINDS])}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": _modules([kind.trigger for kind in KINDS])}
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
        "extra-links": [kind.link for kind in KINDS],
    }
