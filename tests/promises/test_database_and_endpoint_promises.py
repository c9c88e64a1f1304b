"""Promises of the database data sources and the real-time endpoints, held against the emulator and real databases.

The password never shows; a retry reattaches unless a parameter that shapes the object changed; bad input
fails before any call; the endpoint tasks and ``predict`` are retry-safe and fail clearly.
"""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_ml_provider import (
    CreateDataSourceFromRDSOperator,
    CreateDataSourceFromRedshiftOperator,
    DataSourceSensor,
    DeleteRealtimeEndpointOperator,
)
from airflow_ml_provider.exceptions import (
    DataSourceFailedError,
    EntityFailedError,
    InvalidParameterError,
    ServiceRejectedError,
)
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import DATA_SOURCE
from tests.conftest import BUCKET
from tests.databases import PASSWORD, USER
from tests.operators import test_database_data_sources as database_tests
from tests.operators.test_database_data_sources import connection, rds_arguments, redshift_arguments
from tests.operators.test_realtime_endpoint import breast_cancer_records
from tests.runtime import context_for, run_trigger, worker_dies

# The emulator reaching the PostgreSQL and MariaDB servers, with both connections set.
databases = database_tests.databases
OPERATORS = {"redshift": CreateDataSourceFromRedshiftOperator, "rds": CreateDataSourceFromRDSOperator}
ARGUMENTS = {"redshift": redshift_arguments, "rds": rds_arguments}
CREATE_CALLS = {"redshift": "CreateDataSourceFromRedshift", "rds": "CreateDataSourceFromRDS"}
QUICK = {"waiter_delay": 0.05, "waiter_max_attempts": 400}
# What a service could answer about a login it refused, the password quoted back.
ECHOED_FAILURE = f"cannot connect as {USER!r} with password {PASSWORD!r}: authentication failed"


def task_identity() -> dict[str, Any]:
    return {"dag_id": "databases", "task_id": "load", "run_id": f"manual__{uuid.uuid4().hex}"}


def operator(engine: str, **changes: Any) -> Any:
    return OPERATORS[engine](**ARGUMENTS[engine](**changes))


def first_try_dies_after_creating(engine: str, identity: dict[str, Any], step: str, **changes: Any) -> None:
    """Create the object, then end the try at ``step`` of the hook (``add_tags`` or ``mark_succeeded``)."""
    first = operator(engine, wait_for_completion=False, **changes)
    setattr(first.hook, step, worker_dies)
    with pytest.raises(SystemExit):
        first.execute(context_for(**identity))


# -- 1. the password never shows ------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["redshift", "rds"])
def test_a_failed_data_sources_message_never_shows_the_password(databases, engine):
    databases.fail_next_jobs(1, message=ECHOED_FAILURE, kind="DataSource")
    with pytest.raises(DataSourceFailedError) as error:
        operator(engine).execute(context_for(**task_identity()))

    assert "authentication failed" in str(error.value)
    assert PASSWORD not in str(error.value)
    assert PASSWORD not in str(error.value.service_message)


async def deferred_failure(capsys):
    """A deferred Redshift data source that FAILED with a message quoting the password: event, log, error."""
    context = context_for(**task_identity())
    task = operator("redshift", deferrable=True, waiter_delay=0.1)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    capsys.readouterr()
    events = await run_trigger(deferred.value.trigger)
    trigger_log = capsys.readouterr().out
    resumed = operator("redshift", deferrable=True, waiter_delay=0.1)
    with pytest.raises(EntityFailedError) as error:
        resumed.execute_complete(context, event=events[0], **(deferred.value.kwargs or {}))
    return events, trigger_log, error.value


async def test_a_resumed_task_never_shows_the_password_in_its_error(databases, capsys):
    databases.fail_next_jobs(1, message=ECHOED_FAILURE, kind="DataSource")
    _, _, error = await deferred_failure(capsys)

    assert "authentication failed" in str(error)
    assert PASSWORD not in str(error)


async def test_a_deferred_wait_never_carries_the_password_in_its_event_or_the_triggerer_log(
    databases, capsys
):
    databases.fail_next_jobs(1, message=ECHOED_FAILURE, kind="DataSource")
    events, trigger_log, _ = await deferred_failure(capsys)

    assert "authentication failed" in trigger_log
    assert PASSWORD not in json.dumps(events, default=str)
    assert PASSWORD not in trigger_log


