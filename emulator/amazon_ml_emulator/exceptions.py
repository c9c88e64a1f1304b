"""Errors of the Amazon ML service, named as the service names them, each knowing its HTTP status."""

from __future__ import annotations

from typing import Any


class MachineLearningError(Exception):
    """
    Base of every error the emulated service answers with.

    The body follows the service: ``{"__type": <class name>, "message": ..., "code": <int>}``.

    :param message: the text a client sees as the error message.
    """

    status_code: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def error_type(self) -> str:
        return type(self).__name__

    @property
    def code(self) -> int:
        return self.status_code

    def to_body(self) -> dict[str, Any]:
        return {"__type": self.error_type, "message": self.message, "code": self.code}


class InvalidInputException(MachineLearningError):
    """
    An input failed the service's validation.

    :param message: names the field, the value and the rule it breaks.
    """


class ResourceNotFoundException(MachineLearningError):
    """
    No entity of that type has the given ID (HTTP 400, as the service answers, not 404).

    :param message: names the missing entity.
    """


class IdempotentParameterMismatchException(MachineLearningError):
    """
    An ID was reused with parameters other than those of the entity it already names.

    :param message: names the ID and the differing parameters.
    """


class InvalidTagException(MachineLearningError):
    """
    A tag's key or value breaks the service's rules.

    :param message: names the tag and the rule.
    """


class TagLimitExceededException(MachineLearningError):
    """
    An object would carry more tags than the service allows.

    :param message: names the object and the limit.
    """


class ExpiredTokenException(MachineLearningError):
    """
    The caller's session token has expired (HTTP 400); new credentials are needed.

    :param message: the error text.
    """

    def __init__(self, message: str = "The security token included in the request is expired") -> None:
        super().__init__(message)


class UnrecognizedClientException(MachineLearningError):
    """
    The caller's access key is not known to the service (HTTP 400), e.g. after it was rotated.

    :param message: the error text.
    """

    def __init__(self, message: str = "The security token included in the request is invalid.") -> None:
        super().__init__(message)


CREDENTIAL_ERRORS: dict[str, type[MachineLearningError]] = {
    error.__name__: error for error in (ExpiredTokenException, UnrecognizedClientException)
}


class LimitExceededException(MachineLearningError):
    """
    An account limit was reached.

    :param message: names the limit.
    """


class PredictorNotMountedException(MachineLearningError):
    """
    Predict named a model without a READY real-time endpoint.

    :param message: names the model and its endpoint's status.
    """


class InternalServerException(MachineLearningError):
    """
    The service failed (HTTP 500); clients retry it.

    :param message: the error text.
    """

    status_code = 500


class ThrottlingException(MachineLearningError):
    """
    The caller exceeded the request rate (HTTP 400); clients retry it.

    :param message: the error text, by default the service's ``Rate exceeded``.
    """

    def __init__(self, message: str = "Rate exceeded") -> None:
        super().__init__(message)


class AccessDeniedException(MachineLearningError):
    """
    The account may not use the service (HTTP 403), as for accounts opened after the service closed.

    :param message: the error text.
    """

    status_code = 403

    def __init__(self, message: str = "AmazonML is no longer available to new customers") -> None:
        super().__init__(message)


class UnknownOperationException(MachineLearningError):
    """
    The ``X-Amz-Target`` header names no operation of the service.

    :param message: the error text.
    """
