"""Redshift and RDS data sources on real databases: PostgreSQL stands in for Redshift, MariaDB for RDS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from amazon_ml_emulator import Emulator
from amazon_ml_emulator.datasets import TINY_SCHEMA
from tests.databases import DATABASE, PASSWORD, USER, DatabaseServer

from .helpers import BUCKET, new_id

ROLE_ARN = "arn:aws:iam::123456789012:role/AmazonMLRole"
QUERY = "SELECT x, label FROM observations ORDER BY x"
STAGING = f"s3://{BUCKET}/staging/"


@pytest.fixture
def databases(emulator: Emulator, redshift: DatabaseServer, rds: DatabaseServer) -> Iterator[None]:
    emulator.configure(
        redshift_clusters={"analytics": redshift.address}, rds_instances={"orders-db": rds.address}
    )
    yield
    emulator.configure(redshift_clusters={}, rds_instances={})


def redshift_spec(**changes: Any) -> dict[str, Any]:
    spec = {
        "DatabaseInformation": {"DatabaseName": DATABASE, "ClusterIdentifier": "analytics"},
        "SelectSqlQuery": QUERY,
        "DatabaseCredentials": {"Username": USER, "Password": PASSWORD},
        "S3StagingLocation": STAGING,
        "DataSchema": TINY_SCHEMA,
    }
    # None removes a member.
    return {key: value for key, value in {**spec, **changes}.items() if value is not None}


def rds_spec(**changes: Any) -> dict[str, Any]:
    spec = {
        "DatabaseInformation": {"InstanceIdentifier": "orders-db", "DatabaseName": DATABASE},
        "SelectSqlQuery": QUERY,
        "DatabaseCredentials": {"Username": USER, "Password": PASSWORD},
        "S3StagingLocation": STAGING,
        "DataSchema": TINY_SCHEMA,
        "ResourceRole": "DataPipelineDefaultResourceRole",
        "ServiceRole": "DataPipelineDefaultRole",
        "SubnetId": "subnet-0abc",
        "SecurityGroupIds": ["sg-0abc"],
    }
    # None removes a member.
    return {key: value for key, value in {**spec, **changes}.items() if value is not None}


def from_redshift(ml, **changes: Any) -> str:
    data_source_id = new_id("redshift")
    ml.create_data_source_from_redshift(
        DataSourceId=data_source_id,
        DataSpec=redshift_spec(**changes),
        RoleARN=ROLE_ARN,
        ComputeStatistics=True,
    )
    return data_source_id


def from_rds(ml, **changes: Any) -> str:
    data_source_id = new_id("rds")
    ml.create_data_source_from_rds(
        DataSourceId=data_source_id, RDSData=rds_spec(**changes), RoleARN=ROLE_ARN, ComputeStatistics=True
    )
    return data_source_id


def test_a_redshift_data_source_stages_the_query_result_and_trains_a_model(ml, pipeline, s3, databases):
    data_source_id = from_redshift(ml)
    done = pipeline.wait_data_source(data_source_id)
    staged = s3.get_object(Bucket=BUCKET, Key=f"staging/{data_source_id}/{data_source_id}.csv")["Body"].read()
    ml_model_id = pipeline.ml_model(data_source_id)

    assert done["Status"] == "COMPLETED", done.get("Message")
    assert done["DataLocationS3"] == f"{STAGING}{data_source_id}/"
    assert done["RedshiftMetadata"] == {
        "RedshiftDatabase": {"DatabaseName": DATABASE, "ClusterIdentifier": "analytics"},
        "DatabaseUserName": USER,
    }
    assert done["RoleARN"] == ROLE_ARN
    assert staged.decode().splitlines()[:3] == ["x,label", "0.0,0", "1.0,0"]
    assert staged.decode().splitlines()[-1] == ",1"  # NULL is a missing value
    verbose = ml.get_data_source(DataSourceId=data_source_id, Verbose=True)
    assert json.loads(verbose["DataSourceSchema"])
    assert verbose["RedshiftMetadata"]["SelectSqlQuery"] == QUERY
    listed = ml.describe_data_sources(FilterVariable="DataLocationS3", EQ=done["DataLocationS3"])["Results"]
    assert [source["RedshiftMetadata"] for source in listed] == [done["RedshiftMetadata"]]  # no query
    assert pipeline.wait_ml_model(ml_model_id)["Status"] == "COMPLETED"


def test_an_rds_data_source_reads_mariadb_and_its_records_are_scored(ml, pipeline, tiny, databases):
    data_source_id = from_rds(ml, SelectSqlQuery="SELECT x, label FROM observations WHERE x IS NOT NULL")
    done = pipeline.wait_data_source(data_source_id)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], data_source_id)

    assert done["Status"] == "COMPLETED", done.get("Message")
    pipeline_id = done["RDSMetadata"].pop("DataPipelineId")
    assert done["RDSMetadata"] == {
        "Database": {"InstanceIdentifier": "orders-db", "DatabaseName": DATABASE},
        "DatabaseUserName": USER,
        "ResourceRole": "DataPipelineDefaultResourceRole",
        "ServiceRole": "DataPipelineDefaultRole",
    }
    assert re.fullmatch(r"df-[0-9A-Z]{20}", pipeline_id)
    verbose = ml.get_data_source(DataSourceId=data_source_id, Verbose=True)["RDSMetadata"]
    assert verbose["SelectSqlQuery"] == "SELECT x, label FROM observations WHERE x IS NOT NULL"
    assert verbose["DataPipelineId"] == pipeline_id
    predicted = pipeline.wait_batch_prediction(batch_prediction_id)
    assert (predicted["Status"], predicted["TotalRecordCount"]) == ("COMPLETED", 12)


def test_a_redshift_data_source_without_a_schema_infers_one_from_the_query_result(
    ml, pipeline, tiny, s3, databases
):
    # "(Optional) The location of the Amazon ML schema" (Developer Guide, Redshift datasource parameters).
    data_source_id = from_redshift(ml, DataSchema=None)
    done = pipeline.wait_data_source(data_source_id)
    schema = json.loads(ml.get_data_source(DataSourceId=data_source_id, Verbose=True)["DataSourceSchema"])
    staged = s3.get_object(Bucket=BUCKET, Key=f"staging/{data_source_id}/{data_source_id}.csv")["Body"].read()
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], data_source_id)

    assert done["Status"] == "COMPLETED", done.get("Message")
    assert schema == {
        "version": "1.0",
        "dataFormat": "CSV",
        "dataFileContainsHeader": True,
        "attributes": [
            {"attributeName": "x", "attributeType": "NUMERIC"},
            {"attributeName": "label", "attributeType": "NUMERIC"},
        ],
    }
    assert staged.decode().splitlines()[0] == "x,label"
    assert pipeline.wait_batch_prediction(batch_prediction_id)["Status"] == "COMPLETED"


def test_no_answer_ever_shows_the_database_password(ml, pipeline, databases):
    data_source_ids = [from_redshift(ml), from_rds(ml)]
    for data_source_id in data_source_ids:
        pipeline.wait_data_source(data_source_id)
    answers = [
        ml.get_data_source(DataSourceId=data_source_id, Verbose=True) for data_source_id in data_source_ids
    ]
    answers.append(ml.describe_data_sources(FilterVariable="DataLocationS3", Prefix=STAGING))

    assert len(answers[-1]["Results"]) >= 2
    assert PASSWORD not in json.dumps(answers, default=str)


@pytest.mark.parametrize(
    ("create", "changes", "message"),
    [
        (
            from_redshift,
            {"DatabaseCredentials": {"Username": USER, "Password": "wrong-password"}},
            f'password authentication failed for user "{USER}"',
        ),
        (
            from_rds,
            {"DatabaseCredentials": {"Username": USER, "Password": "wrong-password"}},
            f"(1045) Access denied for user '{USER}'@'localhost' (using password: YES)",
        ),
        (
            from_redshift,
            {"DatabaseInformation": {"DatabaseName": DATABASE, "ClusterIdentifier": "nowhere"}},
            "Redshift cluster 'nowhere' not found",
        ),
        (from_redshift, {"SelectSqlQuery": "SELECT * FROM missing"}, 'relation "missing" does not exist'),
        (from_rds, {"SelectSqlQuery": "SELECT * FROM missing"}, f"Table '{DATABASE}.missing' doesn't exist"),
        (
            from_rds,
            {"SelectSqlQuery": "SELECT x FROM observations"},
            "returns 1 columns but the DataSchema has 2",
        ),
    ],
    ids=[
        "redshift-credentials",
        "rds-credentials",
        "unknown-cluster",
        "redshift-query",
        "rds-query",
        "columns",
    ],
)
def test_database_failures_fail_the_data_source_with_the_databases_message(
    ml, pipeline, databases, create, changes, message
):
    failed = pipeline.wait_data_source(create(ml, **changes))

    assert failed["Status"] == "FAILED"
    assert message in failed["Message"]
    assert "wrong-password" not in failed["Message"]


@pytest.mark.parametrize(
    ("create", "changes", "message"),
    [
        (
            from_redshift,
            {"DatabaseInformation": {"DatabaseName": DATABASE, "ClusterIdentifier": "Analytics_1"}},
            "DataSpec.DatabaseInformation.ClusterIdentifier 'Analytics_1': must match the pattern [a-z0-9-]+",
        ),
        (
            from_redshift,
            {"DatabaseInformation": {"DatabaseName": "ware-house", "ClusterIdentifier": "analytics"}},
            "DataSpec.DatabaseInformation.DatabaseName 'ware-house': must match the pattern [a-z0-9]+",
        ),
        (
            from_redshift,
            {"DatabaseCredentials": {"Username": USER, "Password": "p" * 65}},
            "DataSpec.DatabaseCredentials.Password: must be 8 to 64 characters long",
        ),
        (
            from_rds,
            {"DatabaseCredentials": {"Username": USER, "Password": "p" * 129}},
            "RDSData.DatabaseCredentials.Password: must be 8 to 128 characters long",
        ),
        (
            from_rds,
            {"DatabaseInformation": {"InstanceIdentifier": "orders-db", "DatabaseName": "d" * 65}},
            f"RDSData.DatabaseInformation.DatabaseName {'d' * 40!r}...: must be 1 to 64 characters long",
        ),
        (
            from_rds,
            {"S3StagingLocation": "https://bucket/staging/"},
            "RDSData.S3StagingLocation 'https://bucket/staging/': must match the pattern s3://([^/]+)(/.*)?",
        ),
        (from_rds, {"ResourceRole": "r" * 65}, "RDSData.ResourceRole"),
        (from_rds, {"DataSchema": None}, "RDSData: one of DataSchema or DataSchemaUri is required"),
    ],
    ids=[
        "cluster",
        "database",
        "redshift-password",
        "rds-password",
        "rds-database",
        "staging",
        "role",
        "rds-schema",
    ],
)
def test_fields_botocore_leaves_to_the_service_are_validated(ml, create, changes, message):
    with pytest.raises(ClientError) as raised:
        create(ml, **changes)

    assert raised.value.response["Error"]["Code"] == "InvalidInputException"
    assert message in raised.value.response["Error"]["Message"]
    assert "p" * 65 not in raised.value.response["Error"]["Message"]


def test_a_role_arn_longer_than_110_characters_is_rejected(ml):
    with pytest.raises(ClientError) as raised:
        ml.create_data_source_from_redshift(
            DataSourceId=new_id("redshift"), DataSpec=redshift_spec(), RoleARN="arn:" + "r" * 107
        )

    assert raised.value.response["Error"]["Message"] == (
        f"RoleARN {'arn:' + 'r' * 36!r}...: must be 1 to 110 characters long"
    )
