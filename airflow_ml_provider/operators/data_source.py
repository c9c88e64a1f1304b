"""Create an Amazon ML data source from S3, Redshift or RDS, once per task instance whatever the retries."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_ml_provider.exceptions import EntityFailedError, InvalidParameterError
from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import DATA_SOURCE, DATA_SOURCE_FROM_RDS, DATA_SOURCE_FROM_REDSHIFT
from airflow_ml_provider.operators.base import MachineLearningCreateOperator
from airflow_ml_provider.utils.validation import (
    exactly_one,
    json_document,
    optional,
    validate_entity_name,
    validate_flag,
    validate_s3_url,
    validate_string,
    validate_string_list,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

# botocore's model of CreateDataSourceFromRedshift / CreateDataSourceFromRDS.
_DATABASE_IDENTIFIER = re.compile(r"[a-z0-9-]+")  # ClusterIdentifier, InstanceIdentifier
_REDSHIFT_DATABASE_NAME = re.compile(r"[a-z0-9]+")
SELECT_SQL_QUERY_MAX_LENGTH = 16_777_216
ROLE_ARN_MAX_LENGTH = 110
DATA_SCHEMA_MAX_LENGTH = 131_071


class _DataSourceOperator(MachineLearningCreateOperator):
    """
    What every data source operator shares: its ID and name, schema, rearrangement and statistics.

    :param data_schema: The data schema, as a dict or JSON text; or give the schema's S3 URL.
        (templated)
    :param data_rearrangement: Which part of the data to use, e.g. ``{"splitting": {"percentBegin":
        0, "percentEnd": 70}}``, as a dict or JSON text. (templated)
    :param compute_statistics: Compute the statistics a data source needs to train a model.
    :param data_source_id: The data source's ID; derived when not given. (templated)
    :param data_source_name: A name for the data source. (templated)
    """

    template_fields_renderers: ClassVar[dict[str, str]] = {
        "data_schema": "json",
        "data_rearrangement": "json",
    }
    operator_extra_links = (DATA_SOURCE.link_class(),)

    def __init__(
        self,
        *,
        data_schema: dict[str, Any] | str | None = None,
        data_rearrangement: dict[str, Any] | str | None = None,
        compute_statistics: bool = False,
        data_source_id: str | None = None,
        data_source_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(id_given=data_source_id is not None, **kwargs)
        self.data_source_id = data_source_id
        self.data_source_name = data_source_name
        self.data_schema = data_schema
        self.data_rearrangement = data_rearrangement
        self.compute_statistics = compute_statistics

    def given_id(self) -> str | None:
        return self.data_source_id

    def _schema_and_rearrangement(
        self, location_field: str, location: Any, location_key: str
    ) -> dict[str, Any]:
        """The data spec's schema (inline or the S3 URL under ``location_key``) and its rearrangement."""
        exactly_one(**{"data_schema": self.data_schema, location_field: location})
        spec: dict[str, Any] = {}
        if self.data_schema is not None:
            schema = json_document("data_schema", self.data_schema)
            if len(schema or "") > DATA_SCHEMA_MAX_LENGTH:
                raise InvalidParameterError(
                    "data_schema", "...", f"must be at most {DATA_SCHEMA_MAX_LENGTH} characters long"
                )
            spec["DataSchema"] = schema
        else:
            spec[location_key] = validate_s3_url(location_field, location)
        rearrangement = json_document("data_rearrangement", self.data_rearrangement)
        if rearrangement is not None:
            spec["DataRearrangement"] = rearrangement
        return spec

    def _data_source_request(self, spec_key: str, spec: dict[str, Any], **members: Any) -> dict[str, Any]:
        return {
            **optional(DataSourceName=validate_entity_name("data_source_name", self.data_source_name)),
            spec_key: spec,
            **members,
            "ComputeStatistics": validate_flag("compute_statistics", self.compute_statistics),
        }


