"""Wait for an Amazon Machine Learning data source to be ready, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import DATA_SOURCE
from airflow_ml_provider.sensors.base import MachineLearningEntitySensor


class DataSourceSensor(MachineLearningEntitySensor):
    """
    Wait until an Amazon ML data source is ``COMPLETED``; returns its ``GetDataSource`` response.

    See :class:`~airflow_ml_provider.sensors.base.MachineLearningEntitySensor` for the other
    parameters and the failure behaviour.

    :param data_source_id: The data source to wait for. (templated)
    """

    kind = DATA_SOURCE
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "data_source_id")

    def __init__(self, *, data_source_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_source_id = data_source_id

    @property
    def entity_id(self) -> str:
        return self.data_source_id
