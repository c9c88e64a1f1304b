"""The chaos soak's short seed (``tests/system/soak.py``), on the distributed deployment the distributed tests
share: three minutes of seeded faults, then every invariant checked. ``make soak`` runs the long one."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.system.conftest import EMULATOR_DEFAULTS, Figures
from tests.system.soak import Soak, SoakSettings, keep_evidence, write_report
from tests.system.stack import AirflowStack, EmulatorProcess

pytestmark = pytest.mark.system
CI_SEED = 20261207
CI_MINUTES = float(os.environ.get("SOAK_CI_MINUTES", "3"))


# Three minutes of faults, then at most four for the runs to end and one for the jobs: well under the timeout.
@pytest.mark.timeout(1200)
def test_a_short_chaos_soak_breaks_no_invariant(
    distributed_stack: AirflowStack, emulator_process: EmulatorProcess, service: Any, figures: Figures
) -> None:
    started = time.monotonic()
    settings = SoakSettings(minutes=CI_MINUTES, seed=CI_SEED, settle_seconds=240.0, job_settle_seconds=60.0)
    report = Soak(distributed_stack, emulator_process, settings).run()
    service.configure(**EMULATOR_DEFAULTS, refused_access_keys={})
    path = write_report(report, f"ci-seed{CI_SEED}")
    if report["violations"]:
        keep_evidence(distributed_stack, report, f"ci-seed{CI_SEED}")
    figures.record(
        "soak_short_seed",
        seed=CI_SEED,
        minutes=CI_MINUTES,
        runs=report["runs"]["started"],
        runs_by_state=report["runs"]["finished_by_state"],
        faults_injected=sum(report["faults"]["injected_by_kind"].values()),
        faults_by_kind=report["faults"]["injected_by_kind"],
        violations_by_kind=report["violations_by_kind"],
        seconds=round(time.monotonic() - started, 1),
    )
    unknown = [v for v in report["violations"] if v["known_defect"] is None]
    assert not unknown, f"{len(unknown)} violation(s) no known defect explains; see {path}: {unknown[:5]}"
    if report["violations"]:
        # Only the provider's open defects, each matched by its evidence (see soak.known_defect): the
        # mark goes once they are fixed.
        defects = sorted({v["known_defect"] for v in report["violations"]})
        pytest.xfail(f"{len(report['violations'])} violation(s) of known defects: {defects}; see {path}")
