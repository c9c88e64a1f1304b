"""One timeout rule and one event contract for every way of waiting."""

from __future__ import annotations

import datetime
import logging

import pytest

from airflow_ml_provider.exceptions import BatchPredictionFailedError, MLModelFailedError, WaitTimeoutError
from airflow_ml_provider.kinds import BATCH_PREDICTION, ML_MODEL
from airflow_ml_provider.utils.status import Outcome
from airflow_ml_provider.waiting import EntityWait, WaitResult


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def job(status: str, **fields) -> dict:
    return {
        "BatchPredictionId": "bp",
        "Status": status,
        "ResponseMetadata": {"HTTPStatusCode": 200},
        **fields,
    }


def test_running_statuses_ask_for_another_poll_after_the_delay():
    wait = EntityWait(BATCH_PREDICTION, "bp", delay=30, max_attempts=10)
    assert wait.on_description(job("PENDING")) == 30
    assert wait.on_description(job("INPROGRESS")) == 30
    assert wait.attempts == 2


def test_each_status_is_logged_when_first_seen_then_every_tenth_poll(caplog):
    wait = EntityWait(BATCH_PREDICTION, "bp", delay=30, max_attempts=100)
    statuses = ["PENDING"] * 3 + ["INPROGRESS"] * 17
    with caplog.at_level(logging.INFO, logger="airflow_ml_provider.waiting"):
        for status in statuses:
            wait.on_description(job(status))
    assert [record.getMessage() for record in caplog.records] == [
        "Batch prediction bp is PENDING (attempt 1/100)",
        "Batch prediction bp is INPROGRESS (attempt 4/100)",
        "Batch prediction bp is INPROGRESS (attempt 10/100)",
        "Batch prediction bp is INPROGRESS (attempt 20/100)",
    ]


@pytest.mark.parametrize(
    ("status", "outcome", "message"),
    [
        ("COMPLETED", Outcome.SUCCESS, ""),
        ("FAILED", Outcome.FAILED, "Model not found"),
        ("DELETED", Outcome.DELETED, ""),
        ("INVALID", Outcome.FAILED, "unexpected status 'INVALID'"),
        (None, Outcome.FAILED, "unexpected status None"),
    ],
)
def test_final_statuses_end_the_wait_with_their_outcome(status, outcome, message):
    fields = {"Message": "Model not found"} if status == "FAILED" else {}
    result = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=5).on_description(job(status, **fields))
    assert isinstance(result, WaitResult)
    assert result.outcome is outcome
    assert result.message.startswith(message)


def test_descriptions_are_kept_json_safe():
    created = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    result = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=5).on_description(
        job("COMPLETED", CreatedAt=created)
    )
    assert result.description == {
        "BatchPredictionId": "bp",
        "Status": "COMPLETED",
        "CreatedAt": created.isoformat(),
    }


def test_throttled_polls_count_as_attempts_and_back_off_up_to_a_cap():
    wait = EntityWait(BATCH_PREDICTION, "bp", delay=10, max_attempts=100)
    delays = [wait.on_error("ThrottlingException", "Rate exceeded") for _ in range(6)]
    assert delays == [10, 20, 40, 80, 80, 80]
    assert wait.attempts == 6
    assert wait.on_description(job("PENDING")) == 10


def test_a_wait_that_is_only_throttled_still_ends_at_its_attempt_limit():
    wait = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=3)
    wait.on_error("ThrottlingException", "Rate exceeded")
    wait.on_error("InternalServerException", "boom")
    result = wait.on_error("ThrottlingException", "Rate exceeded")
    assert result.outcome is Outcome.TIMEOUT
    assert "3 polls made, the limit is 3" in result.message


def test_errors_that_polling_again_cannot_fix_end_the_wait_with_the_service_message():
    result = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=3).on_error(
        "AccessDeniedException", "AmazonML is no longer available to new customers"
    )
    assert result.outcome is Outcome.ERROR
    assert result.message == "AccessDeniedException: AmazonML is no longer available to new customers"


