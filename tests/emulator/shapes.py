"""Checks raw Amazon ML response bodies against botocore's shapes, member by member.

Every member is checked for presence (required), type, enum value, length, range and pattern, as the model
states them; error bodies are checked against the error's own shape. One pattern is relaxed: the model's
``VipURL`` (EndpointUrl, PredictEndpoint) demands an ``https://...amazon(aws).com`` host, which a local
server cannot have, so its host is checked for form only and the rest of the pattern as written.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape

SERVICE_MODEL = botocore.session.get_session().get_service_model("machinelearning")
_NUMBER_TYPES = {"timestamp", "float", "double"}
_INTEGER_TYPES = {"long", "integer"}
_ENDPOINT_URL_SHAPE = "VipURL"
_STAND_IN_HOST = "https://machinelearning.us-east-1.amazonaws.com"
# Error codes the service answers with that no operation of the model lists (throttling, authentication,
# protocol): their bodies are checked for form, not against a shape.
UNMODELED_ERRORS = frozenset(
    {
        "ThrottlingException",
        "AccessDeniedException",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "UnknownOperationException",
        "SerializationException",
    }
)


def shape_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``shape``: unknown, missing, mistyped or out-of-bounds members."""
    where = path or "<body>"
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        errors = [
            f"{where}: required member {name} missing" for name in shape.required_members if name not in value
        ]
        for name, member in value.items():
            if name not in shape.members:
                errors.append(f"{where}: unknown member {name}")
            else:
                errors.extend(shape_errors(member, shape.members[name], f"{path}.{name}".lstrip(".")))
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r}"]
        return _length_errors(where, len(value), shape) + [
            error
            for index, item in enumerate(value)
            for error in shape_errors(item, shape.member, f"{path}[{index}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map, got {value!r}"]
        errors = _length_errors(where, len(value), shape)
        for key, item in value.items():
            errors += shape_errors(key, shape.key, f"{path}<key {key!r}>")
            errors += shape_errors(item, shape.value, f"{path}[{key}]")
        return errors
    expected: tuple[type, ...]
    if kind == "string":
        expected = (str,)
    elif kind == "boolean":
        expected = (bool,)
    elif kind in _INTEGER_TYPES:
        expected = (int,)
    elif kind in _NUMBER_TYPES:
        expected = (int, float)
    else:
        return [f"{where}: no check for shape type {kind}"]
    if (isinstance(value, bool) and kind != "boolean") or not isinstance(value, expected):
        return [f"{where}: expected {kind}, got {value!r}"]
    if kind == "string":
        return _string_errors(where, value, shape)
    if kind in _INTEGER_TYPES | {"float", "double"}:
        return _range_errors(where, value, shape)
    return []


def _length_errors(where: str, length: int, shape: Shape) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and length < low) or (high is not None and length > high):
        return [f"{where}: length {length} outside {low}..{high} ({shape.name})"]
    return []


def _range_errors(where: str, value: float, shape: Shape) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{where}: {value!r} outside {low}..{high} ({shape.name})"]
    return []


def _string_errors(where: str, value: str, shape: Shape) -> list[str]:
    errors = _length_errors(where, len(value), shape)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        errors.append(f"{where}: {value!r} is not one of {enum}")
    pattern = shape.metadata.get("pattern")
    if pattern is not None:
        if shape.name == _ENDPOINT_URL_SHAPE:
            value = _with_stand_in_host(where, value, errors)
        if not pattern_matches(pattern, value):
            errors.append(f"{where}: {value!r} does not match {pattern} ({shape.name})")
    return errors


def _with_stand_in_host(where: str, url: str, errors: list[str]) -> str:
    """The URL with its scheme and host replaced by a service host; a URL without a host is an error."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        errors.append(f"{where}: {url!r} is not an http(s) URL of a host")
    return _STAND_IN_HOST + parts.path


_CLASS_PATTERN = re.compile(r"\^\(\[(?P<members>.*)\]\*\)\$")


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches the model's (Java) ``pattern`` whole, as the service checks it."""
    if "\\p{" not in pattern:
        return re.fullmatch(pattern, value, re.DOTALL) is not None
    # Python's re knows no Unicode categories: the one form the model uses them in, ^([...]*)$, by hand.
    match = _CLASS_PATTERN.fullmatch(pattern)
    if match is None:
        raise ValueError(f"pattern {pattern!r}: no check for this form")
    members = match["members"]
    categories = tuple(re.findall(r"\\p\{(\w)\}", members))
    literals = set(re.sub(r"\\p\{\w\}", "", members).replace("\\", ""))
    return all(unicodedata.category(char)[0] in categories or char in literals for char in value)


def error_body_errors(operation_model: OperationModel, body: dict[str, Any]) -> list[str]:
    """How an error body breaks the shape of the error it names (or, unmodeled, the common error form)."""
    code = body.get("__type")
    if not isinstance(code, str) or not isinstance(body.get("message"), str):
        return [f"error body {body!r}: needs a string __type and message"]
    members = {name: value for name, value in body.items() if name != "__type"}
    for shape in operation_model.error_shapes:
        if shape.name == code:
            return shape_errors(members, shape, code)
    if code in UNMODELED_ERRORS:
        return [] if set(members) <= {"message", "code"} else [f"error body {body!r}: unknown members"]
    listed = [shape.name for shape in operation_model.error_shapes]
    return [f"{operation_model.name} answered {code}, which the model does not list for it ({listed})"]


class ResponseShapeChecker:
    """A ``before-parse`` handler that fails a call whose raw answer does not fit the operation's shape."""

    def __init__(self, strict: bool = True) -> None:
        self.bodies: list[tuple[str, int, dict[str, Any]]] = []
        # Not strict: record each answer's problems (empty when it fits) instead of failing the call.
        self.strict = strict
        self.problems: list[tuple[str, int, list[str]]] = []

    def __call__(self, operation_model: OperationModel, response_dict: dict[str, Any], **kwargs: Any) -> None:
        status = response_dict["status_code"]
        headers = {name.lower(): value for name, value in response_dict["headers"].items()}
        raw = response_dict["body"]
        body = json.loads(raw) if raw else {}
        self.bodies.append((operation_model.name, status, body))
        problems = []
        if headers.get("content-type") != "application/x-amz-json-1.1":
            problems.append(f"content-type {headers.get('content-type')!r}")
        if not headers.get("x-amzn-requestid"):
            problems.append("no x-amzn-RequestId header")
        if status == 200:
            problems += shape_errors(body, operation_model.output_shape)
        else:
            problems += error_body_errors(operation_model, body)
        self.problems.append((operation_model.name, status, problems))
        if problems and self.strict:
            raise AssertionError(f"{operation_model.name} answered off-shape: {problems}")

    def last_body(self, operation: str) -> dict[str, Any]:
        return next(body for name, _, body in reversed(self.bodies) if name == operation)


def attach_checker(client: Any, strict: bool = True) -> ResponseShapeChecker:
    checker = ResponseShapeChecker(strict)
    client.meta.events.register("before-parse.machine-learning", checker)
    return checker
