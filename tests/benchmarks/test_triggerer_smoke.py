"""The triggerer benchmark at N = 50, both implementations: every job must end with exactly one right event."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from benchmarks.triggerer_scale import Run, run_one

IMPLEMENTATIONS = ("baseline", "ours")


def run(implementation: str) -> dict[str, Any]:
    # Poll interval 0.5 s, 2 steady intervals, jobs released to run 0.5 s each: a few cycles of completions.
    return run_one(Run(implementation, 50, 0.5, 40.0, 2, 0.5))


@pytest.mark.timing
@pytest.mark.timeout(150)
def test_fifty_waiting_jobs_each_get_exactly_one_right_event() -> None:
    # Each implementation has its own emulator and worker process, so both run at once: the check is
    # of events, not of timings, and most of a run is starting its processes.
    with ThreadPoolExecutor(max_workers=len(IMPLEMENTATIONS)) as pool:
        results = list(pool.map(run, IMPLEMENTATIONS))

    assert [result["implementation"] for result in results] == list(IMPLEMENTATIONS)
    for result in results:
        assert result["jobs"] == 50
        assert result["missed_or_wrong"] == 0, (result["implementation"], result["problems"])
