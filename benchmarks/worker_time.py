"""Worker-slot seconds per batch prediction: a poking sensor against a deferrable one, for jobs of two lengths.

The sensor's own methods are called with an empty context (neither mode reads it when poking): poke
mode is the time ``execute()`` blocks; deferrable mode is the time ``execute()`` takes until it raises
``TaskDeferred`` plus the time ``execute_complete()`` takes with the trigger's event. The trigger itself
runs in this process between the two, as the triggerer would run it, and is not worker time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from typing import Any

from benchmarks.common import (
    boto3_clients,
    create_batch_predictions,
    emulator_process,
    machine,
    prepare_model,
    table,
    temporary_airflow_home,
    write_result,
)

# Emulated seconds per real second: a job of minutes on the service's clock takes seconds here.
TIME_SCALE = 30.0
POKE_INTERVAL = 0.5


def poke_mode(batch_prediction_id: str) -> float:
    from airflow_ml_provider.sensors.batch_prediction import BatchPredictionSensor

    sensor = BatchPredictionSensor(
        task_id="wait_poking",
        batch_prediction_id=batch_prediction_id,
        poke_interval=POKE_INTERVAL,
        timeout=600,
        mode="poke",
    )
    started = time.perf_counter()
    sensor.execute({})  # type: ignore[arg-type]
    return time.perf_counter() - started


def deferrable_mode(batch_prediction_id: str) -> tuple[float, float]:
    """Worker seconds of a deferred sensor, and the seconds the trigger waited in between."""
    from airflow.exceptions import TaskDeferred

    from airflow_ml_provider.sensors.batch_prediction import BatchPredictionSensor

    sensor = BatchPredictionSensor(
        task_id="wait_deferred",
        batch_prediction_id=batch_prediction_id,
        poke_interval=POKE_INTERVAL,
        timeout=600,
        deferrable=True,
    )
    started = time.perf_counter()
    try:
        sensor.execute({})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        trigger = deferred.trigger
    else:
        raise RuntimeError("the job ended before the sensor deferred; make it longer")
    before_defer = time.perf_counter() - started

    async def run_trigger() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise RuntimeError("the trigger ended without an event")

    waited_from = time.perf_counter()
    payload = asyncio.run(run_trigger())
    trigger_seconds = time.perf_counter() - waited_from
    resumed = time.perf_counter()
    sensor.execute_complete({}, payload)  # type: ignore[arg-type]
    return before_defer + time.perf_counter() - resumed, trigger_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--durations", type=float, nargs="+", default=[60.0, 300.0], help="emulated job seconds"
    )
    parser.add_argument("--output", default="worker_time")
    args = parser.parse_args(argv)
    # A line per poll of each wait would drown the table; the waits themselves are not measured here.
    logging.getLogger("airflow_ml_provider").setLevel(logging.WARNING)
    home = temporary_airflow_home()
    rows = []
    with emulator_process("--pending-duration", "0", "--job-duration", "0.05") as emulator:
        os.environ.update(emulator.environment(home))
        ml, s3 = boto3_clients(emulator.endpoint_url, emulator.s3_endpoint_url)
        model_id, data_source_id = prepare_model(ml, s3)
        control = emulator.client()
        control.configure(time_scale=TIME_SCALE)
        # One short job in each mode first, so that neither measured run pays for first imports.
        for duration in (15.0, *args.durations):
            control.configure(job_duration=duration)
            measured: dict[str, Any] = {"job_seconds_emulated": duration, "time_scale": TIME_SCALE}
            for mode in ("poke", "deferrable"):
                batch_prediction_id = f"bp-worker-{mode}-{uuid.uuid4().hex[:8]}"
                create_batch_predictions(ml, model_id, data_source_id, [batch_prediction_id])
                print(f"worker_time: {mode}, job of {duration:.0f} s ...", file=sys.stderr, flush=True)
                if mode == "poke":
                    measured["poke_worker_seconds"] = round(poke_mode(batch_prediction_id), 3)
                else:
                    worker, waited = deferrable_mode(batch_prediction_id)
                    measured["deferrable_worker_seconds"] = round(worker, 3)
                    measured["deferrable_trigger_seconds"] = round(waited, 3)
            if duration in args.durations:
                rows.append(measured)
    shortest, longest = rows[0], rows[-1]
    result = {
        "machine": machine(),
        "poke_interval": POKE_INTERVAL,
        "results": rows,
        "deferrable_growth": round(
            longest["deferrable_worker_seconds"] / shortest["deferrable_worker_seconds"], 2
        ),
        "poke_growth": round(longest["poke_worker_seconds"] / shortest["poke_worker_seconds"], 2),
    }
    print(report(result))
    print(f"\nwritten to {write_result(args.output, result)}")
    return 0


def report(result: dict[str, Any]) -> str:
    rows = [
        (
            f"{row['job_seconds_emulated']:.0f} s ({row['job_seconds_emulated'] / row['time_scale']:.1f} s real)",
            row["poke_worker_seconds"],
            row["deferrable_worker_seconds"],
            round(row["poke_worker_seconds"] / row["deferrable_worker_seconds"], 1),
        )
        for row in result["results"]
    ]
    return (
        table(("job (emulated)", "poke worker s", "deferrable worker s", "poke / deferrable"), rows)
        + f"\n\nLongest job / shortest job: poke x{result['poke_growth']}, "
        f"deferrable x{result['deferrable_growth']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
