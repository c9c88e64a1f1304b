"""Test controls: fault injection, the closed-account mode, forced failures and statuses, counters, the CLI."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from amazon_ml_emulator import EmulatorClient, EmulatorClientError

from .helpers import CREDENTIALS, new_id
from .shapes import attach_checker

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
ONE_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 2})


def plain_client(endpoint_url, config=NO_RETRIES):
    client = boto3.session.Session().client(
        "machinelearning", endpoint_url=endpoint_url, config=config, **CREDENTIALS
    )
    return client


def outcomes(client, calls):
    seen = []
    for _ in range(calls):
        try:
            client.describe_ml_models(Limit=1)
            seen.append("ok")
        except ClientError as error:
            seen.append(error.response["Error"]["Code"])
    return seen


def test_fault_injection_is_reproducible_with_a_seed_and_counted_apart(emulator):
    client = plain_client(emulator.endpoint_url)
    emulator.configure(throttle_rate=0.3, error_rate=0.2, seed=42, operations=["DescribeMLModels"])
    emulator.reset_call_counts()
    first = outcomes(client, 60)
    emulator.configure(seed=42)
    second = outcomes(client, 60)
    details = emulator.call_details()["DescribeMLModels"]

    assert first == second
    assert first.count("ThrottlingException") >= 8
    assert first.count("InternalServerException") >= 2
    assert first.count("ok") >= 15
    assert details["calls"] == 120
    assert details["injected"] == 2 * (60 - first.count("ok"))
    assert details["succeeded"] == 2 * first.count("ok")
    assert emulator.call_counts()["DescribeMLModels"] == 120


def test_faults_are_restricted_to_the_named_operations(ml, emulator):
    emulator.configure(error_rate=1.0, operations=["GetEvaluation"])

    assert ml.describe_ml_models(Limit=1)["Results"] is not None


def test_injected_faults_have_the_service_statuses_and_botocore_retries_them(emulator):
    checked = plain_client(emulator.endpoint_url, ONE_RETRY)
    attach_checker(checked)
    emulator.configure(throttle_rate=1.0, operations=["DescribeEvaluations"])
    emulator.reset_call_counts()
    with pytest.raises(ClientError) as throttled:
        checked.describe_evaluations()
    emulator.configure(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(ClientError) as failed:
        checked.describe_evaluations()

    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert failed.value.response["Error"]["Code"] == "InternalServerException"
    # botocore retries both: two attempts each.
    assert emulator.call_counts()["DescribeEvaluations"] == 4


def test_latency_delays_answers(ml, emulator):
    emulator.configure(latency=0.2, operations=["DescribeDataSources"])
    started = time.monotonic()
    ml.describe_data_sources(Limit=1)

    assert time.monotonic() - started >= 0.2


def test_unavailable_mode_answers_every_call_with_403_access_denied(ml, emulator):
    emulator.configure(unavailable=True)
    with pytest.raises(ClientError) as caught:
        ml.describe_batch_predictions()

    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["Error"]["Message"] == "AmazonML is no longer available to new customers"


def test_fail_job_turns_a_running_batch_prediction_failed_with_the_message(ml, pipeline, tiny, emulator):
    emulator.configure(job_duration=5.0)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    pipeline.wait_batch_prediction(batch_prediction_id, ("INPROGRESS",))
    emulator.fail_job(batch_prediction_id, "disk on fire")
    done = ml.get_batch_prediction(BatchPredictionId=batch_prediction_id)

    assert done["Status"] == "FAILED"
    assert done["Message"] == "disk on fire"
    assert "FinishedAt" in done


def test_set_status_sets_a_status_the_service_does_not_define(pipeline, tiny, emulator):
    # A status off the model is this control's point: read it with a client that does not check shapes.
    unchecked = boto3.session.Session().client(
        "machinelearning", endpoint_url=emulator.endpoint_url, **CREDENTIALS
    )
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    emulator.set_status(batch_prediction_id, "INVALID")
    time.sleep(0.3)
    status = unchecked.get_batch_prediction(BatchPredictionId=batch_prediction_id)["Status"]
    # Later tests' Describe* answers, checked against the model, must not meet it.
    emulator.fail_job(batch_prediction_id, "status restored by the test")

    assert status == "INVALID"


def test_next_jobs_can_be_marked_to_fail(ml, pipeline, tiny, emulator):
    emulator.fail_next_jobs(1, "quota gremlin", kind="BatchPrediction")
    doomed = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    healthy = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])

    assert pipeline.wait_batch_prediction(doomed)["Message"] == "quota gremlin"
    assert pipeline.wait_batch_prediction(healthy)["Status"] == "COMPLETED"


def test_connection_extra_points_airflow_at_the_emulator_and_its_s3(emulator):
    extra = emulator.connection_extra()

    assert extra == {
        "endpoint_url": emulator.endpoint_url,
        "region_name": "us-east-1",
        "service_config": {"s3": {"endpoint_url": emulator.s3_endpoint_url}},
    }


@pytest.fixture(scope="module")
def emulator_process():
    """An emulator run by the CLI in another process."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amazon_ml_emulator",
            "--port",
            "0",
            "--job-duration",
            "0.1",
            "--pending-duration",
            "0.0",
            "--connection-env",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    banner = process.stdout.readline().strip()
    connection = process.stdout.readline().strip()
    yield process, banner, connection
    if process.poll() is None:
        process.kill()
        process.wait()


