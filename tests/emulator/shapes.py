"""Checks raw Amazon ML response bodies against botocore's output shapes, member by member."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape

SERVICE_MODEL = botocore.session.get_session().get_service_model("machinelearning")
_NUMBER_TYPES = {"timestamp", "float", "double"}
_INTEGER_TYPES = {"long", "integer"}


def shape_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``shape``: unknown, missing required or mistyped members."""
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
        return [
            error
            for index, item in enumerate(value)
            for error in shape_errors(item, shape.member, f"{path}[{index}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map, got {value!r}"]
        errors = [f"{where}: map key {key!r} is not a string" for key in value if not isinstance(key, str)]
        return errors + [
            error
            for key, item in value.items()
            for error in shape_errors(item, shape.value, f"{path}[{key}]")
        ]
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
    return []


class ResponseShapeChecker:
    """A ``before-parse`` handler that fails a call whose raw answer does not fit the operation's shape."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, int, dict[str, Any]]] = []

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
            if set(body) != {"__type", "message", "code"} or not isinstance(body.get("code"), int):
                problems.append(f"error body {body!r}")
        if problems:
            raise AssertionError(f"{operation_model.name} answered off-shape: {problems}")

    def last_body(self, operation: str) -> dict[str, Any]:
        return next(body for name, _, body in reversed(self.bodies) if name == operation)


def attach_checker(client: Any) -> ResponseShapeChecker:
    checker = ResponseShapeChecker()
    client.meta.events.register("before-parse.machine-learning", checker)
    return checker
