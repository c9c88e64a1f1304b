"""The asynchronous wait for one data source, run by the triggerer."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.kinds import DATA_SOURCE
from airflow_ml_provider.triggers.base import MachineLearningEntityTrigger


class DataSourceTrigger(MachineLearningEntityTrigger):
    """
    Wait until a data source is ready; yield one event whose ``status`` says how it ended.

    See :class:`~airflow_ml_provider.triggers.base.MachineLearningEntityTrigger` for the event and
    the other parameters.

    :param data_source_id: The data source to wait for.
    """

    kind = DATA_SOURCE

    def __init__(self, *, data_source_id: str, **kwargs: Any) -> None:
        super().__init__(entity_id=data_source_id, **kwargs)
