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
    # The model gives InvalidTagException, TagLimitExceededException and PredictorNotMountedException no
    # ``code`` member; the other errors it lists carry one, the HTTP status.
    carries_code: bool = True

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
        body: dict[str, Any] = {"__type": self.error_type, "message": self.message}
        if self.carries_code:
            body["code"] = self.code
        return body


class InvalidInputException(MachineLearningError):
    """
    An input failed the service's validation.

    :param message: names the field, the value and the rule it breaks.
    """


class ResourceNotFoundException(MachineLearningError):
    """
    No entity of that type has the given ID (HTTP 404, the Smithy model's ``httpError``).

    :param message: the service's wording, ``No BatchPrediction with id fake-id exists``.
    """

    status_code = 404


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

    carries_code = False


class TagLimitExceededException(MachineLearningError):
    """
    An object would carry more tags than the service allows.

    :param message: names the object and the limit.
    """

    carries_code = False


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
    A limit was reached, e.g. a real-time endpoint's requests per second (HTTP 417, the Smithy model's).

    :param message: names the limit.
    """

    status_code = 417


class PredictorNotMountedException(MachineLearningError):
    """
    Predict named a model without a READY real-time endpoint.

    :param message: names the model and its endpoint's status.
    """

    carries_code = False


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


class MissingAuthenticationTokenException(MachineLearningError):
    """
    The request carries no SigV4 signature (HTTP 403, as in the API Reference's common errors).

    :param message: the error text.
    """

    status_code = 403

    def __init__(self, message: str = "Missing Authentication Token") -> None:
        super().__init__(message)


class IncompleteSignatureException(MachineLearningError):
    """
    The request's signature does not have SigV4's form (HTTP 400, as in the API Reference's common errors).

    :param message: names what is missing or malformed.
    """
