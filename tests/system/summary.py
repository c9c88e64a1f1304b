"""The totals of ``build/reliability/figures.json`` as the summary row of ``RELIABILITY.md``:
``python -m tests.system.summary [figures.json]`` after the system tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "build" / "reliability" / "figures.json"
TOTALS = ("faults_injected", "runs", "jobs_expected", "jobs_created", "events_lost", "taken_as_success")


def totals(figures: dict[str, Any]) -> dict[str, int]:
    """Each total summed over the tests that recorded it; secrets found summed over the searches."""
    tests = figures["tests"].values()
    summed = {key: sum(entry.get(key, 0) for entry in tests) for key in TOTALS}
    summed["secret_occurrences"] = sum(entry.get("occurrences", 0) for entry in tests)
    return summed


def markdown(figures: dict[str, Any]) -> str:
    row = totals(figures)
    header = " | ".join(key.replace("_", " ") for key in row)
    return f"| {header} |\n|{'---|' * len(row)}\n| {' | '.join(str(value) for value in row.values())} |"


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    print(markdown(json.loads(path.read_text())))
