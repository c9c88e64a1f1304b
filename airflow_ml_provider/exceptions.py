"""Typed errors of the provider; each carries what a user needs to act on it."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class InvalidParameterError(AirflowFailException):
    """
    A task parameter breaks a rule of the service; retrying cannot help.

    :param field: The parameter's name, e.g. ``output_uri``.
    :param value: The rejected value.
    :param rule: The rule it breaks, in plain words.
    """

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field} {value!r}: {rule}")


class ServiceRejectedError(AirflowFailException):
    """
    The service refused a request for a reason a retry cannot change (bad input, no access, conflict).

    :param operation: The API operation, e.g. ``CreateBatchPrediction``.
    :param code: The service's error code, e.g. ``InvalidInputException``.
    :param message: The service's own message.
    """

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        self.service_message = message
        super().__init__(f"{operation} was rejected by Amazon ML ({code}): {message}")


class EntityFailedError(AirflowException):
    """
    An Amazon ML object ended in a state other than ``COMPLETED``, or its outcome could not be read.

    :param title: The kind of object, e.g. ``Batch prediction``.
    :param entity_id: The object's ID.
    :param status: Its last known status (``FAILED``, ``DELETED``, an unknown status, ...), or the
        outcome of the wait when no status was read.
    :param message: The service's ``Message`` or why the outcome is unknown.
    """

    def __init__(self, title: str, entity_id: str | None, status: str | None, message: str | None) -> None:
        self.entity_id = entity_id
        self.status = status
        self.service_message = message
        detail = f": {message}" if message else ""
        super().__init__(f"{title} {entity_id} did not complete (status {status}){detail}")


class BatchPredictionFailedError(EntityFailedError):
    """A batch prediction FAILED, was DELETED, or reached a status other than COMPLETED."""


class DataSourceFailedError(EntityFailedError):
    """A data source FAILED, was DELETED, or reached a status other than COMPLETED."""


class MLModelFailedError(EntityFailedError):
    """An ML model FAILED, was DELETED, or reached a status other than COMPLETED."""


class EvaluationFailedError(EntityFailedError):
    """An evaluation FAILED, was DELETED, or reached a status other than COMPLETED."""


class WaitTimeoutError(AirflowException):
    """
    The wait for an Amazon ML object ran out of time or attempts while it was still running.

    Retrying the task is safe: it reattaches to the same object.

    :param title: The kind of object, e.g. ``Batch prediction``.
    :param entity_id: The object's ID.
    :param status: Its last known status.
    :param reason: Which limit was reached.
    """

    def __init__(self, title: str, entity_id: str, status: str | None, reason: str) -> None:
        self.entity_id = entity_id
        self.status = status
        super().__init__(f"Gave up waiting for {title.lower()} {entity_id} (last status {status}): {reason}")


class RealtimeEndpointFailedError(AirflowException):
    """
    A model's real-time endpoint FAILED, or reported a status outside the service's vocabulary.

    :param ml_model_id: The model whose endpoint it is.
    :param status: The endpoint's status.
    :param wanted: The status the task waited for (READY or NONE).
    """

    def __init__(self, ml_model_id: str, status: str, wanted: str) -> None:
        self.ml_model_id = ml_model_id
        self.status = status
        super().__init__(
            f"The real-time endpoint of ML model {ml_model_id} is {status} while waiting for {wanted}"
        )
