"""What importing our operator and sensor adds to a DAG parse, against the Amazon provider's SageMaker operators.

Each measurement is a fresh interpreter that imports ``airflow.sdk`` first, then times the imports a DAG
file would add; the two sets of modules alternate so that drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, machine, table, temporary_airflow_home, write_result

OURS = ("airflow_ml_provider.operators.batch_prediction", "airflow_ml_provider.sensors.batch_prediction")
SAGEMAKER = ("airflow.providers.amazon.aws.operators.sagemaker",)
# Modules a DAG file importing our operator and sensor must not load: the task pays for them, not the parse.
HEAVY = ("boto3", "botocore", "aiobotocore", "airflow.providers.amazon.aws.hooks")

PROBE = """
import json, sys, time
import airflow.sdk
modules = sys.argv[1:]
started = time.perf_counter()
for module in modules:
    __import__(module)
seconds = time.perf_counter() - started
heavy = sorted({name for name in sys.modules for prefix in HEAVY if name == prefix or name.startswith(prefix + ".")})
print(json.dumps({"seconds": seconds, "heavy": heavy, "modules": len(sys.modules)}))
"""


def python(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter with ``arguments`` and return what it printed."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def measure(modules: tuple[str, ...], environment: dict[str, str]) -> dict[str, Any]:
    completed = python(["-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *modules], environment)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def import_profile(modules: tuple[str, ...], environment: dict[str, str], top: int = 12) -> list[tuple]:
    """The modules our imports load after ``airflow.sdk``, by cumulative import time (``-X importtime``)."""
    code = "import airflow.sdk, sys\nprint('--- ours ---', file=sys.stderr)\n" + "".join(
        f"import {module}\n" for module in modules
    )
    after = python(["-X", "importtime", "-c", code], environment).stderr.split("--- ours ---", 1)[1]
    entries = []
    for line in after.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            own, cumulative, indent, name = match.groups()
            entries.append((name, int(cumulative) / 1000, int(own) / 1000, len(indent) // 2))
    return sorted(entries, key=lambda entry: -entry[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--output", default="parse_cost")
    args = parser.parse_args(argv)
    environment = {
        **os.environ,
        "AIRFLOW_HOME": temporary_airflow_home(),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    # One warm-up run each so that the first measured run does not pay for cold files and .pyc writes.
    measure(OURS, environment)
    measure(SAGEMAKER, environment)
    ours, sagemaker = [], []
    for _ in range(args.repeat):
        ours.append(measure(OURS, environment))
        sagemaker.append(measure(SAGEMAKER, environment))
    ours_ms = statistics.median(run["seconds"] for run in ours) * 1000
    sagemaker_ms = statistics.median(run["seconds"] for run in sagemaker) * 1000
    heavy = sorted({name for run in ours for name in run["heavy"]})
    profile = import_profile(OURS, environment)
    result = {
        "machine": machine(),
        "repeat": args.repeat,
        "ours_modules": OURS,
        "sagemaker_modules": SAGEMAKER,
        "ours_ms_median": round(ours_ms, 1),
        "sagemaker_ms_median": round(sagemaker_ms, 1),
        "ratio": round(ours_ms / sagemaker_ms, 4),
        "heavy_modules_loaded_by_ours": heavy,
        "import_profile_ms": [
            {"module": name, "cumulative_ms": cumulative, "self_ms": own, "depth": depth}
            for name, cumulative, own, depth in profile
        ],
    }
    print(report(result))
    print(f"\nwritten to {write_result(args.output, result)}")
    return 1 if heavy else 0


def report(result: dict[str, Any]) -> str:
    rows = [
        ("our operator + sensor", result["ours_modules"], result["ours_ms_median"]),
        ("SageMaker operators", result["sagemaker_modules"], result["sagemaker_ms_median"]),
    ]
    heavy = ", ".join(result["heavy_modules_loaded_by_ours"]) or "none"
    profile = [
        (entry["module"], entry["cumulative_ms"], entry["self_ms"]) for entry in result["import_profile_ms"]
    ]
    return (
        table(
            ("imports after airflow.sdk", "modules", f"median ms of {result['repeat']}"),
            [(name, ", ".join(modules), ms) for name, modules, ms in rows],
        )
        + f"\n\nRatio ours / SageMaker: {result['ratio']}"
        + f"\nboto3 / botocore / aiobotocore / Amazon hooks loaded by ours: {heavy}"
        + "\n\nSlowest imports under ours (-X importtime, one run):\n\n"
        + table(("module", "cumulative ms", "self ms"), profile)
    )


if __name__ == "__main__":
    raise SystemExit(main())
