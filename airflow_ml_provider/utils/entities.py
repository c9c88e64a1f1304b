"""An object's identity: every parameter that shapes it, compared between a request and an existing object."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def identity_digest(identity: Mapping[str, Any]) -> str:
    """A short, stable fingerprint of an identity, kept on the object as a tag."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def identity_differences(
    identity: Mapping[str, Any], reported: Mapping[str, Any], digest_match: bool | None
) -> dict[str, tuple[Any, Any]]:
    """
    Each identity parameter of a new request that differs from an existing object's, as (old, new).

    ``digest_match`` says whether the object's identity tag matches the request (None when the object
    has no tag). A parameter the service does not report is named with an unknown old value when the
    tag shows that something differs and no reported parameter does.
    """
    if digest_match:
        return {}
    differences = {
        key: (reported[key], value)
        for key, value in identity.items()
        if key in reported and reported[key] != value
    }
    if digest_match is False and not differences:
        differences = {key: (UNREPORTED, value) for key, value in identity.items() if key not in reported}
    return differences


class _Unreported:
    def __repr__(self) -> str:
        return "<not reported by the service>"


UNREPORTED: Any = _Unreported()


def json_text(value: Any) -> str | None:
    """A JSON document in one canonical spelling, whatever its key order and spacing."""
    if value is None or value == "":
        return None
    try:
        return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)
