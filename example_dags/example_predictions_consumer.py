"""Run whenever fresh batch predictions land: scheduled on the asset the mapped example publishes.

Each asset event's ``extra`` says which batch prediction completed and where its result files are,
so this DAG reads exactly the predictions that triggered it.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, task

BUCKET = os.environ.get("EXAMPLE_BUCKET", "s3://my-bucket")
PREDICTIONS = Asset(f"{BUCKET}/predictions/mapped/")

with DAG(
    dag_id="example_predictions_consumer",
    schedule=[PREDICTIONS],
    # Airflow 2.11 requires a start date on an asset-scheduled DAG.
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "amazon-ml"],
):

    @task(inlets=[PREDICTIONS])
    def count_positive_predictions(
        triggering_asset_events=None, triggering_dataset_events=None, inlet_events=None
    ) -> dict:
        """Count the records predicted positive in every batch prediction that triggered this run."""
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        # A scheduled run lists its triggering events (Airflow 2.11 calls them dataset events and keys them
        # by URI); a manual run reads the latest one.
        # (An empty accessor is not swapped for a dict: Airflow 3.0's assets cannot be dict keys.)
        triggering = []
        if triggering_dataset_events is not None:
            triggering = list(triggering_dataset_events.get(PREDICTIONS.uri, []))
        elif triggering_asset_events:
            triggering = list(triggering_asset_events[PREDICTIONS])
        events = triggering or list(inlet_events[PREDICTIONS][-1:])
        hook = MachineLearningHook()
        counts = {}
        for event in events:
            rows = list(hook.iter_results(event.extra))
            counts[event.extra["batch_prediction_id"]] = sum(row.get("bestAnswer") == "1" for row in rows)
        print(f"Positive predictions per batch prediction: {counts}")
        return counts

    count_positive_predictions()
