"""The service's input rules, checked before any call, and the deterministic IDs of task instances."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from typing import Any
from urllib.parse import urlsplit

from airflow_ml_provider.exceptions import InvalidParameterError

log = logging.getLogger(__name__)

ENTITY_ID_MAX_LENGTH = 64
ENTITY_NAME_MAX_LENGTH = 1024
S3_URL_MAX_LENGTH = 2048
_ENTITY_ID_PATTERN = re.compile(r"[a-zA-Z0-9_.-]+")
_S3_URL_PATTERN = re.compile(r"s3://([^/]+)(/.*)?")
_FORBIDDEN_KEY_PARTS = (":", "//", "/./", "/../")
# Room kept at the end of a derived ID for the retry suffix ("-r" and up to three digits).
_RETRY_SUFFIX_ROOM = 5


# What a template renders when the value it reads is missing: ``{{ ti.xcom_pull(...) }}`` of a task that
# returned nothing gives the text "None". The service would take it as an ID, shared by every such task.
_RENDERED_NOTHING = frozenset({"None", "null"})


def validate_entity_id(field: str, value: Any) -> str:
    """
    Return ``value`` if it is a valid Amazon ML ID (1-64 of ``[a-zA-Z0-9_.-]``), else raise.

    An ID that reads ``None`` or ``null`` is refused too: it is what a template renders from a missing
    value, and every task whose template did so would share that one object.
    """
    if not isinstance(value, str):
        raise InvalidParameterError(field, value, "must be a string of 1-64 characters [a-zA-Z0-9_.-]")
    if value.strip() in _RENDERED_NOTHING:
        raise InvalidParameterError(
            field, value, "is what a template renders from a missing value (an upstream XCom that is None?)"
        )
    if not 1 <= len(value) <= ENTITY_ID_MAX_LENGTH:
        raise InvalidParameterError(field, value, f"must be 1-{ENTITY_ID_MAX_LENGTH} characters long")
    if not _ENTITY_ID_PATTERN.fullmatch(value):
        raise InvalidParameterError(field, value, "may contain only letters, digits, '_', '.' and '-'")
    return value


def validate_entity_name(field: str, value: Any) -> str | None:
    """Return ``value`` if it is a valid entity name (None, or at most 1024 chars, not only spaces)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterError(field, value, "must be a string")
    if len(value) > ENTITY_NAME_MAX_LENGTH:
        raise InvalidParameterError(field, value, f"must be at most {ENTITY_NAME_MAX_LENGTH} characters long")
    if value and not value.strip():
        raise InvalidParameterError(field, value, "must not consist of whitespace only")
    return value


def validate_s3_url(field: str, value: Any) -> str:
    """Return ``value`` if it is an ``s3://bucket/key`` URL of at most 2048 characters, else raise."""
    if not isinstance(value, str) or not _S3_URL_PATTERN.fullmatch(value):
        raise InvalidParameterError(field, value, "must be an S3 URL of the form s3://bucket/key")
    if len(value) > S3_URL_MAX_LENGTH:
        raise InvalidParameterError(field, value, f"must be at most {S3_URL_MAX_LENGTH} characters long")
    return value


def normalize_output_uri(value: Any, field: str = "output_uri") -> str:
    """
    Validate a batch prediction's ``OutputUri`` and return it ending with ``/``.

    The Developer Guide asks for a trailing ``/``; a missing one is added (and logged) so the
    results land under the prefix the user named rather than next to it.
    """
    validate_s3_url(field, value)
    if not value.endswith("/"):
        log.info("%s %r has no trailing '/'; using %r", field, value, f"{value}/")
        value = f"{value}/"
        validate_s3_url(field, value)
    key = value[len("s3://") :].partition("/")[2]
    for forbidden in _FORBIDDEN_KEY_PARTS:
        # A leading "/" makes a key that starts with "./" or "../" match as well.
        if forbidden in f"/{key}":
            raise InvalidParameterError(field, value, f"key must not contain {forbidden!r}")
    return value


def _slug(text: str, length: int) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.")[:length] or "x"


