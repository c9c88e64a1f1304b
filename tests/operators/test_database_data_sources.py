"""Data sources from Redshift (PostgreSQL) and RDS (MariaDB): same IDs, retries and checks as from S3."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from airflow_ml_provider import CreateDataSourceFromRDSOperator, CreateDataSourceFromRedshiftOperator
from airflow_ml_provider.exceptions import InvalidParameterError, ServiceRejectedError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from amazon_ml_emulator.datasets import TINY_SCHEMA
from tests.conftest import BUCKET
from tests.databases import DATABASE, PASSWORD, USER
from tests.runtime import context_for, worker_dies

WAIT = {"wait_for_completion": True, "deferrable": False, "waiter_delay": 0.1, "waiter_max_attempts": 600}
ROLE_ARN = "arn:aws:iam::123456789012:role/AmazonMLRole"
QUERY = "SELECT x, label FROM observations WHERE x IS NOT NULL ORDER BY x"


def connection(login: str = USER, password: str = PASSWORD) -> str:
    # The host is not used: the service reaches the database by its cluster or instance identifier.
    return json.dumps({"conn_type": "generic", "login": login, "password": password})


@pytest.fixture
def databases(emulator, redshift, rds, s3_client, monkeypatch):
    """The emulator reaches the test servers as cluster ``analytics`` and instance ``orders-db``."""
    emulator.configure(
        redshift_clusters={"analytics": redshift.address}, rds_instances={"orders-db": rds.address}
    )
    monkeypatch.setenv("AIRFLOW_CONN_REDSHIFT_DEFAULT", connection())
    monkeypatch.setenv("AIRFLOW_CONN_RDS_DEFAULT", connection())
    yield emulator
    emulator.configure(redshift_clusters={}, rds_instances={})


def redshift_arguments(**changes: Any) -> dict[str, Any]:
    return {
        "task_id": "from_redshift",
        "cluster_identifier": "analytics",
        "database_name": DATABASE,
        "select_sql_query": QUERY,
        "s3_staging_location": f"s3://{BUCKET}/staging/",
        "role_arn": ROLE_ARN,
        "data_schema": TINY_SCHEMA,
        "compute_statistics": True,
        **WAIT,
        **changes,
    }


def rds_arguments(**changes: Any) -> dict[str, Any]:
    return {
        "task_id": "from_rds",
        "instance_identifier": "orders-db",
        "database_name": DATABASE,
        "select_sql_query": QUERY,
        "s3_staging_location": f"s3://{BUCKET}/staging/",
        "role_arn": ROLE_ARN,
        "resource_role": "DataPipelineDefaultResourceRole",
        "service_role": "DataPipelineDefaultRole",
        "subnet_id": "subnet-0abc",
        "security_group_ids": ["sg-0abc"],
        "data_schema": TINY_SCHEMA,
        **WAIT,
        **changes,
    }


def run_context():
    return context_for(dag_id="databases", task_id="task", run_id=f"manual__{uuid.uuid4().hex}")


@pytest.mark.parametrize(
    ("operator_class", "arguments", "operation", "metadata"),
    [
        (
            CreateDataSourceFromRedshiftOperator,
            redshift_arguments(),
            "CreateDataSourceFromRedshift",
            {
                "RedshiftDatabase": {"DatabaseName": DATABASE, "ClusterIdentifier": "analytics"},
                "DatabaseUserName": USER,
                "SelectSqlQuery": QUERY,
            },
        ),
        (
            CreateDataSourceFromRDSOperator,
            rds_arguments(),
            "CreateDataSourceFromRDS",
            {
                "Database": {"InstanceIdentifier": "orders-db", "DatabaseName": DATABASE},
                "DatabaseUserName": USER,
                "SelectSqlQuery": QUERY,
                "ResourceRole": "DataPipelineDefaultResourceRole",
                "ServiceRole": "DataPipelineDefaultRole",
            },
        ),
    ],
    ids=["redshift", "rds"],
)
def test_a_database_data_source_is_created_once_and_a_retry_reattaches(
    databases, operator_class, arguments, operation, metadata
):
    context = run_context()
    databases.reset_call_counts()
    first_try = operator_class(**arguments)
    first_try.hook.mark_succeeded = worker_dies
    with pytest.raises(SystemExit):
        first_try.execute(context)
    first = context["ti"].xcoms["ml_data_source"]["entity_id"]
    again = operator_class(**arguments).execute(run_context() | {"ti": context["ti"]})
    description = MachineLearningHook().get(operator_class.kind, first)

    assert again == first
    assert databases.call_counts()[operation] == 1
    assert description["Status"] == "COMPLETED"
    reported = dict(description[f"{operation.removeprefix('CreateDataSourceFrom')}Metadata"])
    reported.pop("DataPipelineId", None)  # RDS only, chosen by the service
    assert reported == metadata  # the provider reads data sources Verbose, which shows the query
    assert description["RoleARN"] == ROLE_ARN
    assert PASSWORD not in json.dumps(description)


def test_a_retry_with_another_query_names_the_difference(databases):
    context = run_context()
    first_try = CreateDataSourceFromRedshiftOperator(**redshift_arguments(wait_for_completion=False))
    first_try.hook.mark_succeeded = worker_dies
    with pytest.raises(SystemExit):
        first_try.execute(context)
    changed = CreateDataSourceFromRedshiftOperator(
        **redshift_arguments(select_sql_query="SELECT x, label FROM observations")
    )
    with pytest.raises(ServiceRejectedError, match="SelectSqlQuery was") as error:
        changed.execute(run_context() | {"ti": context["ti"]})
    assert error.value.code == "IdempotentParameterMismatchException"


def test_a_failing_query_fails_the_task_with_the_databases_message(databases):
    from airflow_ml_provider.exceptions import DataSourceFailedError

    operator = CreateDataSourceFromRDSOperator(**rds_arguments(select_sql_query="SELECT * FROM missing"))
    with pytest.raises(DataSourceFailedError, match="missing' doesn't exist"):
        operator.execute(run_context())


@pytest.mark.parametrize(
    ("operator_class", "changes", "field", "rule"),
    [
        (
            CreateDataSourceFromRedshiftOperator,
            {"cluster_identifier": "Analytics"},
            "cluster_identifier",
            "[a-z0-9-]+",
        ),
        (CreateDataSourceFromRedshiftOperator, {"database_name": "ware_house"}, "database_name", "[a-z0-9]+"),
        (CreateDataSourceFromRedshiftOperator, {"select_sql_query": ""}, "select_sql_query", "1-16777216"),
        (CreateDataSourceFromRedshiftOperator, {"role_arn": "r" * 111}, "role_arn", "1-110"),
        (
            CreateDataSourceFromRedshiftOperator,
            {"s3_staging_location": "/tmp/x"},
            "s3_staging_location",
            "S3 URL",
        ),
        (
            CreateDataSourceFromRedshiftOperator,
            {"data_schema_uri": f"s3://{BUCKET}/schema.json"},
            "data_schema or data_schema_uri",
            "exactly one",
        ),
        (
            CreateDataSourceFromRedshiftOperator,
            {"redshift_conn_id": "nowhere"},
            "redshift_conn_id",
            "no Airflow",
        ),
        (
            CreateDataSourceFromRDSOperator,
            {"instance_identifier": "orders_db"},
            "instance_identifier",
            "[a-z0-9-]+",
        ),
        (CreateDataSourceFromRDSOperator, {"security_group_ids": "sg-0abc"}, "security_group_ids", "list"),
        (CreateDataSourceFromRDSOperator, {"resource_role": "r" * 65}, "resource_role", "1-64"),
        (CreateDataSourceFromRDSOperator, {"subnet_id": ""}, "subnet_id", "1-255"),
        (CreateDataSourceFromRDSOperator, {"data_rearrangement": "[]"}, "data_rearrangement", "JSON object"),
    ],
)
def test_database_parameters_are_checked_before_any_call(databases, operator_class, changes, field, rule):
    arguments = (
        redshift_arguments if operator_class is CreateDataSourceFromRedshiftOperator else rds_arguments
    )
    databases.reset_call_counts()
    with pytest.raises(InvalidParameterError, match=rule) as error:
        operator_class(**arguments(**changes)).execute(run_context())
    assert error.value.field == field
    assert databases.call_counts() == {}


@pytest.mark.parametrize(
    ("operator_class", "variable", "password", "rule"),
    [
        (CreateDataSourceFromRedshiftOperator, "AIRFLOW_CONN_REDSHIFT_DEFAULT", "short", "8-64"),
        (CreateDataSourceFromRedshiftOperator, "AIRFLOW_CONN_REDSHIFT_DEFAULT", "p" * 65, "8-64"),
        (CreateDataSourceFromRDSOperator, "AIRFLOW_CONN_RDS_DEFAULT", "q" * 129, "8-128"),
    ],
)
def test_a_password_the_service_would_refuse_is_named_by_its_connection_never_shown(
    databases, monkeypatch, operator_class, variable, password, rule
):
    monkeypatch.setenv(variable, connection(password=password))
    arguments = (
        redshift_arguments() if operator_class is CreateDataSourceFromRedshiftOperator else rds_arguments()
    )
    databases.reset_call_counts()
    with pytest.raises(InvalidParameterError, match=rule) as error:
        operator_class(**arguments).execute(run_context())
    assert password not in str(error.value)
    assert databases.call_counts() == {}


def test_the_password_is_not_a_template_field_and_the_query_reads_sql_files():
    for operator_class in (CreateDataSourceFromRedshiftOperator, CreateDataSourceFromRDSOperator):
        assert not any(
            word in field for field in operator_class.template_fields for word in ("password", "login")
        )
        assert "select_sql_query" in operator_class.template_fields
        assert operator_class.template_ext == (".sql",)
