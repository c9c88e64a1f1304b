"""The main job: run the example ML pipeline DAG end to end against the local Amazon ML emulator.

Starts the emulator (with moto's S3), uploads scikit-learn's breast cancer data set, runs
``example_dags/example_ml_pipeline.py`` with ``airflow dags test`` and prints what it scored.
Exits non-zero if any task fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import boto3

from amazon_ml_emulator import Emulator, datasets
from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test

REPOSITORY = Path(__file__).resolve().parents[1]
BUCKET = "airflow-ml-demo"
DAG_ID = "example_ml_pipeline"
# The newest fifth of the records plays the part of new data to score; the rest is the history.
NEW_RECORDS_SHARE = 0.2


def upload_data_set(emulator: Emulator, name: str) -> dict[str, str]:
    """Put a data set in the emulator's S3 as history, new records and schema; return the DAG's params."""
    s3 = boto3.client(
        "s3",
        endpoint_url=emulator.s3_endpoint_url,
        region_name=emulator.region_name,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",  # noqa: S106 - the emulator accepts any credentials
    )
    s3.create_bucket(Bucket=BUCKET)
    csv_bytes, schema = datasets.make_dataset(name)
    header, *records = csv_bytes.decode().splitlines(keepends=True)
    cut = len(records) - int(len(records) * NEW_RECORDS_SHARE)
    files = {"history.csv": [header, *records[:cut]], "new.csv": [header, *records[cut:]]}
    for key, lines in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"{name}/{key}", Body="".join(lines).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{name}/schema.json", Body=schema.encode())
    print(
        f"Uploaded {name}: {cut} records of history, {len(records) - cut} new records to s3://{BUCKET}/{name}/"
    )
    return {
        "history_uri": f"s3://{BUCKET}/{name}/history.csv",
        "new_records_uri": f"s3://{BUCKET}/{name}/new.csv",
        "schema_uri": f"s3://{BUCKET}/{name}/schema.json",
        "output_uri": f"s3://{BUCKET}/predictions/{name}/",
        "ml_model_type": datasets.model_type(name),
        "min_metric": {"BINARY": 0.9, "MULTICLASS": 0.8, "REGRESSION": 70.0}[datasets.model_type(name)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-set", default="breast_cancer", choices=datasets.available())
    parser.add_argument("--work-dir", type=Path, default=REPOSITORY / ".demo")
    arguments = parser.parse_args()

    started = time.monotonic()
    home = migrated_home(
        arguments.work_dir / "airflow-template", arguments.work_dir / f"run-{int(time.time())}"
    )
    with Emulator(job_duration=2.0, pending_duration=0.5) as emulator:
        print(f"Amazon ML emulator at {emulator.endpoint_url}, S3 at {emulator.s3_endpoint_url}")
        conf = upload_data_set(emulator, arguments.data_set)
        print(f"Running {DAG_ID} with airflow dags test (AIRFLOW_HOME={home}) ...")
        result = run_dag_test(
            DAG_ID,
            home=home,
            dags_folder=REPOSITORY / "example_dags",
            connection_json=emulator.connection_json(),
            conf=conf,
        )
        calls = emulator.call_counts()

    for task_id, state in sorted(result.task_states.items()):
        print(f"  {task_id:<32} {state}")
    metric = result.xcoms.get(("wait_for_evaluation", "return_value"))
    summary = result.xcoms.get(("summarize", "return_value"))
    print(f"Evaluation metric: {metric}")
    print(f"Predictions: {summary}")
    print(
        f"Amazon ML API calls: {sum(calls.values())} ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})"
    )
    print(f"DAG run {result.state} in {time.monotonic() - started:.0f} s; full log: {home / 'dags-test.log'}")
    if not result.succeeded:
        print(result.output[-5000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