def derive_entity_id(
    dag_id: str, task_id: str, run_id: str, map_index: int | None, namespace: str = ""
) -> str:
    """
    Build the ID of the object a task instance creates: the same on every try, unique per instance.

    The service keeps a namespace per kind of object, so one function serves all kinds.

    It reads ``<dag>.<task>.<hash>`` so the console stays legible, with the hash of all four
    parts guaranteeing uniqueness, and leaves room for :func:`retry_entity_id`. A ``namespace``
    (``[amazon_ml] id_namespace``) enters the hash, so two Airflow deployments on one account, whose
    run IDs coincide, never share an object; empty, the IDs are those of earlier releases.
    """
    index = -1 if map_index is None else map_index
    parts = f"{dag_id}\x00{task_id}\x00{run_id}\x00{index}"
    if namespace:
        parts = f"{namespace}\x00{parts}"
    digest = hashlib.sha256(parts.encode()).hexdigest()[:16]
    room = ENTITY_ID_MAX_LENGTH - _RETRY_SUFFIX_ROOM - len(digest) - 2
    dag_part = _slug(dag_id, room // 2)
    task_part = _slug(task_id, room - len(dag_part))
    return f"{dag_part}.{task_part}.{digest}"


# A task instance that needed more fresh objects than this is misconfigured, not unlucky.
MAX_GENERATIONS = 100


def retry_entity_id(base_id: str, generation: int) -> str:
    """
    Return the ID of a task's ``generation``-th object after earlier ones were passed over.

    Generation 0 is ``base_id`` itself; later ones append ``-r<n>``. When that would pass 64
    characters, the end of the base gives way to a hash of the whole base, so that two long IDs
    differing only in their last characters keep distinct chains.
    """
    if generation == 0:
        return base_id
    suffix = f"-r{generation}"
    if len(base_id) + len(suffix) <= ENTITY_ID_MAX_LENGTH:
        return f"{base_id}{suffix}"
    digest = hashlib.sha256(base_id.encode()).hexdigest()[:8]
    return f"{base_id[: ENTITY_ID_MAX_LENGTH - len(suffix) - len(digest) - 1]}.{digest}{suffix}"


def entity_id_chain(base_id: str) -> list[str]:
    """Every ID the objects of a task instance whose first ID is ``base_id`` may have, in order."""
    return [retry_entity_id(base_id, generation) for generation in range(MAX_GENERATIONS)]


def json_document(field: str, value: Any) -> str | None:
    """Return a JSON object given as a dict or as JSON text, as the JSON text the service takes."""
    if value is None:
        return None
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as error:
            raise InvalidParameterError(field, value, f"must be a JSON object ({error})") from None
        if isinstance(parsed, dict):
            return value
    raise InvalidParameterError(field, value, "must be a JSON object, as a dict or as JSON text")


TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
# Prefixes the user's tags may not use: AWS reserves one, the provider keeps its own tags under the other.
RESERVED_TAG_PREFIXES = ("aws:", "airflow-ml-provider:")


def validate_tags(field: str, value: Any, room: int | None = None) -> dict[str, str]:
    """
    Return tags given as a dict (or as boto3's ``[{"Key": ..., "Value": ...}]``) as a dict, else raise.

    Keys are 1-128 and values 0-256 letters, digits, spaces and ``_.:/=+-@``, as the service requires;
    at most ``room`` of them.
    """
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(tag, dict) and "Key" in tag for tag in value):
        value = {tag["Key"]: tag.get("Value", "") for tag in value}
    if not isinstance(value, dict):
        raise InvalidParameterError(field, value, "must be a dict of tag keys to values")
    if room is not None and len(value) > room:
        raise InvalidParameterError(
            field, value, f"at most {room} tags: the service allows 10 per object and the provider keeps 3"
        )
    for key, tag_value in value.items():
        _check_tag_text(field, key, 1, TAG_KEY_MAX_LENGTH, "key")
        _check_tag_text(field, tag_value, 0, TAG_VALUE_MAX_LENGTH, "value")
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise InvalidParameterError(
                field, key, f"tag keys must not start with {' or '.join(map(repr, RESERVED_TAG_PREFIXES))}"
            )
    return dict(value)


