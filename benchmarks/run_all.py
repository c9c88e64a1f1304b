"""Run the three benchmarks and regenerate BENCHMARKS.md from their results: ``python -m benchmarks.run_all``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from benchmarks import parse_cost, triggerer_load, triggerer_scale, worker_time
from benchmarks.common import RESULTS, ROOT, machine

COMMAND = ".venv/bin/python -m benchmarks.run_all"
GOAL_SIZE = 1000


def run(module: str, *arguments: str) -> float:
    """Run one benchmark in its own process; return the seconds it took."""
    started = time.monotonic()
    print(f"== {module} {' '.join(arguments)}", flush=True)
    subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *arguments], cwd=ROOT, check=False)
    seconds = time.monotonic() - started
    print(f"== {module} took {seconds:.0f} s", flush=True)
    return seconds


def load_result(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def at_goal_size(items: list[dict[str, Any]], implementation: str) -> dict[str, Any] | None:
    """The row of ``implementation`` at N = GOAL_SIZE among triggerer results or ratios, if it ran."""
    return next(
        (item for item in items if item["implementation"] == implementation and item["jobs"] == GOAL_SIZE),
        None,
    )


def goals(
    load: dict[str, Any], scale: dict[str, Any] | None, parse: dict[str, Any], worker: dict[str, Any]
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (goal, target, measured, verdict(met)) for goal, target, measured, met in triggerer_load.goals(load)
    ]
    ratio = at_goal_size(scale["ratios"], "ours") if scale else None
    ours = at_goal_size(scale["results"], "ours") if scale else None
    if scale and ratio is not None and ours is not None:
        rows += [
            (
                f"memory growth per waiting job, N = {GOAL_SIZE}",
                "<= 10% of baseline",
                f"{ratio['rss_per_job_kb']:.1%}",
                verdict(ratio["rss_per_job_kb"] <= 0.10),
            ),
            (
                f"API calls per poll cycle, N = {GOAL_SIZE}, no missed completion",
                "<= 5% of baseline, 0 missed",
                f"{ratio['api_calls_per_cycle']:.1%} ({ratio['api_calls_per_interval']:.1%} per interval), "
                f"{ours['missed_or_wrong']} missed or wrong",
                verdict(ratio["api_calls_per_cycle"] <= 0.05 and ours["missed_or_wrong"] == 0),
            ),
            (
                f"CPU per poll cycle, N = {GOAL_SIZE}",
                "<= 10% of baseline",
                f"{ratio['cpu_seconds_per_cycle']:.1%} ({ratio['cpu_seconds_per_interval']:.1%} per interval)",
                verdict(ratio["cpu_seconds_per_cycle"] <= 0.10),
            ),
            (
                f"completion latency of every job, N = {GOAL_SIZE}",
                f"<= {scale['poll_interval']:g} + 1 s",
                f"max {ours['latency_max']} s, {ours['latency_over_goal']} over",
                verdict(ours["latency_over_goal"] == 0 and ours["missed_or_wrong"] == 0),
            ),
        ]
    rows.append(
        (
            "parse cost of operator + sensor",
            "<= 10% of SageMaker operators",
            f"{parse['ratio']:.1%}, heavy modules: {', '.join(parse['heavy_modules_loaded_by_ours']) or 'none'}",
            verdict(parse["ratio"] <= 0.10 and not parse["heavy_modules_loaded_by_ours"]),
        )
    )
    longest = worker["results"][-1]["job_seconds_emulated"] / worker["results"][0]["job_seconds_emulated"]
    calls = "same Amazon ML calls" if worker["deferrable_calls_constant"] else "Amazon ML calls grow"
    rows.append(
        (
            "deferrable worker time vs job duration",
            "independent of duration",
            f"x{worker['deferrable_worker_growth']} worker s, x{worker['deferrable_cpu_growth']} CPU s, {calls} "
            f"for a x{longest:g} longer job (poke: x{worker['poke_worker_growth']})",
            # Calls are counted and CPU barely varies; wall seconds get a margin for a shared machine.
            verdict(
                worker["deferrable_calls_constant"]
                and worker["deferrable_cpu_growth"] <= 1.25
                and worker["deferrable_worker_growth"] <= 1.5
            ),
        )
    )
    return rows


def per_interval(scale: dict[str, Any]) -> str:
    """Completions per poll interval at most, once released."""
    return f"{scale['concurrency_limit'] * scale['poll_interval'] / scale['released_job_duration']:.0f}"


def reading(scale: dict[str, Any]) -> str:
    """What the N = 1000 rows say, from the numbers themselves."""
    baseline, ours = at_goal_size(scale["results"], "baseline"), at_goal_size(scale["results"], "ours")
    ratio = at_goal_size(scale["ratios"], "ours")
    if baseline is None or ours is None or ratio is None:
        return ""
    interval = scale["poll_interval"]
    lines = [f"Reading N = {GOAL_SIZE}:"]
    if baseline["cycle_seconds"] > 1.05 * interval:
        lines.append(
            f"the baseline does not keep up. Asking for each job takes it {baseline['cycle_seconds']:g} s "
            f"to learn every job's status once instead of {interval:g} s, so per interval of wall clock it "
            f"makes {baseline['api_calls_per_interval']:g} calls (of the {GOAL_SIZE} a cycle needs) and "
            f"{baseline['latency_over_goal']} of its completions come more than {interval:g} + 1 s late. The "
            "per-interval ratios favour it: it does less work per interval than it was asked to."
        )
    else:
        lines.append(f"the baseline keeps up: a cycle takes it {baseline['cycle_seconds']:g} s.")
    lines.append(
        f"The baseline's calls per cycle are N by construction (a `GetBatchPrediction` per job), so the "
        f"API-call goal is judged as `ours` per cycle against N; the per-interval ratio, which moves with "
        f"the machine's load, is given beside it ({ratio['api_calls_per_interval']:.1%} in this run)."
    )
    listing = ", ".join(
        f"{count:g} {operation}"
        for operation, count in sorted(ours["api_calls_per_cycle_by_operation"].items())
    )
    lines.append(
        f"`ours` lists the waiting jobs with {listing} per cycle: 100 jobs a page, "
        f"{GOAL_SIZE - scale['concurrency_limit']} of them "
        "PENDING behind the concurrency limit, so its calls grow with the backlog by one per 100 jobs."
    )
    lines.append(
        f"During the release `ours` made {ours['completion_api_calls']} calls for {GOAL_SIZE} completions, "
        f"{ours['completion_get_calls']} of them `GetBatchPrediction` (the baseline: "
        f"{baseline['completion_api_calls']}): finished jobs are read from the list of recently updated "
        f"jobs; its slowest event came {ours['latency_max']} s after the job finished."
    )
    return " ".join(lines)


def burst_section(scale: dict[str, Any] | None) -> str:
    """The burst benchmark's section, when this run measured it (``--full``)."""
    if scale is None:
        return (
            "## Triggerer scale, all waits at once (`benchmarks/triggerer_scale.py`)\n\n"
            "Not measured in this run: `make bench BENCH=full` (`--full`) adds it, at N = 10, 100, 1000 and 2000."
        )
    return f"""## Triggerer scale, all waits at once (`benchmarks/triggerer_scale.py`)

N batch predictions wait at once in one process, run as the triggerer runs triggers: one asyncio loop,
each trigger rebuilt from its `serialize()` output and its `run()` consumed by a task after
`greenback.ensure_portal()`, with Airflow's logging set up as it sets it up (INFO; the output is
captured). The emulator runs as a separate process
(`python -m amazon_ml_emulator`), driven with `EmulatorClient`. Each implementation runs in
its own fresh process against its own fresh emulator, with a poll interval of
{scale["poll_interval"]:g} s for all.

- `baseline`: the Amazon provider's pattern, an `AwsBaseWaiterTrigger` subclass
  (`benchmarks/baseline_trigger.py`) with `aws_hook_class = MachineLearningHook` and our
  `BatchPredictionCompleted` waiter: one aiobotocore client and one `GetBatchPrediction` per job per
  interval.
- `per_job`: our trigger before the poller (`benchmarks/per_job_trigger.py`): one shared client, one
  `GetBatchPrediction` per job per interval.
- `ours`: `BatchPredictionTrigger` with the process-wide poller (`airflow_ml_provider/triggers/poller.py`).

The account's concurrency limit is the service's default, {scale["concurrency_limit"]} jobs
INPROGRESS: with N = 1000 most jobs wait PENDING, as a real backlog does, and the poller pages through
them. The jobs are held running while the steady state is measured: RSS (from `/proc`) after every
trigger has polled, minus before the first trigger; CPU seconds (`time.process_time`) and API calls (the
emulator's per-operation counters) over {scale["steady_intervals"]} poll intervals (the waits log their status on
every tenth attempt, so the window holds its share of those lines). A poll cycle is every
waiting job's status learnt once: N status observations (a `GetBatchPrediction` each for the baseline; for
`ours`, the waits' attempts, which one listing serves a hundred at a time). Per-cycle figures divide the
window's calls and CPU seconds by the cycles it held, per-interval figures by its intervals; a trigger that
keeps up makes one cycle per interval, and "cycle s" shows how long one took. The emulator's CPU share is
its process's CPU seconds over the window divided by its and the triggerer process's together. Then about
1% of the jobs are made FAILED and one gets the undocumented status `INVALID` through the emulator's
controls, and the rest are released to run {scale["released_job_duration"]:g} s each, {scale["concurrency_limit"]} at a time: at most
{scale["concurrency_limit"]} completions per {scale["released_job_duration"]:g} s, about {per_interval(scale)} per poll interval (a real account's jobs run
minutes, so it sees fewer). Latency is the event's time minus the job's `FinishedAt`; every job must get
exactly one event with the right status (`success`, or `failed` with the service's message;
`error` for the baseline, whose contract has nothing else).

{triggerer_scale.report(scale)}

{reading(scale)}"""


