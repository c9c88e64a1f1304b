"""A local Amazon Machine Learning service speaking the real wire protocol, with moto's S3 beside it.

``Emulator`` runs it in-process; ``EmulatorClient`` drives one in another process through its admin routes
(listed in :mod:`airflow_ml_provider.emulator.server`); ``python -m airflow_ml_provider.emulator`` runs one.
"""

from airflow_ml_provider.emulator.client import EmulatorClient, EmulatorClientError
from airflow_ml_provider.emulator.controls import EmulatorConfig
from airflow_ml_provider.emulator.server import Emulator

__all__ = ["Emulator", "EmulatorClient", "EmulatorClientError", "EmulatorConfig"]
