"""Bad input to the batch prediction operator and sensor, run through ``execute`` on the local emulator: each
fails naming the field and the rule (or with the service's message), without retry, before any call when it can."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_ml_provider import BatchPredictionSensor, CreateBatchPredictionOperator
from airflow_ml_provider.exceptions import InvalidParameterError, ServiceRejectedError
from amazon_ml_emulator import Emulator
from tests.conftest import BUCKET

_run_numbers = itertools.count()


@dataclass(frozen=True)
class BadInput:
    """
    One bad input and what it must cause.

    :param task: ``operator`` or ``sensor``.
    :param arguments: The task's arguments that differ from a good task's (``None`` values as templated).
    :param error: The exception type expected.
    :param says: Text the error's message must contain: the field and the rule, or the service's message.
    :param before_any_call: Whether the error must come before the service is called at all.
    :param retryable: Whether Airflow may retry the task (``False``: an ``AirflowFailException``).
    :param emulator: Emulator settings for the case.
    """

    task: str
    arguments: dict[str, Any]
    error: type[BaseException]
    says: tuple[str, ...]
    before_any_call: bool = True
    retryable: bool = False
    emulator: dict[str, Any] = field(default_factory=dict)


LONG_ID = "x" * 65
CASES: dict[str, BadInput] = {
    # IDs: length, characters, empty, templated to None, wrong type.
    "batch_prediction_id too long": BadInput(
        "operator", {"batch_prediction_id": LONG_ID}, InvalidParameterError, ("batch_prediction_id", "1-64")
    ),
    "batch_prediction_id with a slash": BadInput(
        "operator",
        {"batch_prediction_id": "jobs/1"},
        InvalidParameterError,
        ("batch_prediction_id", "may contain only"),
    ),
    "batch_prediction_id empty": BadInput(
        "operator", {"batch_prediction_id": ""}, InvalidParameterError, ("batch_prediction_id", "1-64")
    ),
    "batch_prediction_id templated to None": BadInput(
        "operator", {"batch_prediction_id": None}, InvalidParameterError, ("batch_prediction_id", "string")
    ),
    "ml_model_id with a space": BadInput(
        "operator", {"ml_model_id": "my model"}, InvalidParameterError, ("ml_model_id", "may contain only")
    ),
    "ml_model_id templated to None": BadInput(
        "operator", {"ml_model_id": None}, InvalidParameterError, ("ml_model_id", "string")
    ),
    "data_source_id too long": BadInput(
        "operator", {"data_source_id": LONG_ID}, InvalidParameterError, ("data_source_id", "1-64")
    ),
    "data_source_id is a number": BadInput(
        "operator", {"data_source_id": 42}, InvalidParameterError, ("data_source_id", "string")
    ),
    # Names.
    "batch_prediction_name only whitespace": BadInput(
        "operator",
        {"batch_prediction_name": "   "},
        InvalidParameterError,
        ("batch_prediction_name", "whitespace"),
    ),
    "batch_prediction_name too long": BadInput(
        "operator",
        {"batch_prediction_name": "n" * 1025},
        InvalidParameterError,
        ("batch_prediction_name", "1024"),
    ),
    "batch_prediction_name is a list": BadInput(
        "operator",
        {"batch_prediction_name": ["scoring"]},
        InvalidParameterError,
        ("batch_prediction_name", "string"),
    ),
    # Output URIs.
    "output_uri not on S3": BadInput(
        "operator", {"output_uri": "https://bucket/out/"}, InvalidParameterError, ("output_uri", "s3://")
    ),
    "output_uri with '//' in the key": BadInput(
        "operator", {"output_uri": f"s3://{BUCKET}/a//b/"}, InvalidParameterError, ("output_uri", "'//'")
    ),
    "output_uri with ':' in the key": BadInput(
        "operator", {"output_uri": f"s3://{BUCKET}/a:b/"}, InvalidParameterError, ("output_uri", "':'")
    ),
    "output_uri with '/./' in the key": BadInput(
        "operator", {"output_uri": f"s3://{BUCKET}/a/./b/"}, InvalidParameterError, ("output_uri", "'/./'")
    ),
    "output_uri with '/../' in the key": BadInput(
        "operator", {"output_uri": f"s3://{BUCKET}/a/../b/"}, InvalidParameterError, ("output_uri", "'/../'")
    ),
    "output_uri over 2048 characters": BadInput(
        "operator",
        {"output_uri": f"s3://{BUCKET}/{'k' * 2048}/"},
        InvalidParameterError,
        ("output_uri", "2048"),
    ),
    "output_uri templated to None": BadInput(
        "operator", {"output_uri": None}, InvalidParameterError, ("output_uri", "s3://")
    ),
    # Waiting parameters.
    "waiter_delay zero": BadInput(
        "operator", {"waiter_delay": 0}, InvalidParameterError, ("waiter_delay", "positive number")
    ),
    "waiter_max_attempts a string": BadInput(
        "operator",
        {"waiter_max_attempts": "ten"},
        InvalidParameterError,
        ("waiter_max_attempts", "positive whole number"),
    ),
    # What only the service knows: its own message, no retry, no job.
    "ml_model_id of no model": BadInput(
        "operator",
        {"ml_model_id": "no-such-model"},
        ServiceRejectedError,
        ("CreateBatchPrediction", "InvalidInputException", "no-such-model"),
        before_any_call=False,
    ),
    "data_source_id of no data source": BadInput(
        "operator",
        {"data_source_id": "no-such-data-source"},
        ServiceRejectedError,
        ("CreateBatchPrediction", "InvalidInputException", "no-such-data-source"),
        before_any_call=False,
    ),
    "account closed to Amazon ML (HTTP 403)": BadInput(
        "operator",
        {},
        ServiceRejectedError,
        ("AccessDeniedException", "no longer available"),
        before_any_call=False,
        emulator={"unavailable": True},
    ),
    # Sensor.
    "sensor batch_prediction_id with a space": BadInput(
        "sensor",
        {"batch_prediction_id": "my job"},
        InvalidParameterError,
        ("batch_prediction_id", "may contain only"),
    ),
    "sensor batch_prediction_id templated to None": BadInput(
        "sensor", {"batch_prediction_id": None}, InvalidParameterError, ("batch_prediction_id", "string")
    ),
    "sensor batch_prediction_id too long": BadInput(
        "sensor", {"batch_prediction_id": LONG_ID}, InvalidParameterError, ("batch_prediction_id", "1-64")
    ),
    "sensor batch_prediction_id empty": BadInput(
        "sensor", {"batch_prediction_id": ""}, InvalidParameterError, ("batch_prediction_id", "1-64")
    ),
}

# Found by this table: the sensor turns a refusal of the service into a retryable failure.
SENSOR_REFUSALS: dict[str, BadInput] = {
    "sensor batch_prediction_id of no job": BadInput(
        "sensor",
        {"batch_prediction_id": "no-such-job"},
        AirflowFailException,
        ("no-such-job", "ResourceNotFoundException"),
        before_any_call=False,
    ),
    "sensor on an account closed to Amazon ML (HTTP 403)": BadInput(
        "sensor",
        {"batch_prediction_id": "some-job"},
        AirflowFailException,
        ("AccessDeniedException", "no longer available"),
        before_any_call=False,
        emulator={"unavailable": True},
    ),
}


def minimal_context(run_id: str) -> dict[str, Any]:
    """What ``execute`` reads from Airflow's context: the task instance's identity, try chain and XCom push."""
    ti = SimpleNamespace(
        dag_id="bad_input",
        task_id="create_batch_prediction",
        run_id=run_id,
        map_index=-1,
        try_number=1,
        max_tries=0,
        xcom_push=lambda **_: None,
    )
    return {"ti": ti, "task_instance": ti, "run_id": run_id, "dag_run": SimpleNamespace(start_date=None)}


def build_task(case: BadInput, model: dict[str, str]) -> Any:
    """A good task built with templates where the case is bad, then given the bad values as rendering would."""
    if case.task == "sensor":
        others = {key: value for key, value in case.arguments.items() if key != "batch_prediction_id"}
        task = BatchPredictionSensor(
            task_id="wait_for_batch_prediction",
            batch_prediction_id="{{ params.batch_prediction_id }}",
            poke_interval=1,
            timeout=5,
            **others,
        )
    else:
        good = {
            "ml_model_id": model["ml_model_id"],
            "data_source_id": model["data_source_id"],
            "output_uri": f"s3://{BUCKET}/bad-input/",
        }
        templated = {key: f"{{{{ params.{key} }}}}" for key in case.arguments}
        task = CreateBatchPredictionOperator(task_id="create_batch_prediction", **{**good, **templated})
    for key, value in case.arguments.items():
        setattr(task, key, value)
    return task


def run_case(
    case: BadInput, emulator: Emulator, model: dict[str, str]
) -> tuple[BaseException, dict[str, int]]:
    task = build_task(case, model)
    emulator.configure(**case.emulator)
    emulator.reset_call_counts()
    error: BaseException | None = None
    try:
        task.execute(minimal_context(f"bad-input-{next(_run_numbers)}"))
    except BaseException as raised:
        error = raised
    finally:
        calls = emulator.call_counts()
        emulator.configure(unavailable=False)
    assert error is not None, f"{case} was accepted"
    return error, calls


def check(case: BadInput, error: BaseException, calls: dict[str, int]) -> None:
    assert isinstance(error, case.error), f"{type(error).__name__}: {error}"
    for text in case.says:
        assert text in str(error), f"{text!r} not in {error}"
    assert isinstance(error, AirflowFailException) is not case.retryable, type(error).__mro__
    if case.before_any_call:
        assert calls == {}
    # Whatever went wrong, no job was created.
    assert "CreateBatchPrediction" not in calls or case.before_any_call is False


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_fails_naming_the_field_and_rule_without_retry(
    case: BadInput, emulator: Emulator, binary_model: dict[str, str], ml_client: Any
) -> None:
    before = {job["BatchPredictionId"] for job in ml_client.describe_batch_predictions()["Results"]}
    error, calls = run_case(case, emulator, binary_model)
    check(case, error, calls)
    after = {job["BatchPredictionId"] for job in ml_client.describe_batch_predictions()["Results"]}
    assert after == before


@pytest.mark.parametrize("case", SENSOR_REFUSALS.values(), ids=SENSOR_REFUSALS.keys())
def test_sensor_refused_by_the_service_fails_without_retry(
    case: BadInput, emulator: Emulator, binary_model: dict[str, str]
) -> None:
    error, calls = run_case(case, emulator, binary_model)
    check(case, error, calls)


@pytest.mark.parametrize("case", SENSOR_REFUSALS.values(), ids=SENSOR_REFUSALS.keys())
def test_sensor_refused_by_the_service_fails_with_the_services_message(
    case: BadInput, emulator: Emulator, binary_model: dict[str, str]
) -> None:
    error, _ = run_case(case, emulator, binary_model)
    for text in case.says:
        assert text in str(error)


def test_model_that_failed_fails_the_wait_with_the_services_message(
    emulator: Emulator, binary_model: dict[str, str], ml_client: Any
) -> None:
    ml_client.create_ml_model(
        MLModelId="failed-model", MLModelType="BINARY", TrainingDataSourceId=binary_model["data_source_id"]
    )
    emulator.fail_job(
        "failed-model", "Training failed: the data source has no usable records", kind="MLModel"
    )
    task = CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id="failed-model",
        data_source_id=binary_model["data_source_id"],
        output_uri=f"s3://{BUCKET}/bad-input/",
        wait_for_completion=True,
        waiter_delay=1,
        waiter_max_attempts=30,
    )
    with pytest.raises(Exception, match="did not complete") as raised:
        task.execute(minimal_context("failed-model-run"))
    assert "failed-model" in str(raised.value)


# Found by this table: a mistyped connection or region reaches boto3, whose errors Airflow retries.
SETUP_ERRORS: dict[str, BadInput] = {
    "unknown aws_conn_id": BadInput(
        "operator",
        {"aws_conn_id": "no_such_connection"},
        InvalidParameterError,
        ("aws_conn_id", "no_such_connection"),
    ),
    "malformed region_name": BadInput(
        "operator", {"region_name": "us east 1"}, InvalidParameterError, ("region_name", "us east 1")
    ),
}


@pytest.mark.parametrize("case", SETUP_ERRORS.values(), ids=SETUP_ERRORS.keys())
def test_unknown_connection_or_malformed_region_fails_naming_the_field_without_retry(
    case: BadInput, emulator: Emulator, binary_model: dict[str, str]
) -> None:
    error, calls = run_case(case, emulator, binary_model)
    check(case, error, calls)


def test_malformed_region_fails_naming_it_before_any_call(
    emulator: Emulator, binary_model: dict[str, str]
) -> None:
    error, calls = run_case(SETUP_ERRORS["malformed region_name"], emulator, binary_model)
    assert "us east 1" in str(error), f"{type(error).__name__}: {error}"
    assert calls == {}


def test_unknown_connection_never_reaches_the_emulator(
    emulator: Emulator, binary_model: dict[str, str]
) -> None:
    # Without the connection there is no endpoint_url: the call goes to boto3's defaults, never here.
    _, calls = run_case(SETUP_ERRORS["unknown aws_conn_id"], emulator, binary_model)
    assert calls == {}


def test_missing_default_connection_falls_back_to_boto3_default_chain_with_a_warning(
    emulator: Emulator,
    binary_model: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No aws_default: credentials, region and endpoint come from the environment, as on an instance role.
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    emulator.reset_call_counts()
    task = CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id=binary_model["ml_model_id"],
        data_source_id=binary_model["data_source_id"],
        output_uri=f"s3://{BUCKET}/default-chain/",
    )
    with caplog.at_level("WARNING"):
        batch_prediction_id = task.execute(minimal_context(f"default-chain-{next(_run_numbers)}"))
    assert "No Airflow connection 'aws_default'" in caplog.text
    assert emulator.call_counts()["CreateBatchPrediction"] == 1
    assert batch_prediction_id.startswith("bad_input.create_batch_prediction.")


CANARY_SECRET = "canary-Ue81-never-print-me-Zq0"


def test_errors_and_logs_never_carry_the_connection_secret(
    emulator: Emulator,
    binary_model: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connection = json.loads(emulator.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({**connection, "password": CANARY_SECRET}))
    errors = [
        run_case(case, emulator, binary_model)[0]
        for case in (
            CASES["ml_model_id of no model"],
            CASES["account closed to Amazon ML (HTTP 403)"],
            CASES["output_uri with '//' in the key"],
            *SENSOR_REFUSALS.values(),
        )
    ]
    texts = [caplog.text, *capsys.readouterr()]
    for error in errors:
        chain = [error, error.__cause__, error.__context__]
        texts += [
            f"{link!s} {link!r} {vars(link) if hasattr(link, '__dict__') else ''}" for link in chain if link
        ]
    assert all(CANARY_SECRET not in text for text in texts)