def _steady_baseline(load: dict[str, Any]) -> str:
    baseline = triggerer_load._by(load["steady"], "baseline")
    return str(baseline["jobs"]) if baseline else "-"


def durations(load: dict[str, Any], times: dict[str, float]) -> str:
    """How long each benchmark and each triggerer case took in this run, if it ran here."""
    if not times:
        return ""
    cases = [
        f"{scenario} {item['implementation']} {item['run_seconds']:.0f} s"
        for scenario in ("steady", "scale", "busy")
        for item in load.get(scenario, [])
        if "run_seconds" in item
    ]
    benchmarks = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
    return f"\nTime per benchmark: {benchmarks} (its cases: {', '.join(cases)})."


def markdown(
    load: dict[str, Any],
    scale: dict[str, Any] | None,
    parse: dict[str, Any],
    worker: dict[str, Any],
    seconds: float,
    command: str,
    times: dict[str, float],
) -> str:
    from benchmarks.common import table

    info = machine()
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    interval = load["poll_interval"]
    steady = load["steady_case"]
    scale_jobs = load["scale"][0]["jobs"]
    steady_baseline = triggerer_load._by(load["steady"], "baseline")
    baseline = triggerer_load.baseline_at(
        scale_jobs,
        scale["results"] if scale else [],
        steady_baseline if steady_baseline and "error" not in steady_baseline else None,
    )
    return f"""# Benchmarks

Generated by `{command}` (the `make bench{" BENCH=full" if scale else ""}` target){f" in {seconds / 60:.1f} minutes" if seconds else ""}
under `nice -n 10`; do not edit by hand.{durations(load, times)}
Every benchmark measures its comparison in the same run, so read the ratios: absolute times on a shared
2-core machine mean little.

Machine: {info["cpu"]}, {info["cores"]} cores, Python {info["python"]}, {info["platform"]}.
Packages: {packages}.

## Goals

{table(("goal", "target", "measured", "verdict"), goals(load, scale, parse, worker))}

## How the triggerer benchmarks run (`benchmarks/triggerer_load.py`)

Triggers run as the triggerer runs them: one asyncio loop in one process, each trigger rebuilt from its
`serialize()` output and its `run()` consumed by a task after `greenback.ensure_portal()`, with Airflow's
logging at INFO. Each case runs in a fresh process against a fresh emulator process
(`python -m amazon_ml_emulator`). Poll interval {interval:g} s; costs are measured over {load["window_intervals"]} intervals.
A poll cycle is every waiting job's status learnt once: as many status observations as jobs wait (a
`GetBatchPrediction` each for the baseline; for `ours`, the waits' attempts, which one list page serves
a hundred at a time). Calls are the emulator's counts of `DescribeBatchPredictions` and
`GetBatchPrediction` (Describe and Get in the tables); CPU is the triggerer process's `time.process_time`.
The emulator's CPU share is its process's CPU seconds over the same window divided by its and the
triggerer's together. Latency is the event's time minus the job's end (`FinishedAt`, else
`LastUpdatedAt`); every job that ended must get exactly one event with the right status (`success`, or
`failed` with the service's message; `error` for the baseline), and the others none.

- `baseline`: the Amazon provider's pattern (`benchmarks/baseline_trigger.py`), an
  `AwsBaseWaiterTrigger` with our `BatchPredictionCompleted` waiter: one aiobotocore client and one
  `GetBatchPrediction` per job per interval.
- `ours`: `BatchPredictionTrigger` with the process-wide poller (`airflow_ml_provider/triggers/poller.py`).
- `floor`: a trigger that only sleeps (`benchmarks/floor_trigger.py`): what Airflow's triggerer costs per
  deferred task however little the trigger does.

## Steady state

Waits arrive all along, as a Poisson stream (seed {steady["seed"]}) at the rate that keeps {steady["jobs"]} waiting on average;
each job runs a length drawn uniformly between {steady["shortest_job"]:g} and {steady["longest_job"]:g} s after its wait arrives, then a
driver in another process ends it through the emulator's controls (1% of them FAILED). The shared
client's generation (`CLIENT_RENEW_SECONDS` of `airflow_ml_provider.hooks.machine_learning`, 900 s) is
shortened to {steady["generation"]:g} s for the run, so the {steady["longest_job"] + load["window_intervals"] * interval:g} s of arrivals span several generations; the
costs are measured over the last {load["window_intervals"] * interval:g} s, once the population is full. Jobs run as soon as they
are created (no account limit). The baseline runs at a mean of {_steady_baseline(load)} waits: with an aiobotocore client and
a call per wait, at {steady["jobs"]} its loop cannot even take the arrivals on this machine; its calls and CPU per cycle
grow in proportion to its waits, so the goals compare ours with them scaled to ours's mean waiting. "pollers", "clients" and "client renewals" are the most pollers and
shared clients the loop held at any moment, and how often the client was rebuilt.

{triggerer_load.steady_report(load)}

## {scale_jobs:,} waiting jobs against the floor

{scale_jobs:,} batch predictions wait at once in one process; the account's limit of {triggerer_scale.CONCURRENCY_LIMIT} jobs INPROGRESS keeps the
others PENDING, so listing them all takes {triggerer_load.list_pages_needed(scale_jobs)} pages of 100. Memory is the RSS growth per waiting job
once every wait has polled; then about 1% of the jobs fail, one gets the undocumented status
`INVALID`, and the account's limit is raised to 100 jobs of 1 s. The jobs end for {triggerer_load.SCALE_DRAIN_SECONDS:g} s
("drain s"; the emulator does each job's real work, so this machine ends a few dozen a second), then
the rest are held: every job that ended must have one right event within {interval:g} + 1 s
("completions"), and the jobs still running none. The floor's memory is measured the same way, in its own process.
The baseline is not run at this size: {baseline["source"] if baseline else "no figures"}.

{triggerer_load.scale_report(load, baseline)}

## Busy account

{load["busy"][0]["jobs"]} watched jobs run while {load["busy_unwatched"]:,} jobs of other teams wait PENDING in the same account, behind its
limit of {triggerer_scale.CONCURRENCY_LIMIT} jobs INPROGRESS (the watched jobs were submitted first). Costs are measured after two
intervals, once the poller has learnt what listing costs; then the jobs are released to finish.

{triggerer_load.busy_report(load)}

{burst_section(scale)}

## Parse cost (`benchmarks/parse_cost.py`)

Time to import `airflow_ml_provider.operators.batch_prediction` and
`airflow_ml_provider.sensors.batch_prediction` after `import airflow.sdk` in a fresh interpreter, against
`airflow.providers.amazon.aws.operators.sagemaker`; median of {parse["repeat"]} interleaved runs each.

{parse_cost.report(parse)}

## Worker time (`benchmarks/worker_time.py`)

Worker-slot seconds for one batch prediction that runs minutes on the emulator's clock (`time_scale`
{worker["results"][0]["time_scale"]:g}), poke interval {worker["poke_interval"]:g} s; medians of {worker["repeat"]} waits per
mode and duration, run interleaved. The sensor's methods are called directly with an empty context: poke
mode is the time `execute()` blocks; deferrable mode is the time `execute()` takes until it raises
`TaskDeferred` plus the time `execute_complete()` takes with the trigger's event (both include building the
hook and reading the result manifest from S3). The trigger runs in the same process in between, as the
triggerer would run it, and is not counted; garbage is collected before each measured part, as a task starts
in a fresh process. The Amazon ML calls each mode makes in the worker are counted by the emulator.

{worker_time.report(worker)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-run", action="store_true", help="only regenerate BENCHMARKS.md")
    parser.add_argument(
        "--full",
        action="store_true",
        help="also the burst benchmark at N = 10, 100, 1000 and 2000 (about 15 minutes more)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    times: dict[str, float] = {}
    if not args.skip_run:
        # The full run keeps each benchmark's own defaults; the default run trims repeats to stay short.
        times["parse_cost"] = run("parse_cost", *([] if args.full else ["--repeat", "5"]))
        times["worker_time"] = run("worker_time", *([] if args.full else ["--durations", "60", "600"]))
        times["triggerer_load"] = run("triggerer_load")
        if args.full:
            times["triggerer_scale"] = run(
                "triggerer_scale",
                "--sizes",
                "10",
                "100",
                "1000",
                "2000",
                "--implementations",
                "baseline",
                "ours",
            )
    load, parse, worker = load_result("triggerer_load"), load_result("parse_cost"), load_result("worker_time")
    scale = load_result("triggerer_scale") if args.full else None
    seconds = 0.0 if args.skip_run else time.monotonic() - started
    command = COMMAND + (" --full" if args.full else "")
    (ROOT / "BENCHMARKS.md").write_text(markdown(load, scale, parse, worker, seconds, command, times))
    print(f"BENCHMARKS.md regenerated ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
