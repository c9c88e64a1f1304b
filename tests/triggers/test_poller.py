"""The shared batch prediction poller against a real emulator, over HTTP with real aiobotocore."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from airflow_ml_provider import waiting
from airflow_ml_provider.hooks import machine_learning
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook, shared_clients
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.triggers import poller
from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
from airflow_ml_provider.triggers.poller import polled_waits, running_pollers
from amazon_ml_emulator import Emulator
from amazon_ml_emulator.datasets import TINY_CSV, TINY_SCHEMA

SETTINGS = {"job_duration": 0.3, "pending_duration": 0.1, "concurrency_limit": 25}
BUCKET = "poller-tests"
# The aiobotocore client makes one attempt per poll, so every injected fault reaches the poller.
NO_RETRIES = {"retries": {"total_max_attempts": 1}}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(**SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def ml(emulator: Emulator) -> Any:
    session = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return session.client("machinelearning", endpoint_url=emulator.endpoint_url)


@pytest.fixture(scope="module")
def model(emulator: Emulator, ml: Any) -> tuple[str, str]:
    """A trained model and a data source to score, shared by the module's tests."""
    session = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    s3 = session.client("s3", endpoint_url=emulator.s3_endpoint_url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="data/data.csv", Body=TINY_CSV.encode())
    suffix = uuid.uuid4().hex[:8]
    data_source_id, model_id = f"ds-{suffix}", f"model-{suffix}"
    ml.create_data_source_from_s3(
        DataSourceId=data_source_id,
        DataSpec={"DataLocationS3": f"s3://{BUCKET}/data/", "DataSchema": TINY_SCHEMA},
        ComputeStatistics=True,
    )
    ml.create_ml_model(MLModelId=model_id, MLModelType="BINARY", TrainingDataSourceId=data_source_id)
    deadline = time.monotonic() + 30
    while ml.get_ml_model(MLModelId=model_id)["Status"] != "COMPLETED":
        assert time.monotonic() < deadline, "the model did not train"
        time.sleep(0.05)
    return model_id, data_source_id