def _check_tag_text(field: str, text: Any, least: int, most: int, what: str) -> None:
    if not isinstance(text, str) or not least <= len(text) <= most:
        raise InvalidParameterError(
            field, text, f"a tag {what} must be a string of {least}-{most} characters"
        )
    if any(not (char.isalnum() or char.isspace() or char in _TAG_PUNCTUATION) for char in text):
        raise InvalidParameterError(
            field, text, f"a tag {what} may hold only letters, digits, spaces and _.:/=+-@"
        )


def validate_https_url(field: str, value: Any) -> str:
    """Return ``value`` if it is an http(s) URL with a host, else raise."""
    parsed = urlsplit(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise InvalidParameterError(field, value, "must be an https:// URL such as the model's EndpointUrl")
    return value


def validate_flag(field: str, value: Any) -> bool:
    """Return ``value`` if it is a bool, else raise: a string such as ``"no"`` would read as True."""
    if not isinstance(value, bool):
        raise InvalidParameterError(field, value, "must be True or False")
    return value


def validate_positive(field: str, value: Any, *, zero_allowed: bool = False) -> float:
    """Return ``value`` if it is a finite positive number (not a bool, NaN or infinity), else raise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_allowed)
    ):
        rule = "a finite number >= 0" if zero_allowed else "a finite positive number"
        raise InvalidParameterError(field, value, f"must be {rule}")
    return value


# No wait is longer than this: the service fails a job after 7 days, and a year keeps every time representable.
MAX_WAIT_SECONDS = 366 * 24 * 60 * 60


def validate_duration(field: str, value: Any, *, zero_allowed: bool = False) -> float:
    """Return ``value`` if it is a finite positive number of seconds, at most :data:`MAX_WAIT_SECONDS`."""
    validate_positive(field, value, zero_allowed=zero_allowed)
    if value > MAX_WAIT_SECONDS:
        raise InvalidParameterError(field, value, f"must be at most {MAX_WAIT_SECONDS} seconds (366 days)")
    return value


def validate_waiter(waiter_delay: Any, waiter_max_attempts: Any) -> None:
    """Check an operator's wait: a delay in seconds, a whole number of polls, together at most a year."""
    validate_duration("waiter_delay", waiter_delay)
    validate_count("waiter_max_attempts", waiter_max_attempts)
    if waiter_delay * waiter_max_attempts > MAX_WAIT_SECONDS:
        raise InvalidParameterError(
            "waiter_max_attempts",
            waiter_max_attempts,
            f"times waiter_delay {waiter_delay} must be at most {MAX_WAIT_SECONDS} seconds (366 days)",
        )


def validate_count(field: str, value: Any) -> int:
    """Return ``value`` if it is a positive whole number of attempts (an int, not a bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameterError(field, value, "must be a positive whole number")
    return value


def optional(**fields: Any) -> dict[str, Any]:
    """The request fields that are set: the service wants an absent field left out, not sent as null."""
    return {key: value for key, value in fields.items() if value is not None}


def validate_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise."""
    if value not in choices:
        raise InvalidParameterError(field, value, f"must be one of {', '.join(choices)}")
    return value


def exactly_one(**fields: Any) -> None:
    """Raise unless exactly one of the named parameters is set."""
    given = [name for name, value in fields.items() if value is not None]
    if len(given) != 1:
        names = " or ".join(fields)
        raise InvalidParameterError(names, given or None, f"give exactly one of {names}")


def validate_string(
    field: str, value: Any, least: int, most: int, pattern: re.Pattern[str] | None = None
) -> str:
    """Return ``value`` if it is a string of ``least``-``most`` characters matching ``pattern``, else raise."""
    if not isinstance(value, str) or not least <= len(value) <= most:
        raise InvalidParameterError(field, value, f"must be a string of {least}-{most} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidParameterError(field, value, f"must match the pattern {pattern.pattern}")
    return value


def validate_string_list(field: str, value: Any, least: int, most: int) -> list[str]:
    """Return ``value`` if it is a non-empty list of strings of ``least``-``most`` characters, else raise."""
    if not isinstance(value, list | tuple) or not value:
        raise InvalidParameterError(field, value, "must be a non-empty list of strings")
    return [validate_string(field, item, least, most) for item in value]
