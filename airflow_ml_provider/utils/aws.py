"""The Amazon provider's connection vocabulary, shared by this package's operators and sensors."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

AWS_TEMPLATE_FIELDS = ("aws_conn_id", "region_name", "verify")


class MachineLearningHookMixin:
    """
    Holds ``aws_conn_id``, ``region_name``, ``verify`` and ``botocore_config`` and builds the hook.

    The hook module (and with it boto3) is imported only when a task runs, so that parsing a DAG
    file never pays for it.
    """

    aws_conn_id: str | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict[str, Any] | None

    def _set_aws_params(
        self,
        aws_conn_id: str | None,
        region_name: str | None,
        verify: bool | str | None,
        botocore_config: dict[str, Any] | None,
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    @property
    def aws_params(self) -> dict[str, Any]:
        """The connection settings as the trigger takes them."""
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "verify": self.verify,
            "botocore_config": self.botocore_config,
        }

    @cached_property
    def hook(self) -> MachineLearningHook:
        """The hook for this task's connection settings."""
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        return MachineLearningHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
