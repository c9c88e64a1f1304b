"""The one rule of a kill's delete, and whose an object is: the table of cases RELIABILITY.md states."""

from __future__ import annotations

import pytest

from airflow_ml_provider.utils.ownership import OWNER_TAG, REQUEST_TAG, Owner, foreign, kill_keeps

MINE = Owner.of("dag", "task", -1, try_number=1)
NEXT_TRY = Owner.of("dag", "task", -1, try_number=2)
OTHER_TASK = Owner.of("other_dag", "task", -1, try_number=1)


def job(status: str) -> dict[str, str]:
    return {"BatchPredictionId": "bp", "Status": status}


@pytest.mark.parametrize(
    ("task_state", "status", "owner", "deadline_passed", "deleted"),
    [
        # A user's action on the try that owns a running job: the only deletes.
        ("failed", "INPROGRESS", MINE, False, True),
        ("success", "PENDING", MINE, False, True),
        ("skipped", "INPROGRESS", MINE, False, True),
        ("restarting", "INPROGRESS", MINE, False, True),
        (None, "INPROGRESS", MINE, False, True),
        # The try goes on: a trigger moved, fired elsewhere and resumed its task, or a worker shut down.
        ("deferred", "INPROGRESS", MINE, False, False),
        ("scheduled", "INPROGRESS", MINE, False, False),
        ("queued", "INPROGRESS", MINE, False, False),
        ("running", "INPROGRESS", MINE, False, False),
        ("up_for_retry", "INPROGRESS", MINE, False, False),
        ("up_for_reschedule", "INPROGRESS", MINE, False, False),
        # Never a job that ended.
        ("success", "COMPLETED", MINE, False, False),
        ("failed", "FAILED", MINE, False, False),
        ("failed", "DELETED", MINE, False, False),
        # Never a job a later try adopted, nor one of another task.
        (None, "INPROGRESS", NEXT_TRY, False, False),
        ("failed", "INPROGRESS", OTHER_TASK, False, False),
        ("failed", "INPROGRESS", None, False, False),
        # A timeout is not a kill.
        ("failed", "INPROGRESS", MINE, True, False),
    ],
)
def test_a_kill_deletes_only_a_running_job_its_try_owns_after_a_users_action(
    task_state, status, owner, deadline_passed, deleted
):
    tags = {OWNER_TAG: owner.tag} if owner else {}
    reason = kill_keeps(task_state, job(status), tags, MINE, deadline_passed)
    assert (reason is None) is deleted, reason


def test_what_cannot_be_read_keeps_the_job():
    assert kill_keeps("failed", None, None, MINE) == "whose it is could not be read"
    assert (
        kill_keeps("failed", job("INPROGRESS"), {OWNER_TAG: MINE.tag}, None)
        == "whose it is could not be read"
    )


def test_only_an_owner_tag_naming_another_task_makes_an_object_foreign():
    assert foreign({OWNER_TAG: OTHER_TASK.tag}, MINE) == "another task (DAG, task or map index) created it"
    assert foreign({OWNER_TAG: NEXT_TRY.tag}, MINE) is None
    # A try that died before tagging, and an earlier release's object: the task's own.
    assert foreign({}, MINE) is None
    assert foreign({REQUEST_TAG: "sha256:x"}, MINE) is None


def test_an_owner_is_the_task_and_its_try_and_reads_back_from_its_tag():
    assert Owner.parse(MINE.tag) == MINE
    assert Owner.of("dag", "task", -1, 1, namespace="blue").task != MINE.task
    assert Owner.of("dag", "task", 0, 1).task != MINE.task
    assert Owner.parse("not a tag") is None
    assert Owner.parse(None) is None
