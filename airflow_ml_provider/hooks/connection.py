"""The connection parameters of the operators and sensors, in the Amazon provider's vocabulary, and the hook they build."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_ml_provider.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

AWS_TEMPLATE_FIELDS = ("aws_conn_id", "region_name", "verify")
# The Amazon provider's default connection: when it does not exist, boto3's default credential chain serves.
DEFAULT_CONN_ID = "aws_default"

log = logging.getLogger(__name__)


def check_connection_id(aws_conn_id: str | None) -> None:
    """
    The one place that decides what a connection ID that names no Airflow connection means.

    Only the default connection may be missing: boto3's default credential chain then serves, with a warning,
    as in the Amazon provider. Any other ID that names no connection is a mistake, and an error before any
    call: never a quiet switch to other credentials, in a worker or in the triggerer. ``None`` asks for the
    default chain.
    """
    if not aws_conn_id:
        return
    if not _connection_exists(aws_conn_id):
        if aws_conn_id != DEFAULT_CONN_ID:
            raise InvalidParameterError(
                "aws_conn_id",
                aws_conn_id,
                f"no Airflow connection has this ID (only a missing {DEFAULT_CONN_ID!r} falls back to "
                "boto3's default credentials)",
            ) from None
        log.warning(
            "No Airflow connection %r: using boto3's default credential chain and region", aws_conn_id
        )


# Airflow 3 reports a connection it could not read (its API server restarting, say) as not found: a worker looks
# again after these pauses before it calls an ID other than the default unknown. An event loop (the
# triggerer's) looks once: it must not block.
CONNECTION_LOOKUP_PAUSES = (5.0, 15.0)


def _connection_exists(aws_conn_id: str) -> bool:
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

    pauses: tuple[float, ...] = ()
    # A missing default connection is the usual case on EC2, EKS and MWAA: nothing to wait for there.
    if aws_conn_id != DEFAULT_CONN_ID:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pauses = CONNECTION_LOOKUP_PAUSES
    for pause in (*pauses, None):
        try:
            BaseHook.get_connection(aws_conn_id)
            return True
        except AirflowNotFoundException:
            if pause is None:
                return False
            log.warning("No Airflow connection %r found; looking again in %.0f s", aws_conn_id, pause)
            time.sleep(pause)
    return False


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

    def check_connection(self) -> None:
        """
        Fail without retry when ``aws_conn_id`` names no connection or ``region_name`` is malformed.

        A missing *default* connection falls back to boto3's default credential chain with a warning,
        as the Amazon provider does: deployments on EC2, EKS or MWAA rely on their instance or execution
        role. A connection named explicitly that does not exist is a mistake, and fails before any call.
        """
        # The hook's connection goes through check_connection_id; the client built later reuses it.
        _ = self.hook.conn_config
        if self.region_name is not None:
            # botocore's own rule, checked here so the error names the parameter and is not retried.
            from botocore.exceptions import InvalidRegionError
            from botocore.utils import validate_region_name

            try:
                if not isinstance(self.region_name, str):
                    raise InvalidRegionError(region_name=self.region_name)
                validate_region_name(self.region_name)
            except InvalidRegionError:
                raise InvalidParameterError(
                    "region_name", self.region_name, "must be an AWS region name such as us-east-1"
                ) from None

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