def test_the_deadline_caps_the_sleep_and_ends_the_wait():
    clock = FakeClock()
    wait = EntityWait(BATCH_PREDICTION, "bp", delay=30, deadline=clock.now + 45, clock=clock)
    assert wait.on_description(job("PENDING")) == 30
    clock.now += 30
    assert wait.on_description(job("PENDING")) == 15
    clock.now += 15
    result = wait.on_description(job("INPROGRESS"))
    assert result.outcome is Outcome.TIMEOUT
    assert "while it was INPROGRESS" in result.message


def test_a_success_carries_the_description_and_other_outcomes_raise_typed_errors():
    wait = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=1)
    assert wait.on_description(job("COMPLETED")).description_or_raise()["Status"] == "COMPLETED"
    failed = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=1).on_description(
        job("FAILED", Message="No such model")
    )
    with pytest.raises(
        BatchPredictionFailedError, match="bp did not complete \\(status FAILED\\): No such model"
    ):
        failed.description_or_raise()
    timeout = EntityWait(ML_MODEL, "m", delay=1, max_attempts=1).on_description({"Status": "PENDING"})
    with pytest.raises(WaitTimeoutError, match="ml model m"):
        timeout.description_or_raise()
    deleted = EntityWait(ML_MODEL, "m", delay=1, max_attempts=1).on_description({"Status": "DELETED"})
    with pytest.raises(MLModelFailedError, match="status DELETED"):
        deleted.description_or_raise()


def test_events_round_trip():
    result = EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=1).on_description(job("COMPLETED"))
    assert WaitResult.from_event(result.to_event(), BATCH_PREDICTION, "bp") == result


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (None, "instead of an event"),
        ("success", "instead of an event"),
        ({"status": "success"}, "has keys"),
        (
            {
                "status": "done",
                "entity_kind": "batch_prediction",
                "entity_id": "bp",
                "description": {},
                "message": "",
            },
            "unknown status 'done'",
        ),
        (
            {
                "status": "success",
                "entity_kind": "batch_prediction",
                "entity_id": "other",
                "description": {"Status": "COMPLETED"},
                "message": "",
            },
            "about batch_prediction 'other'",
        ),
        (
            {
                "status": "success",
                "entity_kind": "ml_model",
                "entity_id": "bp",
                "description": {"Status": "COMPLETED"},
                "message": "",
            },
            "about ml_model 'bp'",
        ),
        (
            {
                "status": "success",
                "entity_kind": "batch_prediction",
                "entity_id": "bp",
                "description": {"Status": "INPROGRESS"},
                "message": "",
            },
            "claims success without a COMPLETED",
        ),
        (
            {
                "status": "success",
                "entity_kind": "batch_prediction",
                "entity_id": "bp",
                "description": None,
                "message": "",
            },
            "claims success without a COMPLETED",
        ),
    ],
)
def test_malformed_or_foreign_events_are_errors_never_success(event, problem):
    result = WaitResult.from_event(event, BATCH_PREDICTION, "bp")
    assert result.outcome is Outcome.ERROR
    assert problem in result.message
    with pytest.raises(BatchPredictionFailedError, match="Malformed trigger event"):
        result.description_or_raise()


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "InternalServerException", "502", "503", "429", "SlowDown"]
)
def test_transient_errors_are_retried_including_bare_http_statuses(code):
    assert EntityWait(BATCH_PREDICTION, "bp", delay=1, max_attempts=5).on_error(code, "try again") == 1


@pytest.mark.parametrize(
    "event",
    [
        {
            "status": ["success"],
            "entity_kind": "batch_prediction",
            "entity_id": "bp",
            "description": {},
            "message": "",
        },
        {
            "status": "failed",
            "entity_kind": "batch_prediction",
            "entity_id": "bp",
            "description": "oops",
            "message": "",
        },
        {
            "status": "failed",
            "entity_kind": "batch_prediction",
            "entity_id": "bp",
            "description": None,
            "message": 3,
        },
    ],
)
def test_events_of_the_wrong_types_are_typed_errors(event):
    assert WaitResult.from_event(event, BATCH_PREDICTION, "bp").outcome is Outcome.ERROR


def test_nested_timestamps_are_json_safe_too():
    created = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    result = EntityWait(ML_MODEL, "m", delay=1, max_attempts=1).on_description(
        {"Status": "COMPLETED", "EndpointInfo": {"CreatedAt": created}}
    )
    assert result.description["EndpointInfo"] == {"CreatedAt": created.isoformat()}
