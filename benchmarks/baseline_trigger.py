"""The Amazon provider's standard wait, as the baseline: one aiobotocore client and one waiter poll per job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

# The waiter a provider in the Amazon provider's style would ship for this service (the provider itself waits
# through its own poller and needs none).
WAITERS = Path(__file__).resolve().parent / "waiters" / "machinelearning.json"
# AwsGenericHook.get_waiter renders every acceptor's "argument" as a template and fails with KeyError on
# the "error" matcher, which has none; an empty argument is ignored by botocore for that matcher.
ACCEPTORS = [
    {"argument": "", **acceptor}
    for acceptor in json.loads(WAITERS.read_text())["waiters"]["BatchPredictionCompleted"]["acceptors"]
]


class WaiterHook(MachineLearningHook):
    """The hook with the baseline's waiter (the Amazon hook looks for waiters in its own folder only)."""

    @property
    def waiter_path(self) -> Path:
        return WAITERS


class WaiterBatchPredictionTrigger(AwsBaseWaiterTrigger):
    """
    Wait for a batch prediction with the ``BatchPredictionCompleted`` waiter, the Amazon provider's way.

    :param batch_prediction_id: The job to wait for.
    :param waiter_delay: Seconds between polls.
    :param waiter_max_attempts: Polls allowed.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    """

    aws_hook_class = WaiterHook

    def __init__(
        self,
        *,
        batch_prediction_id: str,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 60,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            serialized_fields={"batch_prediction_id": batch_prediction_id},
            waiter_name="BatchPredictionCompleted",
            waiter_args={"BatchPredictionId": batch_prediction_id},
            failure_message="Batch prediction failed",
            status_message="Batch prediction status",
            status_queries=["Status", "Message"],
            return_key="batch_prediction_id",
            return_value=batch_prediction_id,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            waiter_config_overrides={"acceptors": ACCEPTORS},
            aws_conn_id=aws_conn_id,
            **kwargs,
        )
