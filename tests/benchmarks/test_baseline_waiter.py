"""The baseline's waiter and the provider's status mapping agree on every status, so the baseline is a fair one."""

from __future__ import annotations

import pytest
from botocore.exceptions import WaiterError
from botocore.stub import Stubber

from airflow_ml_provider.utils.status import Outcome, outcome_of
from benchmarks.baseline_trigger import WaiterHook

STATUSES = ["PENDING", "INPROGRESS", "COMPLETED", "FAILED", "DELETED", "INVALID", "SOMETHING_NEW"]


@pytest.mark.parametrize("status", STATUSES)
def test_the_json_waiter_decides_like_outcome_of(status, emulator):
    hook = WaiterHook()
    assert "BatchPredictionCompleted" in hook.list_waiters()
    waiter = hook.get_waiter("BatchPredictionCompleted")
    with Stubber(hook.conn) as stubber:
        stubber.add_response("get_batch_prediction", {"BatchPredictionId": "bp", "Status": status})
        try:
            waiter.wait(BatchPredictionId="bp", WaiterConfig={"Delay": 0, "MaxAttempts": 1})
            decided = Outcome.SUCCESS
        except WaiterError as error:
            decided = None if "Max attempts exceeded" in str(error) else Outcome.FAILED
    expected = outcome_of(status)
    assert decided == (Outcome.FAILED if expected is Outcome.DELETED else expected)


def test_only_completed_is_success():
    assert [status for status in STATUSES if outcome_of(status) is Outcome.SUCCESS] == ["COMPLETED"]
    assert outcome_of("PENDING") is None
    assert outcome_of("INPROGRESS") is None
