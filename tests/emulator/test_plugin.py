"""The pytest plugin the emulator installs, used as a user would: the README's example, run for real."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_the_dag_fixture_works_where_pytests_cache_is_turned_off(tmp_path):
    # Users run with `-p no:cacheprovider` on read-only checkouts; the migrated home then lives in the test's folder.
    (tmp_path / "test_users.py").write_text(
        "def test_it(amazon_ml_run_dag, tmp_path):\n    assert callable(amazon_ml_run_dag)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "1 passed" in completed.stdout
