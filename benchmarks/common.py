"""What the benchmarks share: an emulator in its own process, a trained model in it, and the machine's description."""

from __future__ import annotations

import json
import os
import platform
import queue
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BUCKET = "benchmarks"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SCORING_CSV = "x,label\n3,0\n9,1\n"


@dataclass
class EmulatorProcess:
    """
    An emulator started with ``python -m amazon_ml_emulator`` in its own process.

    :param process: the running process.
    :param endpoint_url: its Amazon ML endpoint.
    :param s3_endpoint_url: its S3 endpoint.
    :param connection_json: the value of an ``AIRFLOW_CONN_AWS_DEFAULT`` that points at it.
    """

    process: subprocess.Popen[str]
    endpoint_url: str
    s3_endpoint_url: str
    connection_json: str

    def client(self) -> Any:
        from amazon_ml_emulator import EmulatorClient

        return EmulatorClient(self.endpoint_url)

    def environment(self, airflow_home: str) -> dict[str, str]:
        """The environment a process needs to reach the emulator through ``aws_default``."""
        return {
            **os.environ,
            "AIRFLOW_CONN_AWS_DEFAULT": self.connection_json,
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }


@contextmanager
def emulator_process(*arguments: str, startup_timeout: float = 60) -> Iterator[EmulatorProcess]:
    """Start an emulator process with extra command-line ``arguments``; stop it with SIGTERM on exit."""
    command = [sys.executable, "-m", "amazon_ml_emulator", "--connection-env", *arguments]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        connection_json = None
        deadline = time.monotonic() + startup_timeout
        while connection_json is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"the emulator did not start within {startup_timeout} s") from None
            if line.startswith("AIRFLOW_CONN_AWS_DEFAULT="):
                # The line is quoted for the shell, to be pasted after `export`.
                connection_json = shlex.split(line.partition("=")[2])[0]
        extra = json.loads(connection_json)["extra"]
        yield EmulatorProcess(
            process, extra["endpoint_url"], extra["service_config"]["s3"]["endpoint_url"], connection_json
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def boto3_clients(endpoint_url: str, s3_endpoint_url: str) -> tuple[Any, Any]:
    """A boto3 Amazon ML client and S3 client for the emulator, for setting a benchmark up."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name="us-east-1", **CREDENTIALS)
    config = Config(max_pool_connections=20, retries={"mode": "standard", "max_attempts": 10})
    return (
        session.client("machinelearning", endpoint_url=endpoint_url, config=config),
        session.client("s3", endpoint_url=s3_endpoint_url, config=config),
    )


def prepare_model(ml: Any, s3: Any, timeout: float = 60) -> tuple[str, str]:
    """Train a tiny BINARY model and create a data source to score; return their IDs once COMPLETED."""
    from amazon_ml_emulator.datasets import TINY_CSV, TINY_SCHEMA

    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="training/data.csv", Body=TINY_CSV.encode())
    s3.put_object(Bucket=BUCKET, Key="scoring/data.csv", Body=SCORING_CSV.encode())
    suffix = uuid.uuid4().hex[:8]
    training_id, scoring_id, model_id = f"ds-train-{suffix}", f"ds-score-{suffix}", f"model-{suffix}"
    for data_source_id, location in ((training_id, "training/"), (scoring_id, "scoring/")):
        ml.create_data_source_from_s3(
            DataSourceId=data_source_id,
            DataSpec={"DataLocationS3": f"s3://{BUCKET}/{location}", "DataSchema": TINY_SCHEMA},
            ComputeStatistics=True,
        )
    ml.create_ml_model(MLModelId=model_id, MLModelType="BINARY", TrainingDataSourceId=training_id)
    deadline = time.monotonic() + timeout
    for get, key, entity_id in (
        (ml.get_data_source, "DataSourceId", scoring_id),
        (ml.get_ml_model, "MLModelId", model_id),
    ):
        while (status := get(**{key: entity_id})["Status"]) != "COMPLETED":
            if status not in ("PENDING", "INPROGRESS") or time.monotonic() > deadline:
                raise RuntimeError(f"{key} {entity_id} is {status}")
            time.sleep(0.05)
    return model_id, scoring_id


def create_batch_predictions(ml: Any, model_id: str, data_source_id: str, ids: Sequence[str]) -> None:
    """Create one batch prediction per ID, a few at a time."""

    def create(batch_prediction_id: str) -> None:
        ml.create_batch_prediction(
            BatchPredictionId=batch_prediction_id,
            MLModelId=model_id,
            BatchPredictionDataSourceId=data_source_id,
            OutputUri=f"s3://{BUCKET}/output/{batch_prediction_id}/",
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, ids))


def finished_at(ml: Any) -> dict[str, tuple[str, float | None, str]]:
    """Every batch prediction's status, end (FinishedAt, else LastUpdatedAt) and message, from Describe pages."""
    found = {}
    for page in ml.get_paginator("describe_batch_predictions").paginate():
        for job in page["Results"]:
            moment = job.get("FinishedAt")
            moment = moment or job.get("LastUpdatedAt")
            found[job["BatchPredictionId"]] = (
                job["Status"],
                moment.timestamp() if moment is not None else None,
                job.get("Message", ""),
            )
    return found


def rss_bytes() -> int:
    """Resident memory of this process, from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    packages = ("apache-airflow", "apache-airflow-providers-amazon", "aiobotocore", "botocore", "boto3")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in packages},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def temporary_airflow_home() -> str:
    return tempfile.mkdtemp(prefix="airflow-home-")


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` to ``benchmarks/results/<name>.json``, or to ``name`` if it is a ``.json`` path."""
    path = Path(name) if name.endswith(".json") else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, readable as plain text too."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [
        "| " + " | ".join(header.ljust(widths[i]) for i, header in enumerate(headers)) + " |",
        "|" + "|".join("-" * (width + 2) for width in widths) + "|",
    ]
    lines += ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in cells]
    return "\n".join(lines)
