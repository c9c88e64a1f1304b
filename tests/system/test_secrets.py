"""Connection secrets (AWS and database passwords) never show in logs, XComs, rendered template fields or the database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from amazon_ml_emulator import Emulator
from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test
from tests.databases import PASSWORD as DATABASE_PASSWORD
from tests.databases import DatabaseServer
from tests.example_dags.database_pipeline import run_database_pipeline
from tests.system.conftest import CANARY_SECRET, Figures
from tests.system.stack import REPOSITORY, AirflowStack

pytestmark = pytest.mark.system


def files_holding(root: Path, secret: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``secret``."""
    return [path for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def sqlite_dump(path: Path) -> str:
    with sqlite3.connect(path) as database:
        tables = [row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(
            f"{table}: {row!r}" for table in tables for row in database.execute(f'SELECT * FROM "{table}"')
        )


@pytest.mark.after_all_runs
@pytest.mark.timeout(120)
def test_secret_never_appears_in_anything_the_real_airflow_wrote(
    airflow_stack: AirflowStack, system_root: Path, figures: Figures
) -> None:
    # The stack's aws_default holds the secret; every other system test ran its tasks with it.
    assert CANARY_SECRET in airflow_stack.environment["AIRFLOW_CONN_AWS_DEFAULT"]
    log_files = [path for path in system_root.rglob("*.log") if path.is_file()]
    task_logs = list((airflow_stack.home / "logs").rglob("attempt=*"))
    assert len(task_logs) > 20
    assert files_holding(system_root, CANARY_SECRET) == []
    dump = airflow_stack.database_dump()
    for table in ("xcom", "rendered_task_instance_fields", "task_instance", "trigger", "log"):
        assert f"{table}: " in dump or table == "trigger", table
    assert CANARY_SECRET not in dump
    rendered = airflow_stack.database_rows("SELECT rendered_fields FROM rendered_task_instance_fields")
    assert rendered
    assert all(CANARY_SECRET not in json.dumps(row[0], default=str) for row in rendered)
    figures.record(
        "secret_in_real_airflow",
        files_searched=len(log_files),
        task_log_files=len(task_logs),
        database_rows_searched=dump.count("\n") + 1,
        rendered_field_rows=len(rendered),
        occurrences=0,
    )


@pytest.mark.timeout(240)
def test_secret_never_appears_in_airflow_dags_test_output_or_its_database(
    ml_emulator: Emulator,
    binary_model: dict[str, str],
    s3_client: Any,
    airflow_template: Path,
    tmp_path: Path,
    figures: Figures,
) -> None:
    connection = json.loads(ml_emulator.connection_json())
    connection["password"] = CANARY_SECRET
    home = migrated_home(airflow_template, tmp_path / "home")
    result = run_dag_test(
        "example_batch_prediction",
        home=home,
        dags_folder=REPOSITORY / "example_dags",
        connection_json=json.dumps(connection),
        conf={
            "ml_model_id": binary_model["ml_model_id"],
            "data_source_id": binary_model["data_source_id"],
            "output_uri": "s3://provider-tests/secret-check/",
        },
        timeout=200,
    )
    assert result.succeeded, result.output[-3000:]
    assert CANARY_SECRET not in result.output
    assert files_holding(home, CANARY_SECRET) == []
    dump = sqlite_dump(home / "airflow.db")
    assert "rendered_task_instance_fields: " in dump
    assert CANARY_SECRET not in dump
    figures.record(
        "secret_in_dags_test",
        output_characters=len(result.output),
        files_searched=sum(1 for path in home.rglob("*") if path.is_file()),
        database_rows_searched=dump.count("\n") + 1,
        occurrences=0,
    )


@pytest.mark.timeout(400)
def test_database_password_never_appears_in_a_database_pipeline_run(
    ml_emulator: Emulator,
    redshift: DatabaseServer,
    rds: DatabaseServer,
    s3_client: Any,
    breast_cancer_tables: dict[str, Any],
    airflow_template: Path,
    tmp_path: Path,
    figures: Figures,
) -> None:
    # The Redshift and RDS connections hold the database password; the data sources are created with it.
    connection = json.loads(ml_emulator.connection_json())
    connection["password"] = CANARY_SECRET
    home = tmp_path / "home"
    result = run_database_pipeline(
        ml_emulator,
        redshift,
        rds,
        s3_client,
        breast_cancer_tables,
        airflow_template,
        home,
        connection_json=json.dumps(connection),
    )
    assert result.succeeded, result.output[-3000:]
    dump = sqlite_dump(home / "airflow.db")
    assert "rendered_task_instance_fields: " in dump
    assert "CreateDataSourceFromRedshiftOperator" in dump
    for secret in (DATABASE_PASSWORD, CANARY_SECRET):
        assert secret not in result.output
        assert files_holding(home, secret) == []
        assert secret not in dump
    figures.record(
        "database_password_in_dags_test",
        output_characters=len(result.output),
        files_searched=sum(1 for path in home.rglob("*") if path.is_file()),
        database_rows_searched=dump.count("\n") + 1,
        occurrences=0,
    )
