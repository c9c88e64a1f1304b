"""Worker-slot seconds per batch prediction: a poking sensor against a deferrable one, for jobs of several lengths.

The sensor's own methods are called with an empty context (neither mode reads it when poking): poke
mode is the time ``execute()`` blocks; deferrable mode is the time ``execute()`` takes until it raises
``TaskDeferred`` plus the time ``execute_complete()`` takes with the trigger's event. The trigger itself
runs in this process between the two, as the triggerer would run it, and is not worker time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
TIME_SCALE = 60.0
POKE_INTERVAL = 0.5
WARM_UP_SECONDS = 60.0


@dataclass
class Spent:
    """What one wait cost the worker: wall (slot) seconds, CPU seconds and Amazon ML calls."""

    wall: float = 0.0
    cpu: float = 0.0
    calls: int = 0

    @contextlib.contextmanager
    def measure(self, control: Any) -> Iterator[None]:
        before = sum(control.call_counts().values())
        # A task starts in a fresh process: leave out collecting what the trigger run here left behind.
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.calls += sum(control.call_counts().values()) - before


def sensor(mode: str, batch_prediction_id: str) -> Any:
    from airflow_ml_provider.sensors.batch_prediction import BatchPredictionSensor

    return BatchPredictionSensor(
        task_id=f"wait_{mode}",
        batch_prediction_id=batch_prediction_id,
        poke_interval=POKE_INTERVAL,
        timeout=3600,
        mode="poke",
        deferrable=mode == "deferrable",
    )


def poke_mode(batch_prediction_id: str, control: Any) -> Spent:
    spent = Spent()
    with spent.measure(control):
        sensor("poke", batch_prediction_id).execute({})  # type: ignore[arg-type]
    return spent


def deferrable_mode(batch_prediction_id: str, control: Any) -> Spent:
    """The worker's share of a deferred wait; the trigger runs in between, as the triggerer would run it."""
    from airflow.exceptions import TaskDeferred

    deferred_sensor, spent = sensor("deferrable", batch_prediction_id), Spent()
    with spent.measure(control):
        try:
            deferred_sensor.execute({})  # type: ignore[arg-type]
        except TaskDeferred as deferred:
            trigger = deferred.trigger
        else:
            raise RuntimeError("the job ended before the sensor deferred; make it longer")

    async def run_trigger() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise RuntimeError("the trigger ended without an event")

    payload = asyncio.run(run_trigger())
    with spent.measure(control):
        deferred_sensor.execute_complete({}, payload)  # type: ignore[arg-type]
    return spent


MODES = {"poke": poke_mode, "deferrable": deferrable_mode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--durations", type=float, nargs="+", default=[60.0, 300.0, 600.0], help="emulated job seconds"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="waits per mode and duration (medians reported)"
    )
    parser.add_argument("--output", default="worker_time")
    args = parser.parse_args(argv)
    # A line per poll of each wait would drown the table; the waits themselves are not measured here.
    logging.getLogger("airflow_ml_provider").setLevel(logging.WARNING)
    home = temporary_airflow_home()
    samples: dict[tuple[float, str], list[Spent]] = {}
    with emulator_process("--pending-duration", "0", "--job-duration", "0.05") as emulator:
        os.environ.update(emulator.environment(home))
        ml, s3 = boto3_clients(emulator.endpoint_url, emulator.s3_endpoint_url)
        model_id, data_source_id = prepare_model(ml, s3)
        control = emulator.client()
        control.configure(time_scale=TIME_SCALE)
        # A short job in each mode first, so that no measured wait pays for first imports; then the
        # durations and modes interleaved, so that a busy spell of the machine falls on all of them.
        plan = [(WARM_UP_SECONDS, mode, False) for mode in MODES]
        plan += [
            (duration, mode, True)
            for _ in range(args.repeat)
            for duration in args.durations
            for mode in MODES
        ]
        for duration, mode, measured in plan:
            control.configure(job_duration=duration)
            batch_prediction_id = f"bp-worker-{mode}-{uuid.uuid4().hex[:8]}"
            create_batch_predictions(ml, model_id, data_source_id, [batch_prediction_id])
            print(f"worker_time: {mode}, job of {duration:.0f} s ...", file=sys.stderr, flush=True)
            spent = MODES[mode](batch_prediction_id, control)
            if measured:
                samples.setdefault((duration, mode), []).append(spent)
    rows = []
    for duration in args.durations:
        row: dict[str, Any] = {"job_seconds_emulated": duration, "time_scale": TIME_SCALE}
        for mode in MODES:
            spent = samples[duration, mode]
            row[f"{mode}_worker_seconds"] = round(statistics.median(item.wall for item in spent), 3)
            row[f"{mode}_cpu_seconds"] = round(statistics.median(item.cpu for item in spent), 3)
            row[f"{mode}_calls"] = sorted({item.calls for item in spent})
        rows.append(row)
    shortest, longest = rows[0], rows[-1]
    result = {
        "machine": machine(),
        "poke_interval": POKE_INTERVAL,
        "repeat": args.repeat,
        "results": rows,
        **{
            f"{mode}_{measure}_growth": round(
                longest[f"{mode}_{measure}_seconds"] / shortest[f"{mode}_{measure}_seconds"], 2
            )
            for mode in MODES
            for measure in ("worker", "cpu")
        },
        # Calls are the part of worker time that could grow with the job; counted, they are not noisy.
        "deferrable_calls_constant": len({call for row in rows for call in row["deferrable_calls"]}) == 1,
    }
    print(report(result))
    print(f"\nwritten to {write_result(args.output, result)}")
    return 0


def calls(counts: list[int]) -> str:
    """The calls one wait made, or the fewest and most of several."""
    return f"{counts[0]} to {counts[-1]}" if len(counts) > 1 else str(counts[0])


def report(result: dict[str, Any]) -> str:
    rows = [
        (
            f"{row['job_seconds_emulated']:.0f} s ({row['job_seconds_emulated'] / row['time_scale']:.1f} s real)",
            row["poke_worker_seconds"],
            calls(row["poke_calls"]),
            row["deferrable_worker_seconds"],
            row["deferrable_cpu_seconds"],
            calls(row["deferrable_calls"]),
            round(row["poke_worker_seconds"] / row["deferrable_worker_seconds"], 1),
        )
        for row in result["results"]
    ]
    headers = (
        "job (emulated)",
        "poke worker s",
        "poke calls",
        "deferrable worker s",
        "deferrable CPU s",
        "deferrable calls",
        "poke / deferrable",
    )
    return (
        table(headers, rows)
        + f"\n\nLongest job / shortest job, medians of {result['repeat']}: poke worker seconds "
        f"x{result['poke_worker_growth']}; deferrable worker seconds x{result['deferrable_worker_growth']}, "
        f"CPU seconds x{result['deferrable_cpu_growth']}, Amazon ML calls "
        f"{'the same for every duration' if result['deferrable_calls_constant'] else 'NOT constant'}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
