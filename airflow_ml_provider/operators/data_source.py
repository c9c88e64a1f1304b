"""Create an Amazon ML data source from S3, once per task instance whatever the retries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import DATA_SOURCE
from airflow_ml_provider.operators.base import MachineLearningCreateOperator
from airflow_ml_provider.utils.validation import (
    exactly_one,
    json_document,
    optional,
    validate_entity_name,
    validate_s3_url,
)


class CreateDataSourceFromS3Operator(MachineLearningCreateOperator):
    """
    Create an Amazon ML data source over CSV data in S3; returns the ``DataSourceId``.

    IDs, retries and waiting behave as for every create operator (see
    :class:`~airflow_ml_provider.operators.base.MachineLearningCreateOperator`): without an explicit
    ``data_source_id`` a retry reattaches to the data source an earlier try created.

    :param data_location_s3: S3 URL of the data file, or of a prefix holding several. (templated)
    :param data_schema: The data schema, as a dict or JSON text; or give ``data_schema_location_s3``.
        (templated)
    :param data_schema_location_s3: S3 URL of the schema file. (templated)
    :param data_rearrangement: Which part of the data to use, e.g. ``{"splitting": {"percentBegin":
        0, "percentEnd": 70}}``, as a dict or JSON text. (templated)
    :param compute_statistics: Compute the statistics a data source needs to train a model.
    :param data_source_id: The data source's ID; derived when not given. (templated)
    :param data_source_name: A name for the data source. (templated)
    """

    kind = DATA_SOURCE
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "tags",
        "data_source_id",
        "data_source_name",
        "data_location_s3",
        "data_schema",
        "data_schema_location_s3",
        "data_rearrangement",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "data_schema": "json",
        "data_rearrangement": "json",
    }
    operator_extra_links = (DATA_SOURCE.link_class(),)

    def __init__(
        self,
        *,
        data_location_s3: str,
        data_schema: dict[str, Any] | str | None = None,
        data_schema_location_s3: str | None = None,
        data_rearrangement: dict[str, Any] | str | None = None,
        compute_statistics: bool = False,
        data_source_id: str | None = None,
        data_source_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(id_given=data_source_id is not None, **kwargs)
        self.data_source_id = data_source_id
        self.data_source_name = data_source_name
        self.data_location_s3 = data_location_s3
        self.data_schema = data_schema
        self.data_schema_location_s3 = data_schema_location_s3
        self.data_rearrangement = data_rearrangement
        self.compute_statistics = compute_statistics

    def given_id(self) -> str | None:
        return self.data_source_id

    def build_request(self) -> dict[str, Any]:
        exactly_one(data_schema=self.data_schema, data_schema_location_s3=self.data_schema_location_s3)
        spec: dict[str, Any] = {"DataLocationS3": validate_s3_url("data_location_s3", self.data_location_s3)}
        if self.data_schema is not None:
            spec["DataSchema"] = json_document("data_schema", self.data_schema)
        else:
            spec["DataSchemaLocationS3"] = validate_s3_url(
                "data_schema_location_s3", self.data_schema_location_s3
            )
        rearrangement = json_document("data_rearrangement", self.data_rearrangement)
        if rearrangement is not None:
            spec["DataRearrangement"] = rearrangement
        return {
            **optional(DataSourceName=validate_entity_name("data_source_name", self.data_source_name)),
            "DataSpec": spec,
            "ComputeStatistics": bool(self.compute_statistics),
        }