@pytest.mark.parametrize("engine", ["redshift", "rds"])
def test_a_poking_sensor_never_shows_a_password_the_service_quotes(databases, engine, caplog):
    # The sensor never reads the database connection: the provider hides what follows "password" instead.
    databases.fail_next_jobs(1, message=ECHOED_FAILURE, kind="DataSource")
    data_source_id = operator(engine, wait_for_completion=False).execute(context_for(**task_identity()))
    sensor = DataSourceSensor(task_id="wait", data_source_id=data_source_id, poke_interval=0.1, timeout=30)
    # At INFO, as a worker logs (botocore's DEBUG lines carry whole responses, as they do of every secret).
    with caplog.at_level(logging.INFO), pytest.raises(EntityFailedError) as error:
        sensor.execute(context_for(**task_identity()))

    assert "authentication failed" in str(error.value)
    assert PASSWORD not in str(error.value)
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("engine", ["redshift", "rds"])
def test_the_password_is_no_template_field_nor_in_xcom_or_the_description(databases, engine):
    context = context_for(**task_identity())
    task = operator(engine)
    data_source_id = task.execute(context)
    description = MachineLearningHook().get(DATA_SOURCE, data_source_id)
    rendered = {field: getattr(task, field) for field in task.template_fields}

    assert PASSWORD not in json.dumps(rendered, default=str)
    assert PASSWORD not in json.dumps(context["ti"].xcoms, default=str)
    assert PASSWORD not in json.dumps(description, default=str)
    assert PASSWORD not in json.dumps(task.submitted, default=str)


@pytest.mark.parametrize(
    ("engine", "password", "rule"),
    [("redshift", "Pw1234!", "8-64"), ("redshift", "P" * 65, "8-64"), ("rds", "P" * 129, "8-128")],
)
def test_a_password_the_service_refuses_fails_before_any_call_without_showing_it(
    databases, monkeypatch, engine, password, rule
):
    monkeypatch.setenv(f"AIRFLOW_CONN_{engine.upper()}_DEFAULT", connection(password=password))
    databases.reset_call_counts()
    with pytest.raises(InvalidParameterError, match=rule) as error:
        operator(engine).execute(context_for(**task_identity()))

    assert error.value.field == f"{engine}_conn_id"
    assert password not in str(error.value)
    assert databases.call_counts() == {}


# -- 2. identity, retries and re-runs ------------------------------------------------------------


@pytest.mark.parametrize("engine", ["redshift", "rds"])
def test_a_retry_after_the_password_changed_reattaches(databases, monkeypatch, engine):
    identity = task_identity()
    first_try_dies_after_creating(engine, identity, "mark_succeeded")
    # The password is rotated before the retry: the same data source, read with the new one.
    monkeypatch.setenv(f"AIRFLOW_CONN_{engine.upper()}_DEFAULT", connection(password="rotated-Passw0rd"))
    databases.reset_call_counts()
    context = context_for(**identity)
    operator(engine, wait_for_completion=False).execute(context)

    assert context["ti"].xcoms["created"] is False
    assert CREATE_CALLS[engine] not in databases.call_counts()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"select_sql_query": "SELECT x, label FROM observations"}, "SelectSqlQuery"),
        ({"s3_staging_location": f"s3://{BUCKET}/elsewhere/"}, "S3StagingLocation"),
        ({"role_arn": "arn:aws:iam::123456789012:role/OtherRole"}, "RoleARN"),
        ({"database_name": "postgres"}, "DatabaseInformation"),
    ],
    ids=["query", "staging", "role", "database"],
)
def test_a_retry_with_a_changed_parameter_names_it_and_not_the_password(databases, changes, named):
    identity = task_identity()
    first_try_dies_after_creating("redshift", identity, "mark_succeeded")
    databases.reset_call_counts()
    with pytest.raises(ServiceRejectedError, match=named) as error:
        operator("redshift", wait_for_completion=False, **changes).execute(context_for(**identity))

    assert error.value.code == "IdempotentParameterMismatchException"
    assert PASSWORD not in str(error.value)
    assert "CreateDataSourceFromRedshift" not in databases.call_counts()


def test_a_retry_as_another_user_names_the_user_and_neither_password(databases, monkeypatch):
    identity = task_identity()
    first_try_dies_after_creating("rds", identity, "mark_succeeded")
    monkeypatch.setenv("AIRFLOW_CONN_RDS_DEFAULT", connection(login="reporter", password="other-Passw0rd"))
    with pytest.raises(ServiceRejectedError, match="DatabaseUserName was 'analyst', now 'reporter'") as error:
        operator("rds", wait_for_completion=False).execute(context_for(**identity))

    assert PASSWORD not in str(error.value)
    assert "other-Passw0rd" not in str(error.value)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"s3_staging_location": f"s3://{BUCKET}/elsewhere/"}, "S3StagingLocation"),
        ({"select_sql_query": "SELECT x, label FROM observations"}, "SelectSqlQuery"),
    ],
    ids=["staging", "query"],
)
def test_a_retry_with_a_changed_parameter_after_a_death_before_the_tags_names_it(databases, changes, named):
    identity = task_identity()
    # The worker is killed between the create call and AddTags: the data source exists, untagged.
    first_try_dies_after_creating("redshift", identity, "add_tags")
    databases.reset_call_counts()
    retry = operator("redshift", wait_for_completion=False, **changes)
    try:
        data_source_id = retry.execute(context_for(**identity))
    except ServiceRejectedError as error:
        assert named in str(error)  # noqa: PT017
    else:
        staged = MachineLearningHook().get(DATA_SOURCE, data_source_id)["DataLocationS3"]
        pytest.fail(f"the retry with {changes} reattached to {data_source_id}, staged at {staged}")
    assert "CreateDataSourceFromRedshift" not in databases.call_counts()