class CreateDataSourceFromS3Operator(_DataSourceOperator):
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

    def __init__(
        self,
        *,
        data_location_s3: str,
        data_schema_location_s3: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_location_s3 = data_location_s3
        self.data_schema_location_s3 = data_schema_location_s3

    def build_request(self) -> dict[str, Any]:
        spec = {
            "DataLocationS3": validate_s3_url("data_location_s3", self.data_location_s3),
            **self._schema_and_rearrangement(
                "data_schema_location_s3", self.data_schema_location_s3, "DataSchemaLocationS3"
            ),
        }
        return self._data_source_request("DataSpec", spec)


class _DatabaseDataSourceOperator(_DataSourceOperator):
    """
    What the Redshift and RDS data source operators share: a query whose result the service stages in S3.

    The database's login and password come only from the Airflow connection, read when the task
    runs: they are never a template field, so they are not rendered, logged, or stored with the
    task's rendered fields or in XCom, and the password is masked in the task's log.

    :param select_sql_query: The query whose result becomes the data; a path ending in ``.sql`` is
        read as a template file. (templated)
    :param s3_staging_location: S3 URL under which the service stages the query's result as CSV.
        (templated)
    :param role_arn: The IAM role the service assumes to read the database and write the staging
        location. (templated)
    :param database_name: The database to query. (templated)
    :param data_schema_uri: S3 URL of the schema file; or give ``data_schema``. (templated)
    """

    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **_DataSourceOperator.template_fields_renderers,
        "select_sql_query": "sql",
    }

    def __init__(
        self,
        *,
        select_sql_query: str,
        s3_staging_location: str,
        role_arn: str,
        database_name: str,
        data_schema_uri: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.select_sql_query = select_sql_query
        self.s3_staging_location = s3_staging_location
        self.role_arn = role_arn
        self.database_name = database_name
        self.data_schema_uri = data_schema_uri

    def _database_spec(self, database_information: dict[str, str]) -> dict[str, Any]:
        """The parts of the data spec both databases name alike, checked; the credentials come last."""
        return {
            "DatabaseInformation": database_information,
            "SelectSqlQuery": validate_string(
                "select_sql_query", self.select_sql_query, 1, SELECT_SQL_QUERY_MAX_LENGTH
            ),
            "S3StagingLocation": validate_s3_url("s3_staging_location", self.s3_staging_location),
            **self._schema_and_rearrangement("data_schema_uri", self.data_schema_uri, "DataSchemaUri"),
        }

    def _role_arn(self) -> str:
        return validate_string("role_arn", self.role_arn, 1, ROLE_ARN_MAX_LENGTH)

    def _credentials(self) -> dict[str, str]:
        """The login and password of the task's database connection."""
        raise NotImplementedError

    def execute(self, context: Context) -> str:
        with self._password_hidden():
            return super().execute(context)

    def execute_complete(self, context: Context, event: Any = None, entity_id: str | None = None) -> str:
        with self._password_hidden():
            return super().execute_complete(context, event, entity_id)

    @contextmanager
    def _password_hidden(self) -> Iterator[None]:
        """
        Keep the database password out of this task's errors, even where the service's message quotes it.

        The password is masked in this process's log (also when the task resumes after deferring); an
        error that quotes it is raised again with the password replaced.
        """
        try:
            yield
        except EntityFailedError as error:
            password = self._credentials()["Password"]
            if password not in str(error):
                raise
            message = (error.service_message or "").replace(password, "***")
            raise type(error)(self.kind.title, error.entity_id, error.status, message) from None

    @staticmethod
    def _database_credentials(conn_id_field: str, conn_id: Any, max_password: int) -> dict[str, str]:
        """The login and password of the Airflow connection ``conn_id``; errors never show the password."""
        from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

        if not isinstance(conn_id, str) or not conn_id:
            raise InvalidParameterError(conn_id_field, conn_id, "must name an Airflow connection")
        try:
            connection = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise InvalidParameterError(conn_id_field, conn_id, "no Airflow connection has this ID") from None
        password = connection.password or ""
        if password:
            _mask_secret(password)
        if not 8 <= len(password) <= max_password:
            raise InvalidParameterError(
                conn_id_field, conn_id, f"the connection's password must be 8-{max_password} characters long"
            )
        login = connection.login or ""
        if not 1 <= len(login) <= 128:
            raise InvalidParameterError(
                conn_id_field, conn_id, "the connection's login must be 1-128 characters long"
            )
        return {"Username": login, "Password": password}


class CreateDataSourceFromRedshiftOperator(_DatabaseDataSourceOperator):
    """
    Create an Amazon ML data source from the result of a query on an Amazon Redshift cluster.

    Returns the ``DataSourceId``. IDs, retries and waiting behave as for every create operator (see
    :class:`~airflow_ml_provider.operators.base.MachineLearningCreateOperator`); the database's
    credentials are the login and password of ``redshift_conn_id``.

    :param cluster_identifier: The Redshift cluster, e.g. ``analytics``. (templated)
    :param database_name: The database on the cluster (lower-case letters and digits). (templated)
    :param select_sql_query: The query whose result becomes the data, or a ``.sql`` file. (templated)
    :param s3_staging_location: S3 URL under which the query's result is staged. (templated)
    :param role_arn: The IAM role Amazon ML assumes to unload from the cluster. (templated)
    :param redshift_conn_id: The Airflow connection holding the database's login and password.
    :param data_schema: The data schema, as a dict or JSON text; or give ``data_schema_uri``. (templated)
    :param data_schema_uri: S3 URL of the schema file. (templated)
    :param data_rearrangement: Which part of the data to use, as a dict or JSON text. (templated)
    :param compute_statistics: Compute the statistics a data source needs to train a model.
    :param data_source_id: The data source's ID; derived when not given. (templated)
    :param data_source_name: A name for the data source. (templated)
    """

    kind = DATA_SOURCE_FROM_REDSHIFT
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "tags",
        "data_source_id",
        "data_source_name",
        "cluster_identifier",
        "database_name",
        "select_sql_query",
        "s3_staging_location",
        "role_arn",
        "data_schema",
        "data_schema_uri",
        "data_rearrangement",
    )

    def __init__(
        self, *, cluster_identifier: str, redshift_conn_id: str = "redshift_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_identifier = cluster_identifier
        self.redshift_conn_id = redshift_conn_id

    def _credentials(self) -> dict[str, str]:
        return self._database_credentials("redshift_conn_id", self.redshift_conn_id, max_password=64)

    def build_request(self) -> dict[str, Any]:
        spec = self._database_spec(
            {
                "DatabaseName": validate_string(
                    "database_name", self.database_name, 1, 64, _REDSHIFT_DATABASE_NAME
                ),
                "ClusterIdentifier": validate_string(
                    "cluster_identifier", self.cluster_identifier, 1, 63, _DATABASE_IDENTIFIER
                ),
            }
        )
        role_arn = self._role_arn()
        spec["DatabaseCredentials"] = self._credentials()
        return self._data_source_request("DataSpec", spec, RoleARN=role_arn)


class CreateDataSourceFromRDSOperator(_DatabaseDataSourceOperator):
    """
    Create an Amazon ML data source from the result of a query on an Amazon RDS MySQL instance.

    Returns the ``DataSourceId``. IDs, retries and waiting behave as for every create operator (see
    :class:`~airflow_ml_provider.operators.base.MachineLearningCreateOperator`); the database's
    credentials are the login and password of ``rds_conn_id``. The service copies the data with an
    AWS Data Pipeline, which runs with ``resource_role`` and ``service_role`` in ``subnet_id``.

    :param instance_identifier: The RDS instance, e.g. ``orders-db``. (templated)
    :param database_name: The database on the instance. (templated)
    :param select_sql_query: The query whose result becomes the data, or a ``.sql`` file. (templated)
    :param s3_staging_location: S3 URL under which the query's result is staged. (templated)
    :param role_arn: The IAM role Amazon ML assumes to create the pipeline. (templated)
    :param resource_role: The Data Pipeline resource role (an instance profile name). (templated)
    :param service_role: The Data Pipeline service role. (templated)
    :param subnet_id: The subnet the copy runs in, e.g. ``subnet-0abc``. (templated)
    :param security_group_ids: Security groups that may reach the instance. (templated)
    :param rds_conn_id: The Airflow connection holding the database's login and password.
    :param data_schema: The data schema, as a dict or JSON text; or give ``data_schema_uri``. (templated)
    :param data_schema_uri: S3 URL of the schema file. (templated)
    :param data_rearrangement: Which part of the data to use, as a dict or JSON text. (templated)
    :param compute_statistics: Compute the statistics a data source needs to train a model.
    :param data_source_id: The data source's ID; derived when not given. (templated)
    :param data_source_name: A name for the data source. (templated)
    """

    kind = DATA_SOURCE_FROM_RDS
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "tags",
        "data_source_id",
        "data_source_name",
        "instance_identifier",
        "database_name",
        "select_sql_query",
        "s3_staging_location",
        "role_arn",
        "resource_role",
        "service_role",
        "subnet_id",
        "security_group_ids",
        "data_schema",
        "data_schema_uri",
        "data_rearrangement",
    )

    def __init__(
        self,
        *,
        instance_identifier: str,
        resource_role: str,
        service_role: str,
        subnet_id: str,
        security_group_ids: list[str],
        rds_conn_id: str = "rds_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.instance_identifier = instance_identifier
        self.resource_role = resource_role
        self.service_role = service_role
        self.subnet_id = subnet_id
        self.security_group_ids = security_group_ids
        self.rds_conn_id = rds_conn_id

    def _credentials(self) -> dict[str, str]:
        return self._database_credentials("rds_conn_id", self.rds_conn_id, max_password=128)

    def build_request(self) -> dict[str, Any]:
        spec = self._database_spec(
            {
                "InstanceIdentifier": validate_string(
                    "instance_identifier", self.instance_identifier, 1, 63, _DATABASE_IDENTIFIER
                ),
                "DatabaseName": validate_string("database_name", self.database_name, 1, 64),
            }
        )
        spec.update(
            ResourceRole=validate_string("resource_role", self.resource_role, 1, 64),
            ServiceRole=validate_string("service_role", self.service_role, 1, 64),
            SubnetId=validate_string("subnet_id", self.subnet_id, 1, 255),
            SecurityGroupIds=validate_string_list("security_group_ids", self.security_group_ids, 1, 255),
        )
        role_arn = self._role_arn()
        spec["DatabaseCredentials"] = self._credentials()
        return self._data_source_request("RDSData", spec, RoleARN=role_arn)


def _mask_secret(secret: str) -> None:
    """Have Airflow's secrets masker hide ``secret`` in every log line and rendered field."""
    try:
        from airflow.providers.common.compat.sdk import mask_secret
    except ImportError:
        # common-compat has it from 1.22, which needs Python 3.11: before, Airflow 3's masker, then Airflow 2's.
        try:
            from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
        except ImportError:
            from airflow.utils.log.secrets_masker import (  # type: ignore[import-not-found,no-redef]
                mask_secret,
            )
    mask_secret(secret)
