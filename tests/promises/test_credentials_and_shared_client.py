"""Promise: the shared client is renewed from the connection (periodically and on refused credentials)
without failing the calls that are in flight on the client it replaces."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_ml_provider.hooks import machine_learning
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook


async def test_a_call_in_flight_on_a_renewed_client_still_gets_its_answer(submit, emulator, monkeypatch):
    # Real value: renewal every 900 s, scaled down here. A call may be in flight on the old client for
    # minutes: botocore's defaults allow 60 s read timeouts and several attempts on a slow service.
    monkeypatch.setattr(machine_learning, "CLIENT_RENEW_SECONDS", 0.9)
    job_id = submit()
    hook = MachineLearningHook()

    def get(client: Any) -> Any:
        return client.get_batch_prediction(BatchPredictionId=job_id)

    async with hook.async_client() as shared:
        await shared.call(get)  # the client is open and warm
        emulator.configure(latency=1.5, operations=["GetBatchPrediction"])
        slow = asyncio.ensure_future(shared.call(get))
        await asyncio.sleep(1.0)
        # Another trigger polls now: the client is due for renewal and is replaced.
        renewing = asyncio.ensure_future(shared.call(get))
        answers = await asyncio.gather(slow, renewing, return_exceptions=True)
        emulator.configure(latency=0.0)

    assert shared.renewals == 1
    errors = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not errors, f"calls failed across the renewal: {errors!r}"
    assert [answer["BatchPredictionId"] for answer in answers] == [job_id, job_id]


async def test_a_connection_that_cannot_be_read_for_a_moment_fails_no_wait(submit, emulator, monkeypatch):
    # The shared client is rebuilt from the connection every 900 s (here every 1 s). If reading the
    # connection fails at that moment (the API server or secrets backend hiccups), the waits should
    # carry on with the client they have and read it again later, not end.
    from airflow_ml_provider.triggers.batch_prediction import BatchPredictionTrigger
    from airflow_ml_provider.triggers.poller import polled_waits

    monkeypatch.setattr(machine_learning, "CLIENT_RENEW_SECONDS", 1.0)
    emulator.configure(job_duration=6)
    ids = [submit() for _ in range(3)]
    triggers = [
        BatchPredictionTrigger(batch_prediction_id=job, waiter_delay=0.3, deadline=time.time() + 120)
        for job in ids
    ]

    async def events_of(one: BatchPredictionTrigger) -> list[dict[str, Any]]:
        return [event.payload async for event in one.run()]

    run = asyncio.ensure_future(asyncio.gather(*(events_of(one) for one in triggers)))
    started = time.monotonic()
    while polled_waits() < 3:
        assert time.monotonic() - started < 60, "the triggers never polled"
        await asyncio.sleep(0.05)
    good = emulator.connection_json()
    # The lookup finds nothing for two seconds (in a triggerer: the API server answers an error).
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    await asyncio.sleep(2.0)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", good)
    events = await asyncio.wait_for(run, timeout=120)

    assert [each[0]["status"] for each in events] == ["success"] * 3, [each[0]["message"] for each in events]
