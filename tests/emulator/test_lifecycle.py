"""Job life cycles: statuses in order, times and counters, dependencies, the concurrency limit, deletion."""

from __future__ import annotations

import time

import pytest

from amazon_ml_emulator.datasets import TINY_CSV, TINY_SCHEMA

from .helpers import BUCKET, new_id, wait_for_status

ARN = "arn:aws:iam::123456789012:user/emulator"


def statuses_until_done(get):
    seen = []
    while not seen or seen[-1] not in ("COMPLETED", "FAILED"):
        answer = get()
        if not seen or seen[-1] != answer["Status"]:
            seen.append(answer["Status"])
        time.sleep(0.01)
    return seen, answer


def test_batch_prediction_goes_pending_inprogress_completed_with_times_and_counts(ml, pipeline, tiny):
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    seen, done = statuses_until_done(lambda: ml.get_batch_prediction(BatchPredictionId=batch_prediction_id))

    assert seen == ["PENDING", "INPROGRESS", "COMPLETED"]
    assert done["CreatedAt"] <= done["StartedAt"] <= done["FinishedAt"] == done["LastUpdatedAt"]
    assert done["ComputeTime"] >= 150
    assert done["TotalRecordCount"] == 12
    assert done["InvalidRecordCount"] == 0
    assert done["InputDataLocationS3"] == tiny["location"]
    assert done["CreatedByIamUser"] == ARN
    assert done["LogUri"].startswith("https://")
    assert "Message" not in done


def test_started_at_is_absent_while_pending_and_finished_at_until_done(ml, pipeline, tiny, emulator):
    emulator.configure(pending_duration=0.3, job_duration=0.3)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    pending = ml.get_batch_prediction(BatchPredictionId=batch_prediction_id)
    running = pipeline.wait_batch_prediction(batch_prediction_id, ("INPROGRESS",))

    assert pending["Status"] == "PENDING"
    assert "StartedAt" not in pending
    assert "StartedAt" in running
    assert "FinishedAt" not in running
    assert "ComputeTime" not in running


def test_batch_prediction_created_before_its_model_is_trained_waits_in_pending(ml, pipeline, tiny, emulator):
    emulator.configure(job_duration=0.3)
    data_source_id = pipeline.data_source(tiny["location"], TINY_SCHEMA)
    ml_model_id = pipeline.ml_model(data_source_id)
    batch_prediction_id = pipeline.batch_prediction(ml_model_id, data_source_id)
    seen, done = statuses_until_done(lambda: ml.get_batch_prediction(BatchPredictionId=batch_prediction_id))
    model = ml.get_ml_model(MLModelId=ml_model_id)

    assert seen == ["PENDING", "INPROGRESS", "COMPLETED"]
    assert done["StartedAt"] >= model["FinishedAt"]
    assert model["Status"] == "COMPLETED"
    assert model["SizeInBytes"] > 0


def test_failed_dependency_fails_the_waiting_jobs_with_a_message(ml, pipeline, tiny):
    broken_data_source_id = pipeline.data_source(f"s3://{BUCKET}/nothing-here-{new_id('x')}/", TINY_SCHEMA)
    ml_model_id = pipeline.ml_model(broken_data_source_id)
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], broken_data_source_id)

    data_source = pipeline.wait_data_source(broken_data_source_id)
    model = pipeline.wait_ml_model(ml_model_id)
    batch_prediction = pipeline.wait_batch_prediction(batch_prediction_id)

    assert data_source["Status"] == "FAILED"
    assert "no objects found" in data_source["Message"]
    assert model["Status"] == "FAILED"
    assert broken_data_source_id in model["Message"]
    assert batch_prediction["Status"] == "FAILED"
    assert broken_data_source_id in batch_prediction["Message"]
    assert "StartedAt" not in batch_prediction
    assert "ComputeTime" not in batch_prediction


def test_missing_dependency_can_be_accepted_then_fail(ml, pipeline, tiny, emulator):
    emulator.configure(missing_dependency="fail")
    try:
        batch_prediction_id = pipeline.batch_prediction("no-such-model", tiny["data_source_id"])
    finally:
        emulator.configure(missing_dependency="reject")
    done = pipeline.wait_batch_prediction(batch_prediction_id)

    assert done["Status"] == "FAILED"
    assert done["Message"] == "No MLModel with id no-such-model exists"