def test_cli_prints_its_endpoints_and_an_airflow_connection(emulator_process):
    _, banner, connection = emulator_process

    assert banner.startswith("Amazon ML emulator: http://127.0.0.1:")
    assert "(S3: http://127.0.0.1:" in banner
    # The line is pasted after `export`: the shell must hand Airflow the JSON unchanged.
    exported = subprocess.run(
        ["bash", "-c", f'export {connection} && printf %s "$AIRFLOW_CONN_AWS_DEFAULT"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert connection.startswith("AIRFLOW_CONN_AWS_DEFAULT='{")
    assert json.loads(exported)["extra"]["endpoint_url"] == banner.split()[3]


def test_cli_listening_on_every_interface_advertises_the_host_it_is_given():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amazon_ml_emulator",
            "--host",
            "0.0.0.0",
            "--advertised-host",
            "localhost",
            "--connection-env",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = process.stdout.readline().split()
        connection = json.loads(shlex.split(process.stdout.readline().partition("=")[2])[0])
        endpoint_url = banner[3]
        assert endpoint_url.startswith("http://localhost:")
        assert banner[5].startswith("http://localhost:")
        assert connection["extra"]["endpoint_url"] == endpoint_url
        assert EmulatorClient(endpoint_url).health()["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_emulator_client_drives_another_process_through_the_admin_routes(emulator_process):
    _, banner, _ = emulator_process
    endpoint_url = banner.split()[3]
    admin = EmulatorClient(endpoint_url)
    ml = plain_client(endpoint_url)

    assert admin.health()["status"] == "ok"
    assert admin.configure(job_duration=0.2, seed=1)["job_duration"] == 0.2
    admin.reset_call_counts()
    with pytest.raises(ClientError):
        ml.get_batch_prediction(BatchPredictionId="nothing")
    admin.configure(unavailable=True)
    with pytest.raises(ClientError) as denied:
        ml.describe_batch_predictions()
    admin.configure(unavailable=False)
    ml.describe_batch_predictions()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert admin.call_counts() == {"DescribeBatchPredictions": 2, "GetBatchPrediction": 1}
    assert admin.call_details()["GetBatchPrediction"]["failed"] == 1
    ml.create_data_source_from_s3(
        DataSourceId="remote",
        DataSpec={
            "DataLocationS3": "s3://nowhere/x.csv",
            "DataSchema": '{"attributes":[{"attributeName":"x",'
            '"attributeType":"NUMERIC"}],"dataFormat":"CSV"}',
        },
    )
    admin.set_status("remote", "INVALID", kind="DataSource")
    assert ml.get_data_source(DataSourceId="remote")["Status"] == "INVALID"
    admin.fail_job("remote", "gone", kind="DataSource")
    assert ml.get_data_source(DataSourceId="remote")["Message"] == "gone"
    admin.fail_next_jobs(2)
    with pytest.raises(EmulatorClientError) as missing:
        admin.fail_job(new_id("nothing"))
    with pytest.raises(EmulatorClientError) as bad_setting:
        admin.configure(colour="blue")
    admin.reset()
    assert admin.call_counts() == {}
    assert admin.config()["job_duration"] == 0.1
    with pytest.raises(ClientError):
        ml.get_data_source(DataSourceId="remote")
    assert missing.value.status == 404
    assert bad_setting.value.status == 400


def test_cli_stops_cleanly_on_sigint(emulator_process):
    process, _, _ = emulator_process
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)

    assert process.returncode == 0, err
    assert "stopped" in out