@pytest.fixture(autouse=True)
def connection(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", emulator.connection_json())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    yield
    emulator.configure(
        **SETTINGS, throttle_rate=0.0, error_rate=0.0, operations=None, seed=None, refused_access_keys={}
    )


def create_jobs(ml: Any, model: tuple[str, str], count: int) -> list[str]:
    ids = [f"bp-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    for batch_prediction_id in ids:
        ml.create_batch_prediction(
            BatchPredictionId=batch_prediction_id,
            MLModelId=model[0],
            BatchPredictionDataSourceId=model[1],
            OutputUri=f"s3://{BUCKET}/output/{batch_prediction_id}/",
        )
    return ids


def completed_jobs(emulator: Emulator, ml: Any, model: tuple[str, str], count: int) -> list[str]:
    """Create ``count`` jobs and end them COMPLETED at once: their first poll decides them."""
    ids = create_jobs(ml, model, count)
    for batch_prediction_id in ids:
        emulator.set_status(batch_prediction_id, "COMPLETED")
    return ids


def listing_started(monkeypatch: pytest.MonkeyPatch, slowdown: float = 0.0) -> asyncio.Event:
    """An event set whenever the poller starts a list call, each call held ``slowdown`` seconds first."""
    listing = asyncio.Event()
    describe = MachineLearningHook.describe_batch_predictions_async

    async def noticed(self: MachineLearningHook, client: Any, **filters: Any) -> dict[str, Any]:
        listing.set()
        await asyncio.sleep(slowdown)
        return await describe(self, client, **filters)

    monkeypatch.setattr(MachineLearningHook, "describe_batch_predictions_async", noticed)
    return listing


def trigger(batch_prediction_id: str, **kwargs: Any) -> BatchPredictionTrigger:
    settings: dict[str, Any] = {"waiter_delay": 0.3, "deadline": time.time() + 60, **kwargs}
    return BatchPredictionTrigger(batch_prediction_id=batch_prediction_id, **settings)


async def events_of(triggers: list[BatchPredictionTrigger]) -> list[list[dict[str, Any]]]:
    async def collect(one: BatchPredictionTrigger) -> list[dict[str, Any]]:
        return [event.payload async for event in one.run()]

    return await asyncio.wait_for(asyncio.gather(*(collect(one) for one in triggers)), timeout=60)


async def until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def waiting_jobs(
    ml: Any, model: tuple[str, str], count: int, **trigger_kwargs: Any
) -> tuple[list[str], asyncio.Future[list[list[dict[str, Any]]]]]:
    """Create ``count`` jobs and run a trigger on each; return once every trigger has polled."""
    ids = create_jobs(ml, model, count)
    run = asyncio.ensure_future(events_of([trigger(job, **trigger_kwargs) for job in ids]))
    await until(lambda: polled_waits() == count)
    return ids, run


def watched() -> int:
    return sum(len(poller.watches) for poller in running_pollers())


async def test_many_triggers_share_one_poller_and_one_client(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    emulator.configure(job_duration=30)
    ids, run = await waiting_jobs(ml, model, 30)
    assert len(running_pollers()) == 1
    assert shared_clients.open_count() == 1

    emulator.configure(job_duration=0.3)
    events = await run

    assert [[event["status"] for event in each] for each in events] == [["success"]] * 30
    assert [each[0]["entity_id"] for each in events] == ids
    assert all(each[0]["description"]["Status"] == "COMPLETED" for each in events)
    await until(lambda: not running_pollers() and shared_clients.open_count() == 0)


async def test_each_ending_gives_one_event_with_its_status(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    emulator.configure(job_duration=30)
    completed, failed, deleted, unknown = create_jobs(ml, model, 4)
    run = asyncio.ensure_future(events_of([trigger(job) for job in (completed, failed, deleted, unknown)]))
    await until(lambda: watched() == 4)

    emulator.fail_job(failed, message="the input had no rows")
    ml.delete_batch_prediction(BatchPredictionId=deleted)
    emulator.set_status(unknown, "INVALID")
    emulator.configure(job_duration=0.3)
    events = await run

    assert [len(each) for each in events] == [1, 1, 1, 1]
    by_id = {each[0]["entity_id"]: each[0] for each in events}
    assert by_id[completed]["status"] == "success"
    assert by_id[failed]["status"] == "failed"
    assert by_id[failed]["message"] == "the input had no rows"
    assert by_id[deleted]["status"] == "deleted"
    assert by_id[unknown]["status"] == "failed"
    assert "unexpected status 'INVALID'" in by_id[unknown]["message"]


def spy_on_lists(monkeypatch: pytest.MonkeyPatch, drop_updated: bool = False) -> list[dict[str, Any]]:
    """Record every list call's filter; with ``drop_updated`` the recently-updated list shows nothing."""
    calls: list[dict[str, Any]] = []
    describe = MachineLearningHook.describe_batch_predictions_async

    async def spy(self: MachineLearningHook, client: Any, **filters: Any) -> dict[str, Any]:
        calls.append(filters)
        page = await describe(self, client, **filters)
        if drop_updated and filters.get("FilterVariable") == "LastUpdatedAt":
            return {**page, "Results": []}
        return page

    monkeypatch.setattr(MachineLearningHook, "describe_batch_predictions_async", spy)
    return calls


async def test_finished_jobs_are_resolved_from_the_recently_updated_list(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_lists(monkeypatch)
    emulator.configure(job_duration=30)
    ids, run = await waiting_jobs(ml, model, 12)
    emulator.reset_call_counts()

    emulator.fail_job(ids[0], message="the input had no rows")
    for batch_prediction_id in ids[1:]:
        emulator.set_status(batch_prediction_id, "COMPLETED")
    events = await run

    assert [each[0]["status"] for each in events] == ["failed"] + ["success"] * 11
    assert events[0][0]["message"] == "the input had no rows"
    # Everything the sensor's result dict reads is in the list entry the event carries.
    for each in events[1:]:
        description = each[0]["description"]
        assert description["BatchPredictionId"] == each[0]["entity_id"]
        assert {"OutputUri", "MLModelId", "BatchPredictionDataSourceId", "InputDataLocationS3"} <= set(
            description
        )
    assert emulator.call_counts().get("GetBatchPrediction", 0) == 0
    assert any(call.get("FilterVariable") == "LastUpdatedAt" and "GE" in call for call in calls)


async def test_jobs_missing_from_every_list_are_resolved_with_get(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_lists(monkeypatch, drop_updated=True)
    emulator.configure(job_duration=30)
    ids, run = await waiting_jobs(ml, model, 12)
    emulator.reset_call_counts()

    for batch_prediction_id in ids:
        emulator.set_status(batch_prediction_id, "COMPLETED")
    events = await run

    assert [each[0]["status"] for each in events] == ["success"] * 12
    # The recently updated list lags (shows none of them): each is asked for once, by ID.
    assert any(call.get("FilterVariable") == "LastUpdatedAt" for call in calls)
    assert emulator.call_counts().get("GetBatchPrediction") == 12


async def test_a_refused_recently_updated_list_leaves_the_jobs_to_get(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    describe = MachineLearningHook.describe_batch_predictions_async

    async def refuse_updated(self: MachineLearningHook, client: Any, **filters: Any) -> dict[str, Any]:
        if filters.get("FilterVariable") == "LastUpdatedAt":
            filters = {**filters, "GE": "not a time"}
        return await describe(self, client, **filters)

    monkeypatch.setattr(MachineLearningHook, "describe_batch_predictions_async", refuse_updated)
    emulator.configure(job_duration=30)
    ids, run = await waiting_jobs(ml, model, 6)
    emulator.reset_call_counts()

    for batch_prediction_id in ids:
        emulator.set_status(batch_prediction_id, "COMPLETED")
    events = await run

    assert [each[0]["status"] for each in events] == ["success"] * 6
    assert emulator.call_counts().get("GetBatchPrediction") == 6


async def test_throttling_and_server_errors_still_end_every_wait(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    ids = create_jobs(ml, model, 20)
    emulator.configure(throttle_rate=0.3, error_rate=0.1, seed=7)
    triggers = [
        trigger(batch_prediction_id, waiter_delay=0.1, botocore_config=NO_RETRIES)
        for batch_prediction_id in ids
    ]

    events = await events_of(triggers)

    assert [[event["status"] for event in each] for each in events] == [["success"]] * 20
    details = emulator.call_details()
    assert details["DescribeBatchPredictions"]["injected"] + details["GetBatchPrediction"]["injected"] > 0


@pytest.mark.timing
async def test_a_throttled_list_never_changes_an_answer(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    ids = completed_jobs(emulator, ml, model, 5)
    emulator.configure(throttle_rate=1.0, operations=["DescribeBatchPredictions"])
    emulator.reset_call_counts()
    started = time.time()
    triggers = [
        trigger(job, waiter_delay=1.0, deadline=started + 6, botocore_config=NO_RETRIES) for job in ids
    ]

    events = await events_of(triggers)

    assert [each[0]["status"] for each in events] == ["success"] * 5
    assert time.time() - started < 2
    details = emulator.call_details()
    assert details["DescribeBatchPredictions"]["injected"] >= 1
    assert details["GetBatchPrediction"]["succeeded"] == 5


@pytest.mark.timing
async def test_while_everything_is_throttled_each_wait_ends_at_its_deadline_not_later(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    emulator.configure(job_duration=30)
    ids = create_jobs(ml, model, 5)
    emulator.configure(throttle_rate=1.0, operations=["DescribeBatchPredictions", "GetBatchPrediction"])
    started = time.time()
    triggers = [
        trigger(job, waiter_delay=1.0, deadline=started + 3, botocore_config=NO_RETRIES) for job in ids
    ]

    events = await events_of(triggers)

    assert [each[0]["status"] for each in events] == ["timeout"] * 5
    assert all("the deadline passed" in each[0]["message"] for each in events)
    # Backing off (1, 2, 4 s ...) never carries a wait past its deadline.
    assert 3 <= time.time() - started < 3 + 1


@pytest.mark.timing
async def test_while_lists_fail_every_due_job_is_asked_for_nearest_deadline_first_a_few_at_a_time(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller, "MAX_CONCURRENT_GETS", 3)
    asked: list[str] = []
    in_flight, most_in_flight = 0, 0
    poll_async = MachineLearningHook.poll_async

    async def counted(self: MachineLearningHook, shared: Any, wait: Any) -> Any:
        nonlocal in_flight, most_in_flight
        asked.append(wait.entity_id)
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            return await poll_async(self, shared, wait)
        finally:
            in_flight -= 1

    monkeypatch.setattr(MachineLearningHook, "poll_async", counted)
    ids = completed_jobs(emulator, ml, model, 8)
    emulator.configure(throttle_rate=1.0, operations=["DescribeBatchPredictions"])
    emulator.reset_call_counts()
    started = time.time()
    # The later a job was created, the nearer its deadline.
    deadlines = [started + 60 - index for index in range(8)]

    events = await events_of(
        [
            trigger(job, waiter_delay=0.5, deadline=deadline, botocore_config=NO_RETRIES)
            for job, deadline in zip(ids, deadlines, strict=True)
        ]
    )

    assert [each[0]["status"] for each in events] == ["success"] * 8
    assert asked == ids[::-1]
    assert most_in_flight <= 3
    assert emulator.call_details()["DescribeBatchPredictions"]["injected"] >= 1


def test_a_wait_pulled_into_a_cycle_just_before_its_grid_point_is_not_polled_again_at_once():
    delay = 5.0
    grid = 1_000_000.0
    # Due at the grid point, served by a cycle that began 0.03 s early: next at the following point.
    assert poller.next_due(grid - 0.03, delay, delay) == grid + delay
    assert poller.next_due(grid, delay, delay) == grid + delay
    assert poller.next_due(grid + 1.0, delay, delay) == grid + delay
    # A shorter sleep (a deadline close by) is kept exact.
    assert poller.next_due(grid, 1.5, delay) == grid + 1.5


def connection_with_key(emulator: Emulator, access_key: str) -> str:
    connection = json.loads(emulator.connection_json())
    connection.update(login=access_key, password=f"secret-of-{access_key}")
    return json.dumps(connection)


@pytest.mark.parametrize("refusal", ["ExpiredTokenException", "UnrecognizedClientException"])
async def test_expired_or_rotated_credentials_are_read_anew_from_the_connection(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "old-key"))
    emulator.configure(job_duration=30)
    _, run = await waiting_jobs(ml, model, 4, waiter_delay=0.2)
    emulator.reset_call_counts()
    # The session token expires (or the key is rotated away) and the connection gets new credentials.
    emulator.configure(refused_access_keys={"old-key": refusal})
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "new-key"))
    await asyncio.sleep(0.5)
    emulator.configure(job_duration=0.3)
    events = await run

    assert [each[0]["status"] for each in events] == ["success"] * 4
    refused = sum(counts["injected"] for counts in emulator.call_details().values())
    assert refused >= 1, "the old credentials were never refused"


@pytest.mark.parametrize("refusal", ["ExpiredTokenException", "UnrecognizedClientException"])
async def test_a_rotation_that_reaches_the_service_before_the_connection_is_ridden_out(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    # The service refuses the old key while the secrets backend still serves it, for 4 s.
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "old-key"))
    emulator.configure(job_duration=30)
    ids, run = await waiting_jobs(ml, model, 20, waiter_delay=0.5)
    emulator.configure(refused_access_keys={"old-key": refusal})
    await asyncio.sleep(4)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "new-key"))
    await asyncio.sleep(2)
    for batch_prediction_id in ids:
        emulator.set_status(batch_prediction_id, "COMPLETED")
    events = await run

    assert [each[0]["status"] for each in events] == ["success"] * 20


def test_a_poke_rides_out_a_rotation_lag_as_a_deferred_wait_does(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "old-key"))
    (batch_prediction_id,) = completed_jobs(emulator, ml, model, 1)
    emulator.configure(refused_access_keys={"old-key": "UnrecognizedClientException"})
    rotation = threading.Timer(
        2.0, monkeypatch.setenv, ("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "new-key"))
    )
    rotation.start()
    wait = waiting.EntityWait(BATCH_PREDICTION, batch_prediction_id, delay=0.5)
    step = MachineLearningHook().poll(wait)
    rotation.join()
    assert isinstance(step, waiting.WaitResult)
    assert step.outcome.value == "success"


async def test_a_key_that_is_simply_wrong_fails_every_wait_with_an_error_naming_the_connection(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_with_key(emulator, "wrong-key"))
    # A refusal may be a rotation's lag for a while (60 s); here for half a second, then it is final.
    monkeypatch.setitem(waiting.LAG_GRACE_SECONDS, "UnrecognizedClientException", 0.5)
    emulator.configure(job_duration=30, refused_access_keys={"wrong-key": "UnrecognizedClientException"})
    ids = create_jobs(ml, model, 3)

    events = await events_of([trigger(job, waiter_delay=0.2) for job in ids])

    assert [each[0]["status"] for each in events] == ["error"] * 3
    for each in events:
        assert each[0]["error_code"] == "UnrecognizedClientException"
        assert "Airflow connection 'aws_default'" in each[0]["message"]


async def test_one_poller_serves_a_connection_whatever_time_its_waits_arrive(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Clients are rebuilt every 0.3 s here: waits arriving across many renewals still share one poller.
    monkeypatch.setattr(machine_learning, "CLIENT_RENEW_SECONDS", 0.3)
    emulator.configure(job_duration=30)
    runs, pollers, entries = [], set(), set()
    for _wave in range(5):
        runs.append(asyncio.ensure_future(events_of([trigger(job) for job in create_jobs(ml, model, 4)])))
        await asyncio.sleep(0.4)
        pollers.update(id(each) for each in running_pollers())
        entries.add(shared_clients.entries())
    assert len(pollers) == 1
    assert entries == {1}
    assert running_pollers()[0].hook is not None
    renewals = next(iter(shared_clients._loops[asyncio.get_running_loop()].values())).renewals
    assert renewals >= 3
    emulator.configure(job_duration=0.3)
    events = [each for run in runs for each in await run]
    assert [each[0]["status"] for each in events] == ["success"] * 20
    await until(lambda: not running_pollers() and shared_clients.entries() == 0)


@pytest.mark.timing
async def test_deadlines_and_attempt_limits_are_per_trigger(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    emulator.configure(job_duration=30)
    early, limited, patient = create_jobs(ml, model, 3)
    started = time.time()
    short = trigger(early, deadline=started + 1.0)
    few = trigger(limited, waiter_max_attempts=3, deadline=None)
    long_wait = asyncio.ensure_future(events_of([trigger(patient)]))

    events = await events_of([short, few])

    assert [each[0]["status"] for each in events] == ["timeout", "timeout"]
    assert "the deadline passed" in events[0][0]["message"]
    assert "3 polls made" in events[1][0]["message"]
    assert time.time() - started < 1.0 + 0.3 + 1.0
    assert watched() == 1
    long_wait.cancel()
    await asyncio.gather(long_wait, return_exceptions=True)


async def test_a_cancelled_trigger_unregisters_and_the_last_one_stops_the_poller(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    emulator.configure(job_duration=30)
    first, second = create_jobs(ml, model, 2)
    tasks = [asyncio.ensure_future(events_of([trigger(job)])) for job in (first, second)]
    await until(lambda: watched() == 2)

    tasks[0].cancel()
    await asyncio.gather(tasks[0], return_exceptions=True)
    assert watched() == 1
    tasks[1].cancel()
    await asyncio.gather(tasks[1], return_exceptions=True)

    await until(lambda: not running_pollers() and shared_clients.open_count() == 0)


@pytest.mark.timing
async def test_api_calls_per_cycle_do_not_grow_with_the_number_of_jobs(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    emulator.configure(job_duration=60)
    _, run = await waiting_jobs(ml, model, 60, waiter_delay=0.5)
    await asyncio.sleep(0.5)
    cycles_before = running_pollers()[0].cycles
    emulator.reset_call_counts()

    await asyncio.sleep(2.5)

    counts = emulator.call_counts()
    cycles = running_pollers()[0].cycles - cycles_before
    assert 4 <= cycles <= 6
    assert counts.get("GetBatchPrediction", 0) == 0
    # 35 PENDING and 25 INPROGRESS jobs: one page of each per cycle, against 60 calls job by job; the
    # cycle under way when the window opened adds its tail.
    assert counts.get("DescribeBatchPredictions", 0) <= 2 * (cycles + 1)
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)


@pytest.mark.timing
async def test_waits_joining_one_by_one_are_answered_by_the_next_listing_within_one_delay(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    # A triggerer all day long: waits arrive one at a time while others of the same delay are watched.
    emulator.configure(job_duration=60)
    _, run = await waiting_jobs(ml, model, 20, waiter_delay=1.0)
    finished = completed_jobs(emulator, ml, model, 6)
    emulator.reset_call_counts()

    async def joined(batch_prediction_id: str) -> float:
        started = time.monotonic()
        [[event]] = await events_of([trigger(batch_prediction_id, waiter_delay=1.0)])
        assert event["status"] == "success"
        return time.monotonic() - started

    latecomers = []
    for batch_prediction_id in finished:
        latecomers.append(asyncio.ensure_future(joined(batch_prediction_id)))
        await asyncio.sleep(0.15)
    answered_after = await asyncio.wait_for(asyncio.gather(*latecomers), timeout=10)

    # Each was answered by the listing of the cycle it joined, at most one delay later.
    assert emulator.call_counts().get("GetBatchPrediction", 0) == 0
    assert max(answered_after) <= 1.0 + 0.5, answered_after
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)


@pytest.mark.timing
async def test_waits_joining_while_a_cycle_lists_wait_for_the_next_cycle_instead_of_a_get(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy account's listing takes a while; waits deferred meanwhile must not poll alone after it.
    emulator.configure(job_duration=60)
    _, run = await waiting_jobs(ml, model, 20, waiter_delay=1.0)
    listing = listing_started(monkeypatch, slowdown=0.4)
    # Fewer than the listing's pages: alone after the cycle, they would each be asked for.
    finished = completed_jobs(emulator, ml, model, 2)
    await asyncio.wait_for(listing.wait(), timeout=5)
    emulator.reset_call_counts()

    # Deferred while the cycle lists: their first poll belongs to the next cycle, not to one of their own.
    latecomers = [asyncio.ensure_future(events_of([trigger(job, waiter_delay=1.0)])) for job in finished]
    events = await asyncio.wait_for(asyncio.gather(*latecomers), timeout=10)

    assert [each[0][0]["status"] for each in events] == ["success"] * 2
    assert emulator.call_counts().get("GetBatchPrediction", 0) == 0
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)


@pytest.mark.timing
async def test_listing_pays_as_many_pages_as_the_watched_jobs_need_and_no_get(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 5 jobs stand in for the service's 100, so that 260 waits need what 26,000 would: 52 pages.
    monkeypatch.setattr(poller, "PAGE_LIMIT", 5)
    emulator.configure(job_duration=60)
    _, run = await waiting_jobs(ml, model, 260, waiter_delay=1.0)
    await asyncio.sleep(1.5)
    cycles_before = running_pollers()[0].cycles
    emulator.reset_call_counts()

    await asyncio.sleep(3.2)

    counts = emulator.call_counts()
    cycles = running_pollers()[0].cycles - cycles_before
    assert cycles >= 2
    assert counts.get("GetBatchPrediction", 0) == 0
    # ``cycles`` counts the cycles begun in the window; the one under way when it opened adds its tail.
    assert counts.get("DescribeBatchPredictions", 0) <= (260 // 5 + 2) * (cycles + 1)
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)


async def test_a_lost_connection_on_a_list_is_retried_like_on_a_get(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    describe = MachineLearningHook.describe_batch_predictions_async
    dropped: list[dict[str, Any]] = []

    async def drop_first(self: MachineLearningHook, client: Any, **filters: Any) -> dict[str, Any]:
        if not dropped:
            dropped.append(filters)
            raise EndpointConnectionError(endpoint_url=emulator.endpoint_url)
        return await describe(self, client, **filters)

    monkeypatch.setattr(MachineLearningHook, "describe_batch_predictions_async", drop_first)
    ids = create_jobs(ml, model, 5)

    events = await events_of([trigger(batch_prediction_id, waiter_delay=0.1) for batch_prediction_id in ids])

    assert dropped, "no list call was made"
    assert [[event["status"] for event in each] for each in events] == [["success"]] * 5
