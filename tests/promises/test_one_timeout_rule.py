"""Promise: a wait ends at its deadline, never later because the poller paused; a failing or throttled list
never changes an answer; Gets while lists fail are bounded per cycle, nearest deadline first."""

# The poller tests' fixtures (a module's own emulator, a model, the connection) are imported, not redefined.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.triggers import poller
from amazon_ml_emulator import Emulator
from tests.triggers.test_poller import (  # noqa: F401 - fixtures
    NO_RETRIES,
    connection,
    create_jobs,
    emulator,
    events_of,
    ml,
    model,
    polled_waits,
    trigger,
    until,
)

pytestmark = pytest.mark.timing


async def test_a_slow_list_call_does_not_carry_a_wait_past_its_deadline(
    emulator: Emulator, ml: Any, model: tuple[str, str]
) -> None:
    # Four jobs of one connection are deferred and polled; then the service answers
    # DescribeBatchPredictions slowly (2 s), as under a brownout, while GetBatchPrediction stays quick.
    emulator.configure(job_duration=60)
    ids = create_jobs(ml, model, 5)
    others = asyncio.ensure_future(events_of([trigger(job, waiter_delay=0.5) for job in ids[1:]]))
    await until(lambda: polled_waits() == 4, timeout=60)
    emulator.configure(latency=2.0, operations=["DescribeBatchPredictions"])
    # A fifth task defers with a deadline one second away.
    started = time.time()
    early = trigger(ids[0], waiter_delay=0.5, deadline=started + 1.0)

    (event,) = (await events_of([early]))[0]
    ended = time.time() - started

    emulator.configure(latency=0.0)
    others.cancel()
    await asyncio.gather(others, return_exceptions=True)
    assert event["status"] == "timeout"
    # Polling on its own, the trigger would have timed out at 1 s: its Gets are quick.
    assert ended < 1.0 + poller.DEADLINE_GRACE_SECONDS + 0.5, (
        f"the wait timed out {ended:.1f} s after it began; its deadline was 1 s"
    )


async def test_completed_jobs_sharing_a_deadline_are_asked_for_before_they_time_out(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mapped task deferred 30 jobs at once: same deadline.
    emulator.configure(job_duration=60)
    running, *ids = create_jobs(ml, model, 31)
    background = asyncio.ensure_future(events_of([trigger(running, waiter_delay=1.0)]))
    await until(lambda: polled_waits() == 1, timeout=60)
    for batch_prediction_id in ids:
        emulator.set_status(batch_prediction_id, "COMPLETED")
    # Lists are throttled from now on; every GetBatchPrediction is answered at once.
    emulator.configure(throttle_rate=1.0, operations=["DescribeBatchPredictions"])
    emulator.reset_call_counts()
    started = time.time()

    events = await events_of(
        [trigger(job, waiter_delay=1.0, deadline=started + 2.5, botocore_config=NO_RETRIES) for job in ids]
    )

    background.cancel()
    await asyncio.gather(background, return_exceptions=True)
    statuses = [each[0]["status"] for each in events]
    gets = emulator.call_details()["GetBatchPrediction"]
    assert gets["injected"] == 0, "the service answered every Get it was asked"
    assert statuses == ["success"] * 30, (
        f"{statuses.count('timeout')} COMPLETED jobs timed out at their deadline; Gets made: {gets}"
    )


async def test_gets_stay_a_few_at_a_time_while_the_list_call_is_refused(
    emulator: Emulator, ml: Any, model: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The role lacks DescribeBatchPredictions (the service refuses the list, not a throttle): the
    # emulator refuses a malformed filter the same way, with a non-retryable error. Every due job is
    # then asked for, nearest deadline first, but never more at once than the concurrency limit.
    monkeypatch.setattr(poller, "MAX_CONCURRENT_GETS", 3)
    describe = MachineLearningHook.describe_batch_predictions_async

    async def refused(self: MachineLearningHook, client: Any, **filters: Any) -> dict[str, Any]:
        refused_filter = {"FilterVariable": "LastUpdatedAt", "GE": "not a time"}
        return await describe(self, client, **{**filters, **refused_filter})

    monkeypatch.setattr(MachineLearningHook, "describe_batch_predictions_async", refused)
    in_flight, most_in_flight = 0, 0
    poll_async = MachineLearningHook.poll_async

    async def count(self: MachineLearningHook, shared: Any, wait: Any) -> Any:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            return await poll_async(self, shared, wait)
        finally:
            in_flight -= 1

    monkeypatch.setattr(MachineLearningHook, "poll_async", count)
    emulator.configure(job_duration=60)
    ids = create_jobs(ml, model, 8)
    started = time.time()

    run = asyncio.ensure_future(
        events_of([trigger(job, waiter_delay=0.5, deadline=started + 60) for job in ids])
    )
    await until(lambda: poller.running_pollers() and poller.running_pollers()[0].cycles >= 3, timeout=60)
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)

    refusals = emulator.call_details()["DescribeBatchPredictions"]["failed"]
    assert refusals >= 1, "the list call was never refused"
    assert 1 <= most_in_flight <= 3, f"GetBatchPrediction calls in flight at once: {most_in_flight}"
