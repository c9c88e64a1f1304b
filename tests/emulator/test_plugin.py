"""The pytest plugin the emulator installs, used as a user would: the README's example, run for real."""

from __future__ import annotations

import json
import urllib.parse

from amazon_ml_emulator.datasets import TINY_CSV, TINY_SCHEMA

DAG_FILE = """
from airflow.sdk import DAG
from airflow_ml_provider import CreateDataSourceFromS3Operator

with DAG(dag_id="load_observations", schedule=None):
    CreateDataSourceFromS3Operator(
        task_id="create_data_source",
        data_location_s3="s3://my-bucket/observations/",
        data_schema_location_s3="s3://my-bucket/observations.schema",
        compute_statistics=True,
        wait_for_completion=True,
        waiter_delay=0.2,
    )
"""


def test_the_plugin_runs_a_users_dag_against_the_emulator(
    amazon_ml_client, amazon_ml_s3_client, amazon_ml_run_dag, tmp_path
):
    amazon_ml_s3_client.create_bucket(Bucket="my-bucket")
    amazon_ml_s3_client.put_object(Bucket="my-bucket", Key="observations/part-0.csv", Body=TINY_CSV)
    amazon_ml_s3_client.put_object(Bucket="my-bucket", Key="observations.schema", Body=TINY_SCHEMA)
    dag_file = tmp_path / "dags" / "load_observations.py"
    dag_file.parent.mkdir()
    dag_file.write_text(DAG_FILE)

    result = amazon_ml_run_dag(dag_file, "load_observations")

    assert result.succeeded, result.output[-3000:]
    data_source_id = result.xcoms[("create_data_source", "return_value")]
    data_source = amazon_ml_client.get_data_source(DataSourceId=data_source_id)
    assert (data_source["Status"], data_source["NumberOfFiles"]) == ("COMPLETED", 1)


def test_the_connection_uri_points_airflow_at_the_emulator(amazon_ml_emulator, amazon_ml_connection_uri):
    from airflow.models.connection import Connection

    connection = Connection(conn_id="aws_default", uri=amazon_ml_connection_uri)

    assert connection.conn_type == "aws"
    assert connection.extra_dejson["endpoint_url"] == amazon_ml_emulator.endpoint_url
    assert (
        connection.extra_dejson["service_config"]["s3"]["endpoint_url"] == amazon_ml_emulator.s3_endpoint_url
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(amazon_ml_connection_uri).query)
    assert json.loads(query["__extra__"][0]) == amazon_ml_emulator.connection_extra()
