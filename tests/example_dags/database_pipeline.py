"""Run ``example_database_pipeline`` under ``airflow dags test`` against PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amazon_ml_emulator import Emulator
from amazon_ml_emulator.testing.dag_runner import DagRunResult, migrated_home, run_dag_test
from tests.conftest import BUCKET, REPOSITORY
from tests.databases import PASSWORD, USER, DatabaseServer

DAG_ID = "example_database_pipeline"
OUTPUT_URI = f"s3://{BUCKET}/database-predictions/"


def database_connection() -> str:
    """The connection holding the databases' login and password (the host is found by identifier)."""
    return json.dumps({"conn_type": "generic", "login": USER, "password": PASSWORD})


def run_database_pipeline(
    emulator: Emulator,
    redshift: DatabaseServer,
    rds: DatabaseServer,
    s3_client: Any,
    tables: dict[str, Any],
    template: Path,
    home: Path,
    connection_json: str | None = None,
) -> DagRunResult:
    """Point the emulator at the databases, run the DAG with the first new patient as its record."""
    s3_client.put_object(Bucket=BUCKET, Key="breast_cancer_db/schema.json", Body=tables["schema"].encode())
    first_new_patient = min(tables["new_patients"], key=lambda row: (row[0], row[1]))
    emulator.configure(
        redshift_clusters={"analytics": redshift.address}, rds_instances={"orders-db": rds.address}
    )
    try:
        return run_dag_test(
            DAG_ID,
            home=migrated_home(template, home),
            dags_folder=REPOSITORY / "example_dags",
            connection_json=connection_json or emulator.connection_json(),
            conf={
                "staging_uri": f"s3://{BUCKET}/staging/",
                "schema_uri": f"s3://{BUCKET}/breast_cancer_db/schema.json",
                "output_uri": OUTPUT_URI,
                "record": dict(zip(tables["names"][:-1], first_new_patient[:-1], strict=True)),
            },
            extra_environment={
                "EXAMPLE_BUCKET": f"s3://{BUCKET}",
                "AIRFLOW_CONN_REDSHIFT_DEFAULT": database_connection(),
                "AIRFLOW_CONN_RDS_DEFAULT": database_connection(),
            },
        )
    finally:
        emulator.configure(redshift_clusters={}, rds_instances={})
