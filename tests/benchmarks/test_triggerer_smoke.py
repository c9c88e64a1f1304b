"""The triggerer benchmark at N = 50, both implementations: every job must end with exactly one right event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_fifty_waiting_jobs_each_get_exactly_one_right_event(tmp_path: Path) -> None:
    output = tmp_path / "triggerer_smoke.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.triggerer_scale",
            "--sizes",
            "50",
            "--implementations",
            "baseline",
            "ours",
            "--poll-interval",
            "0.5",
            "--steady-cycles",
            "2",
            "--timeout",
            "40",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    print(completed.stdout)
    assert output.exists(), completed.stderr[-4000:]
    results = json.loads(output.read_text())["results"]
    assert {result["implementation"] for result in results} == {"baseline", "ours"}
    for result in results:
        assert result["missed_or_wrong"] == 0, (result["implementation"], result["problems"])
