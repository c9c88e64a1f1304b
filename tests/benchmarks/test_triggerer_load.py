"""The triggerer-load benchmark's arithmetic: its arrival schedule, the list pages it allows, the baseline's extrapolation."""

from __future__ import annotations

import pytest

from benchmarks.triggerer_load import Case, baseline_at, list_pages_needed, steady_schedule


def test_the_steady_schedule_keeps_the_asked_number_of_jobs_waiting_on_average() -> None:
    case = Case("steady", "ours", 1000, shortest_job=20, longest_job=40, window_intervals=6, poll_interval=5)
    schedule = steady_schedule(case)

    lengths = [arrival.finish - arrival.arrive for arrival in schedule]
    # Little's law: waiting = arrival rate x mean length.
    waiting = len(schedule) / case.arrival_seconds * sum(lengths) / len(lengths)
    assert waiting == pytest.approx(1000, rel=0.1)
    assert all(20 <= length <= 40 for length in lengths)
    assert all(0 < arrival.arrive < case.arrival_seconds for arrival in schedule)
    assert len({arrival.batch_prediction_id for arrival in schedule}) == len(schedule)
    assert 0 < sum(arrival.fails for arrival in schedule) < len(schedule) * 0.05


def test_the_steady_schedule_is_the_same_in_the_driver_and_the_worker_for_one_seed() -> None:
    case = Case("steady", "ours", 100, shortest_job=2, longest_job=4)
    assert steady_schedule(case) == steady_schedule(case)
    assert steady_schedule(case) != steady_schedule(
        Case("steady", "ours", 100, shortest_job=2, longest_job=4, seed=15)
    )


@pytest.mark.parametrize(("jobs", "pages"), [(10, 1), (125, 2), (1000, 11), (10_000, 101)])
def test_list_pages_needed_counts_pending_and_inprogress_pages_of_a_hundred(jobs: int, pages: int) -> None:
    assert list_pages_needed(jobs) == pages


def test_the_baseline_is_extrapolated_along_a_line_through_its_two_largest_burst_runs() -> None:
    burst = [
        {"implementation": "baseline", "jobs": 100, "rss_per_job_kb": 9999.0, "cpu_seconds_per_cycle": 99.0},
        {"implementation": "baseline", "jobs": 1000, "rss_per_job_kb": 1200.0, "cpu_seconds_per_cycle": 4.0},
        {"implementation": "baseline", "jobs": 2000, "rss_per_job_kb": 1100.0, "cpu_seconds_per_cycle": 8.0},
        {"implementation": "ours", "jobs": 2000, "rss_per_job_kb": 30.0, "cpu_seconds_per_cycle": 0.2},
    ]
    found = baseline_at(10_000, burst, None)

    assert found is not None
    # Total RSS 1.2 GB at 1000 and 2.2 GB at 2000: 1 GB per 1000 more, 10.2 GB at 10,000.
    assert found["rss_per_job_kb"] == pytest.approx(10_200_000 / 10_000)
    assert found["cpu_seconds_per_cycle"] == pytest.approx(40.0)
    assert found["api_calls_per_cycle"] == 10_000
    assert "1000 and 2000" in found["source"]


def test_without_burst_runs_the_baseline_scales_its_steady_state_run() -> None:
    steady = {"population": 500.0, "rss_per_job_kb": 1000.0, "cpu_seconds_per_cycle": 2.0}
    found = baseline_at(10_000, [], steady)

    assert found is not None
    assert found["cpu_seconds_per_cycle"] == pytest.approx(40.0)
    assert found["rss_per_job_kb"] == 1000.0
    assert baseline_at(10_000, [], None) is None
