"""Deploy a trained Amazon ML model behind a real-time endpoint, and take the endpoint down again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS, MachineLearningHookMixin
from airflow_ml_provider.links.machine_learning import MLModelLink
from airflow_ml_provider.utils.realtime import (
    ENDPOINT_NONE,
    ENDPOINT_READY,
    ENDPOINT_UPDATING,
    endpoint_status,
)
from airflow_ml_provider.utils.validation import validate_entity_id, validate_waiter

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

# An endpoint takes minutes to start (the Developer Guide); twenty minutes of polls is generous.
DEFAULT_ENDPOINT_WAITER_DELAY = 15
DEFAULT_ENDPOINT_WAITER_MAX_ATTEMPTS = 80


class _RealtimeEndpointOperator(MachineLearningHookMixin, BaseOperator):
    """
    Base of the endpoint operators: the model, whether and how long to wait, and the connection.

    :param ml_model_id: The model whose endpoint it is. (templated)
    :param wait_for_completion: Wait until the endpoint reaches its final status.
    :param waiter_delay: Seconds between polls of ``GetMLModel`` while waiting.
    :param waiter_max_attempts: Polls allowed while waiting.
    :param aws_conn_id: The Airflow connection used for AWS credentials. If None or empty, the
        default boto3 behaviour is used.
    :param region_name: AWS region; if not set, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates, or a path to a CA bundle.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "ml_model_id")
    operator_extra_links = (MLModelLink(),)
    ui_color = "#f1c68b"

    def __init__(
        self,
        *,
        ml_model_id: str,
        wait_for_completion: bool = True,
        waiter_delay: float = DEFAULT_ENDPOINT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_ENDPOINT_WAITER_MAX_ATTEMPTS,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ml_model_id = ml_model_id
        self.wait_for_completion = wait_for_completion
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self._set_aws_params(aws_conn_id, region_name, verify, botocore_config)

    def _checked_ml_model_id(self, context: Context) -> str:
        """Check every parameter before any call, and link the task to the model."""
        self.check_connection()
        validate_waiter(self.waiter_delay, self.waiter_max_attempts)
        ml_model_id = validate_entity_id("ml_model_id", self.ml_model_id)
        MLModelLink.persist(
            context,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            entity_id=ml_model_id,
        )
        return ml_model_id

    def _wait(self, ml_model_id: str, status: str, info: dict[str, Any]) -> dict[str, Any]:
        if not self.wait_for_completion or endpoint_status(info) == status:
            return info
        return self.hook.wait_for_realtime_endpoint(
            ml_model_id, status, delay=self.waiter_delay, max_attempts=int(self.waiter_max_attempts)
        )


class CreateRealtimeEndpointOperator(_RealtimeEndpointOperator):
    """
    Give a COMPLETED model a real-time endpoint for ``Predict``; returns the endpoint's URL.

    The service keeps at most one endpoint per model, so a retry finds the endpoint an earlier try
    created (READY or still UPDATING) and only waits for it. The URL is also pushed to XCom
    (``endpoint_url``), for tasks that call
    :meth:`~airflow_ml_provider.hooks.machine_learning.MachineLearningHook.predict`.

    :param ml_model_id: The trained model to deploy. (templated)
    :param wait_for_completion: Wait until the endpoint is READY, failing the task if it FAILED.
    """

    def execute(self, context: Context) -> str | None:
        ml_model_id = self._checked_ml_model_id(context)
        info = self.hook.get_endpoint_info(ml_model_id)
        if endpoint_status(info) in (ENDPOINT_READY, ENDPOINT_UPDATING):
            self.log.info("ML model %s already has an endpoint (%s)", ml_model_id, endpoint_status(info))
        else:
            self.log.info("Creating the real-time endpoint of ML model %s", ml_model_id)
            info = self.hook.create_realtime_endpoint(ml_model_id)
        info = self._wait(ml_model_id, ENDPOINT_READY, info)
        endpoint_url = info.get("EndpointUrl")
        self.log.info("ML model %s: endpoint %s, %s", ml_model_id, endpoint_status(info), endpoint_url)
        context["ti"].xcom_push(key="endpoint_url", value=endpoint_url)
        return endpoint_url


class DeleteRealtimeEndpointOperator(_RealtimeEndpointOperator):
    """
    Take down a model's real-time endpoint; a model without one is left as it is (success).

    :param ml_model_id: The model whose endpoint to delete. (templated)
    :param wait_for_completion: Wait until the model reports no endpoint (status NONE).
    """

    def execute(self, context: Context) -> None:
        ml_model_id = self._checked_ml_model_id(context)
        info = self.hook.get_endpoint_info(ml_model_id)
        if endpoint_status(info) == ENDPOINT_NONE:
            self.log.info("ML model %s has no real-time endpoint: nothing to delete", ml_model_id)
            return
        self.log.info("Deleting the real-time endpoint of ML model %s", ml_model_id)
        self._wait(ml_model_id, ENDPOINT_NONE, self.hook.delete_realtime_endpoint(ml_model_id))
