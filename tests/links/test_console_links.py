"""Every create operator's console link, as Airflow's API server serves it after a real DAG run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from amazon_ml_emulator import datasets
from amazon_ml_emulator.testing.dag_runner import airflow_environment, migrated_home, run_dag_test
from tests.conftest import BUCKET
from tests.system.stack import free_port, wait_until

DAGS_FOLDER = Path(__file__).parent / "dags"
CONSOLE = "https://console.aws.amazon.com/machinelearning/home?region=us-east-1"
# Set to write the Details tab's screenshot into the documentation (needs Debian's chromium).
SCREENSHOT_TARGET = os.environ.get("CONSOLE_LINK_SCREENSHOT")


class ApiServer:
    """Airflow's API server on a finished ``airflow dags test`` home, with the simple auth manager."""

    def __init__(self, home: Path, environment: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "api-server.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "airflow", "api-server", "--port", str(self.port), "--apps", "core"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self.healthy, 120, 1.0, "the API server")
        with urllib.request.urlopen(f"{self.url}/auth/token", timeout=10) as response:
            self.token = json.loads(response.read())["access_token"]

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"api-server exited:\n{self.log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def finished_run(emulator, s3_client, airflow_template, tmp_path) -> tuple[Path, str, dict]:
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    s3_client.put_object(Bucket=BUCKET, Key="links/data.csv", Body=csv_bytes)
    home = migrated_home(airflow_template, tmp_path / "airflow")
    result = run_dag_test(
        "console_links",
        home=home,
        dags_folder=DAGS_FOLDER,
        connection_json=emulator.connection_json(),
        conf={
            "data_location_s3": f"s3://{BUCKET}/links/data.csv",
            "data_schema": schema,
            "output_uri": f"s3://{BUCKET}/links/predictions/",
        },
    )
    assert result.succeeded, result.output[-4000:]
    with sqlite3.connect(home / "airflow.db") as database:
        (run_id,) = database.execute("SELECT run_id FROM dag_run WHERE dag_id = 'console_links'").fetchone()
    ids = {task_id: value for (task_id, key), value in result.xcoms.items() if key == "return_value"}
    return home, run_id, ids


@pytest.mark.system
@pytest.mark.timeout(900)  # a DAG run and an API server start, on a machine that may be busy
def test_every_create_operator_links_the_console_page_of_its_object(finished_run, emulator, tmp_path):
    home, run_id, ids = finished_run
    data_source_id, ml_model_id = ids["create_data_source"], ids["train_model"]
    model_page = f"{CONSOLE}#/predictor-insight/{ml_model_id}?tabId=summary"
    expected = {
        "create_data_source": {"Amazon ML Data Source": f"{CONSOLE}#/insights/{data_source_id}/summary"},
        "train_model": {"Amazon ML Model": model_page},
        "set_threshold": {"Amazon ML Model": model_page},
        "evaluate_model": {
            "Amazon ML Evaluation": f"{CONSOLE}#/predictor-insight/{ml_model_id}"
            f"?tabId=evaluations&evaluationId={ids['evaluate_model']}&viewId=summary"
        },
        "create_batch_prediction": {"Amazon ML Batch Prediction Model": model_page},
    }
    environment = {
        **airflow_environment(home, DAGS_FOLDER, emulator.connection_json()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
    }
    server = ApiServer(home, environment)
    try:
        served = {
            task_id: server.get(f"/api/v2/dags/console_links/dagRuns/{run_id}/taskInstances/{task_id}/links")[
                "extra_links"
            ]
            for task_id in expected
        }
        assert served == expected
        if shutil.which("chromium"):
            details = f"{server.url}/dags/console_links/runs/{run_id}/tasks/train_model/details"
            screenshot = Path(SCREENSHOT_TARGET) if SCREENSHOT_TARGET else tmp_path / "details.png"
            take_screenshot(details, screenshot, tmp_path / "chromium")
            assert screenshot.stat().st_size > 10_000
    finally:
        server.stop()


def take_screenshot(url: str, path: Path, profile: Path) -> None:
    """A headless Chromium screenshot of one page of Airflow's UI, after its scripts ran."""
    subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--window-size=1400,900",
            "--virtual-time-budget=20000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