def test_a_retry_with_another_staging_location_names_only_that_field(databases):
    identity = task_identity()
    first_try_dies_after_creating("redshift", identity, "mark_succeeded")
    with pytest.raises(ServiceRejectedError, match="S3StagingLocation") as error:
        operator(
            "redshift", wait_for_completion=False, s3_staging_location=f"s3://{BUCKET}/elsewhere/"
        ).execute(context_for(**identity))

    # The schema and its URL are those of the first try: naming them sends the user after the wrong change.
    assert "DataSchema" not in str(error.value)


def test_a_cleared_task_creates_a_new_database_data_source(databases):
    identity = task_identity()
    first = operator("redshift").execute(context_for(**identity))
    # A clear moves the task instance's max_tries on: the next try starts another run of it.
    databases.reset_call_counts()
    context = context_for(**identity, max_tries=1)
    again = operator("redshift").execute(context)

    assert again != first
    assert context["ti"].xcoms["created"] is True
    assert databases.call_counts()["CreateDataSourceFromRedshift"] == 1


# -- 3. bad input fails before any call -----------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "changes", "field"),
    [
        ("redshift", {"compute_statistics": "no"}, "compute_statistics"),
        ("rds", {"security_group_ids": ["sg-0abc", ""]}, "security_group_ids"),
        ("rds", {"database_name": ""}, "database_name"),
        ("redshift", {"cluster_identifier": "c" * 64}, "cluster_identifier"),
        ("redshift", {"data_source_name": "   "}, "data_source_name"),
    ],
)
def test_bad_database_parameters_fail_before_any_call_naming_the_field(databases, engine, changes, field):
    databases.reset_call_counts()
    with pytest.raises(InvalidParameterError) as error:
        operator(engine, **changes).execute(context_for(**task_identity()))

    assert error.value.field == field
    assert databases.call_counts() == {}


# -- 4. real-time endpoints -----------------------------------------------------------------------


@pytest.fixture
def hook(emulator):
    return MachineLearningHook()


@pytest.fixture
def model(hook, binary_model):
    """The session's BINARY model; whatever endpoint a test gives it is deleted afterwards."""
    yield binary_model["ml_model_id"]
    hook.delete_realtime_endpoint(binary_model["ml_model_id"])


def test_predict_with_a_malformed_model_id_fails_before_any_call(hook, emulator):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError) as error:
        hook.predict("no such model!", breast_cancer_records(1)[0])

    assert error.value.field == "ml_model_id"
    assert emulator.call_counts() == {}


@pytest.mark.parametrize("predict_endpoint", ["not a url", ""])
def test_predict_at_a_malformed_endpoint_fails_before_any_call_naming_it(hook, emulator, predict_endpoint):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError) as error:
        hook.predict("breast-cancer-model", breast_cancer_records(1)[0], predict_endpoint=predict_endpoint)

    assert error.value.field == "predict_endpoint"
    assert emulator.call_counts() == {}


def test_predict_takes_a_decimal_as_the_number_it_is(hook, model):
    hook.create_realtime_endpoint(model)
    hook.wait_for_realtime_endpoint(model, "READY", **{"delay": 0.05, "max_attempts": 400})
    record = breast_cancer_records(1)[0]
    as_decimals = {name: Decimal(repr(value)) for name, value in record.items()}

    assert hook.predict(model, as_decimals) == hook.predict(model, record)


@pytest.fixture
def slow_endpoints(emulator):
    """Endpoints that stay UPDATING for a minute; the emulator's setting is restored after."""
    startup = emulator.configure()["endpoint_startup_duration"]
    emulator.configure(endpoint_startup_duration=60)
    yield emulator
    emulator.configure(endpoint_startup_duration=startup)


def test_predict_while_the_endpoint_is_still_starting_fails_before_any_predict(hook, model, slow_endpoints):
    emulator = slow_endpoints
    hook.create_realtime_endpoint(model)
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match="EndpointStatus UPDATING") as error:
        hook.predict(model, breast_cancer_records(1)[0])

    assert error.value.field == "ml_model_id"
    assert "Predict" not in emulator.call_counts()


def test_a_retry_of_the_delete_task_after_the_delete_call_succeeds(hook, model, emulator):
    hook.create_realtime_endpoint(model)
    hook.wait_for_realtime_endpoint(model, "READY", delay=0.05, max_attempts=400)
    emulator.reset_call_counts()
    first_try = DeleteRealtimeEndpointOperator(task_id="undeploy", ml_model_id=model, **QUICK)
    delete = first_try.hook.delete_realtime_endpoint

    def delete_then_die(ml_model_id: str) -> None:
        # The call reached the service; the worker is killed before its answer is used.
        delete(ml_model_id)
        worker_dies()

    first_try.hook.delete_realtime_endpoint = delete_then_die
    with pytest.raises(SystemExit):
        first_try.execute(context_for(**task_identity()))
    DeleteRealtimeEndpointOperator(task_id="undeploy", ml_model_id=model, **QUICK).execute(
        context_for(**task_identity())
    )

    assert hook.get_endpoint_info(model).get("EndpointStatus", "NONE") == "NONE"
    assert emulator.call_counts()["DeleteRealtimeEndpoint"] == 1