def test_concurrency_limit_holds_extra_jobs_in_pending(ml, pipeline, tiny, emulator):
    emulator.configure(concurrency_limit=2, job_duration=0.4, pending_duration=0.0)
    batch_prediction_ids = [
        pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"]) for _ in range(5)
    ]
    most_in_progress, saw_waiting = 0, False
    while True:
        # One list call reads the five jobs within microseconds; a Get each spreads the reads over
        # milliseconds, and a job ending between two Gets while the next starts looks like three at once.
        listed = ml.describe_batch_predictions(
            FilterVariable="MLModelId", EQ=tiny["ml_model_id"], SortOrder="dsc", Limit=100
        )["Results"]
        statuses = [job["Status"] for job in listed if job["BatchPredictionId"] in batch_prediction_ids]
        assert len(statuses) == len(batch_prediction_ids)
        most_in_progress = max(most_in_progress, statuses.count("INPROGRESS"))
        saw_waiting |= statuses.count("INPROGRESS") == 2 and "PENDING" in statuses
        if all(status == "COMPLETED" for status in statuses):
            break
        time.sleep(0.02)

    assert most_in_progress == 2
    assert saw_waiting


def test_delete_sets_deleted_and_the_entity_stays_readable(ml, pipeline, tiny):
    batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
    ml.delete_batch_prediction(BatchPredictionId=batch_prediction_id)
    time.sleep(0.3)

    assert ml.get_batch_prediction(BatchPredictionId=batch_prediction_id)["Status"] == "DELETED"


def test_score_threshold_update_is_stamped_and_used_by_later_predictions(ml, pipeline, tiny):
    data_source_id = pipeline.data_source(tiny["location"], TINY_SCHEMA)
    ml_model_id = pipeline.ml_model(data_source_id)
    pipeline.wait_ml_model(ml_model_id)
    ml.update_ml_model(MLModelId=ml_model_id, ScoreThreshold=0.9, MLModelName="strict")
    model = ml.get_ml_model(MLModelId=ml_model_id)

    assert model["ScoreThreshold"] == 0.9
    assert model["Name"] == "strict"
    assert model["ScoreThresholdLastUpdatedAt"] >= model["FinishedAt"]


def test_data_source_reads_every_object_under_a_prefix_and_a_schema_from_s3(ml, pipeline):
    folder = new_id("prefix")
    for part in range(3):
        pipeline.put(f"{folder}/part-{part}.csv", TINY_CSV)
    schema_url = pipeline.put(f"{folder}-schema.json", TINY_SCHEMA)
    data_source_id = new_id("ds")
    ml.create_data_source_from_s3(
        DataSourceId=data_source_id,
        DataSpec={"DataLocationS3": f"s3://{BUCKET}/{folder}/", "DataSchemaLocationS3": schema_url},
        ComputeStatistics=True,
    )
    done = pipeline.wait_data_source(data_source_id)

    assert done["Status"] == "COMPLETED"
    assert done["NumberOfFiles"] == 3
    assert done["DataSizeInBytes"] == 3 * len(TINY_CSV)
    assert done["ComputeStatistics"] is True
    assert "DataSourceSchema" in ml.get_data_source(DataSourceId=data_source_id, Verbose=True)


@pytest.mark.timing
def test_time_scale_speeds_the_emulated_clock(ml, pipeline, tiny, emulator):
    emulator.configure(time_scale=20.0, job_duration=4.0, pending_duration=0.0)
    try:
        started = time.monotonic()
        batch_prediction_id = pipeline.batch_prediction(tiny["ml_model_id"], tiny["data_source_id"])
        done = wait_for_status(lambda: ml.get_batch_prediction(BatchPredictionId=batch_prediction_id))
        elapsed = time.monotonic() - started
    finally:
        emulator.configure(time_scale=1.0)

    assert done["Status"] == "COMPLETED"
    assert done["ComputeTime"] >= 4000
    assert elapsed < 2.0
