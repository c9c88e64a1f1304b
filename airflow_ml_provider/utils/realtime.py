"""Real-time endpoints: what their statuses mean to a waiting task, and the records ``Predict`` takes."""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Mapping
from typing import Any

from airflow_ml_provider.exceptions import InvalidParameterError, RealtimeEndpointFailedError

ENDPOINT_NONE = "NONE"
ENDPOINT_READY = "READY"
ENDPOINT_UPDATING = "UPDATING"
ENDPOINT_FAILED = "FAILED"
# The service's whole vocabulary (RealtimeEndpointStatus); anything else is an error, never a success.
ENDPOINT_STATUSES = (ENDPOINT_NONE, ENDPOINT_READY, ENDPOINT_UPDATING, ENDPOINT_FAILED)


def endpoint_status(endpoint_info: Mapping[str, Any] | None) -> str:
    """The ``EndpointStatus`` of a model's ``EndpointInfo``; a model that reports none has no endpoint."""
    return (endpoint_info or {}).get("EndpointStatus", ENDPOINT_NONE)


def endpoint_reached(ml_model_id: str, endpoint_info: Mapping[str, Any] | None, wanted: str) -> bool:
    """
    Whether a model's endpoint has reached the ``wanted`` status (READY or NONE).

    Any other known status may still move on, so the wait goes on; FAILED, or a status outside the
    service's vocabulary, ends it with an error.
    """
    status = endpoint_status(endpoint_info)
    if status == wanted:
        return True
    if status == ENDPOINT_FAILED or status not in ENDPOINT_STATUSES:
        raise RealtimeEndpointFailedError(ml_model_id, status, wanted)
    return False


def ready_endpoint_url(ml_model_id: str, endpoint_info: Mapping[str, Any] | None) -> str:
    """The URL ``Predict`` goes to, from a model's ``EndpointInfo``; an error unless the endpoint is READY."""
    status = endpoint_status(endpoint_info)
    if status != ENDPOINT_READY or not (endpoint_info or {}).get("EndpointUrl"):
        raise InvalidParameterError(
            "ml_model_id",
            ml_model_id,
            f"has no READY real-time endpoint (EndpointStatus {status}); create one first "
            "(CreateRealtimeEndpointOperator) or pass predict_endpoint",
        )
    return endpoint_info["EndpointUrl"]  # type: ignore[index]


def predict_record(record: Any) -> dict[str, str]:
    """
    A record as ``Predict`` takes it: attribute names mapped to strings.

    Numbers and booleans are written as text (the service parses every value from text, as from a CSV
    cell); a None value is left out, which the service reads as a missing value.
    """
    if not isinstance(record, Mapping):
        raise InvalidParameterError("record", record, "must be a dict of attribute names to values")
    values: dict[str, str] = {}
    for name, value in record.items():
        if not isinstance(name, str) or not name:
            raise InvalidParameterError("record", name, "attribute names must be non-empty strings")
        if value is None:
            continue
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, str | numbers.Real | decimal.Decimal):
            values[name] = str(value)
        else:
            raise InvalidParameterError(
                "record", {name: value}, "values must be strings, numbers, booleans or None"
            )
    return values
