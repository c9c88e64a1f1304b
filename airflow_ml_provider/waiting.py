"""How a wait for an Amazon ML object proceeds: one timeout rule and one event contract for every mode.

The poke, the synchronous wait of an operator and the trigger all feed their observations to an
:class:`EntityWait` and do what it answers, so they give up at the same moment and report the same
outcome. It does no I/O itself.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_ml_provider.exceptions import ServiceRejectedError, WaitTimeoutError
from airflow_ml_provider.kinds import EntityKind
from airflow_ml_provider.utils.status import FAILED, Outcome, outcome_of

log = logging.getLogger(__name__)

# Error codes after which calling again can succeed: throttling, server-side faults, lost connections.
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ConnectionError",
        "SlowDown",
        "InternalError",
        "RequestThrottled",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "LimitExceededException",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Error codes by which the service refuses the caller's credentials: an expired session token or signature,
# a key it does not know (rotated away). New credentials from the connection may cure them; nothing else will.
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)
MAX_BACKOFF_FACTOR = 8
# Refusals that can be the service's lag rather than its answer, and how long one may last before it is final:
# credentials refused while a rotated key reaches the service before the connection (a secrets backend that
# lags), and an object not found right after its create (the service's reads can lag its writes). A wait
# retries them with backoff, reading the connection anew, for this long after the first in a row, and never
# past its deadline.
LAG_GRACE_SECONDS = {**dict.fromkeys(CREDENTIAL_ERROR_CODES, 60.0), "ResourceNotFoundException": 30.0}
# A wait logs a status when it first sees it, then at every attempt number divisible by this while the
# status stays the same: a week-long wait of the default 30 s delay writes about 2,000 lines, not 20,000.
LOG_EVERY_ATTEMPTS = 10


def is_retryable(code: str) -> bool:
    """
    Whether an error with this code may go away if the call is made again.

    botocore names an error without a JSON body (a proxy's 502, say) by its HTTP status.
    """
    return code in RETRYABLE_ERROR_CODES or (code.isdigit() and (code.startswith("5") or code == "429"))


def is_credential_error(code: str) -> bool:
    """Whether the service refused the caller's credentials, which reading the connection again may cure."""
    return code in CREDENTIAL_ERROR_CODES


def lag_grace(code: str) -> float:
    """How long a refusal with this code may last before it is final: 0 for one that is final at once."""
    return LAG_GRACE_SECONDS.get(code, 0.0)


def backoff(delay: float, failures_in_a_row: int) -> float:
    """The pause after the n-th failure in a row: the delay, doubled each time up to eight times it."""
    return delay * min(2 ** max(failures_in_a_row - 1, 0), MAX_BACKOFF_FACTOR)


EVENT_KEYS = frozenset({"status", "entity_kind", "entity_id", "description", "message"})
# Present only when the service refused the poll itself.
OPTIONAL_EVENT_KEYS = frozenset({"error_code"})


# A password that a service message quotes: after one of these words (and "for user X", "is", "=", ":"), a quoted
# value (escapes included) or the rest of the clause; and the password of a URL's user info.
# Words to look for, not a password.
_PASSWORD_WORD = r"\b(?:password|passwd|pwd|pgpassword)\b"  # noqa: S105  # nosec B105
_QUOTED = r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\""""
_QUOTED_PASSWORD = re.compile(
    rf"""({_PASSWORD_WORD}(?:\s+for\s+(?:user\s+)?\S+)?\s*(?:\bis\b|\bwas\b|=|:)?\s*)"""
    rf"""({_QUOTED}|[^\s;&,)'"]+(?:[ \t]+[^\s;&,)'"]+)*)""",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s/]+)(@)", re.IGNORECASE)


def redact_passwords(message: str) -> str:
    """
    Hide a password a service message quotes: what follows the word (password, passwd, pwd) and a URL's.

    A FAILED data source's message may quote the database's password back. The operator that read the
    database connection has Airflow mask it, but a sensor or the triggerer never reads that connection:
    every message the provider passes on (log lines, trigger events, errors) goes through here instead.
    It errs on the side of hiding: the rest of a clause after "password:" goes, not only one word.
    """
    return _URL_PASSWORD.sub(r"\1***\3", _QUOTED_PASSWORD.sub(r"\1***", message))


def json_safe(description: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return a service response without ``ResponseMetadata``, every timestamp as an ISO string and no password
    quoted in its ``Message`` (see :func:`redact_passwords`).
    """
    safe = {key: _json_value(value) for key, value in description.items() if key != "ResponseMetadata"}
    if isinstance(safe.get("Message"), str):
        safe["Message"] = redact_passwords(safe["Message"])
    return safe


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    return value


@dataclass(frozen=True)
class WaitResult:
    """
    How a wait for one Amazon ML object ended.

    :param outcome: ``success`` only when the object is ``COMPLETED``.
    :param kind: The kind of object.
    :param entity_id: The object's ID.
    :param description: Its last description (JSON-safe): a ``Get`` response, or a ``Describe`` list entry
        (the same fields but ``LogUri``) when a shared poller saw it; None if none was read.
    :param message: The service's ``Message`` or why the wait ended.
    :param error_code: The service's error code when it refused the poll itself; a retry cannot help.
    """

    outcome: Outcome
    kind: EntityKind
    entity_id: str
    description: dict[str, Any] | None = None
    message: str = ""
    error_code: str | None = None

    @property
    def status(self) -> str | None:
        """The object's last known service status."""
        return (self.description or {}).get("Status")

    def description_or_raise(self) -> dict[str, Any]:
        """Return the description of a COMPLETED object; raise the typed error of any other outcome."""
        if self.outcome is Outcome.SUCCESS and self.description is not None:
            return self.description
        if self.outcome is Outcome.TIMEOUT:
            raise WaitTimeoutError(self.kind.title, self.entity_id, self.status, self.message)
        if self.outcome is Outcome.ERROR and self.error_code:
            message = self.message.removeprefix(f"{self.error_code}: ")
            raise ServiceRejectedError(f"Get{self.kind.operation}", self.error_code, message)
        raise self.kind.failed_error(
            self.kind.title, self.entity_id, self.status or self.outcome.value, self.message
        )

    def to_event(self) -> dict[str, Any]:
        """The payload of the trigger event that carries this result."""
        return {
            "status": self.outcome.value,
            "entity_kind": self.kind.name,
            "entity_id": self.entity_id,
            "description": self.description,
            "message": self.message,
            **({"error_code": self.error_code} if self.error_code else {}),
        }

    @classmethod
    def from_event(cls, event: Any, kind: EntityKind, entity_id: str) -> WaitResult:
        """
        Read a trigger event strictly: anything malformed, unknown or about another object is an error.

        Nothing but an explicit, well-formed ``success`` for this very object is ever taken as success.
        """
        problem = None
        if not isinstance(event, Mapping):
            problem = f"the trigger sent {event!r} instead of an event"
        elif not EVENT_KEYS <= set(event) <= EVENT_KEYS | OPTIONAL_EVENT_KEYS:
            problem = f"the trigger event has keys {sorted(event)}, expected {sorted(EVENT_KEYS)}"
        elif not isinstance(event["status"], str) or event["status"] not in {
            outcome.value for outcome in Outcome
        }:
            problem = f"the trigger event has the unknown status {event['status']!r}"
        elif event["description"] is not None and not isinstance(event["description"], Mapping):
            problem = f"the trigger event's description is {event['description']!r}"
        elif not isinstance(event["message"], str):
            problem = f"the trigger event's message is {event['message']!r}"
        elif (event["entity_kind"], event["entity_id"]) != (kind.name, entity_id):
            problem = f"the trigger event is about {event['entity_kind']} {event['entity_id']!r}"
        elif event["status"] == Outcome.SUCCESS and not (
            isinstance(event["description"], Mapping)
            and outcome_of(event["description"].get("Status")) is Outcome.SUCCESS
        ):
            problem = "the trigger event claims success without a COMPLETED object"
        elif mismatch := _description_mismatch(event, kind, entity_id):
            problem = mismatch
        if problem:
            return cls(Outcome.ERROR, kind, entity_id, None, f"Malformed trigger event: {problem}")
        error_code = event.get("error_code")
        return cls(
            Outcome(event["status"]),
            kind,
            entity_id,
            event["description"],
            event["message"],
            error_code if isinstance(error_code, str) else None,
        )


def _description_mismatch(event: Mapping[str, Any], kind: EntityKind, entity_id: str) -> str | None:
    """Why the event's description is not of this object, or None; a success must name this one."""
    description = event["description"]
    if description is None or (kind.id_key not in description and event["status"] != Outcome.SUCCESS):
        return None
    described = description.get(kind.id_key)
    return None if described == entity_id else f"the trigger event describes {kind.id_key} {described!r}"


@dataclass(slots=True)
class EntityWait:
    """
    The state of one wait: feed it each poll's result, it answers a result or the seconds to sleep.

    Every poll counts as an attempt, throttled or failed ones included, and failed ones back off
    exponentially, so a throttled wait slows down and still ends. The wait gives up at
    ``max_attempts`` polls or at ``deadline``, whichever comes first.

    :param kind: The kind of object to wait for.
    :param entity_id: The object's ID.
    :param delay: Seconds between polls while the object is pending or in progress.
    :param max_attempts: Polls allowed, or None for no limit but the deadline.
    :param deadline: The moment on ``clock`` after which the wait gives up, or None. With neither limit
        the caller bounds the wait (a sensor's poke, which its ``timeout`` ends). A deadline handed over
        as epoch seconds becomes one with :func:`~airflow_ml_provider.utils.clock.local_deadline`.
    :param clock: The monotonic clock the deadline is on, so that a step of the wall clock changes nothing.
    """

    kind: EntityKind
    entity_id: str
    delay: float
    max_attempts: int | None = None
    deadline: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    attempts: int = 0
    errors_in_a_row: int = 0
    # When the refusals that may be the service's lag (see LAG_GRACE_SECONDS) began, on ``clock``.
    lagging_since: float | None = None
    # The error code of the last poll, while polls fail: a timeout then says what the service answered.
    last_error: str | None = None
    # The last description's status, for the log line of a change and the message of a timeout.
    last_status: Any = None
    # The last description as JSON text: a triggerer holds thousands of waits, and the text takes half
    # the memory of the dictionary and its strings; it is read back only when the wait ends.
    _last_description_json: str | None = field(default=None, repr=False)

    @property
    def last_description(self) -> dict[str, Any] | None:
        """The last description read (JSON-safe), or None before the first."""
        text = self._last_description_json
        return None if text is None else json.loads(text)

    def on_description(self, description: Mapping[str, Any]) -> WaitResult | float:
        """Take a ``Get`` response; return the result if the object reached a final status."""
        self.attempts += 1
        self.errors_in_a_row = 0
        self.lagging_since = self.last_error = None
        previous = self.last_status
        described = json_safe(description)
        self._last_description_json = json.dumps(described, separators=(",", ":"))
        status = described.get("Status")
        # Interned: thousands of waits then share one string per status.
        self.last_status = sys.intern(status) if isinstance(status, str) else status
        outcome = outcome_of(status)
        if outcome is not None:
            message = described.get("Message", "")
            if outcome is Outcome.FAILED and status != FAILED:
                message = f"unexpected status {status!r}; {message}".rstrip("; ")
            return WaitResult(outcome, self.kind, self.entity_id, described, message)
        level = (
            logging.INFO if status != previous or self.attempts % LOG_EVERY_ATTEMPTS == 0 else logging.DEBUG
        )
        log.log(level, "%s %s is %s (attempt %s)", self.kind.title, self.entity_id, status, self._count())
        return self._next(self.delay)

    def on_error(self, code: str, message: str) -> WaitResult | float:
        """
        Take a failed poll; retryable errors back off, any other ends the wait with ``error``.

        A refusal that may be the service's lag (refused credentials, not found) backs off too, until it has
        lasted its grace (:data:`LAG_GRACE_SECONDS`); then it ends the wait like any other.
        """
        self.attempts += 1
        self.last_error = sys.intern(code)
        grace_left = self._lag_grace_left(code)
        refused = WaitResult(
            Outcome.ERROR, self.kind, self.entity_id, self.last_description, f"{code}: {message}", code
        )
        if not is_retryable(code) and grace_left <= 0:
            return refused
        self.errors_in_a_row += 1
        # The last try of a lag falls when its grace ends, not a long backoff later.
        pause = min(backoff(self.delay, self.errors_in_a_row), grace_left)
        step = self._next(pause)
        if isinstance(step, WaitResult) and not is_retryable(code):
            # The wait's limit came within the lag's grace: the refusal is the answer, not a timeout.
            return refused
        log.warning(
            "Polling %s %s failed with %s (attempt %s); backing off %.1f s",
            self.kind.title.lower(),
            self.entity_id,
            code,
            self._count(),
            pause,
        )
        return step

    def _lag_grace_left(self, code: str) -> float:
        """Seconds left of the grace of a refusal that may be the service's lag; infinite for other errors."""
        grace = lag_grace(code)
        if not grace:
            self.lagging_since = None
            return -math.inf if not is_retryable(code) else math.inf
        now = self.clock()
        if self.lagging_since is None:
            self.lagging_since = now
        return grace - (now - self.lagging_since)

    def _count(self) -> str:
        return f"{self.attempts}/{self.max_attempts}" if self.max_attempts else str(self.attempts)

    def _next(self, seconds: float) -> WaitResult | float:
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return self._timeout(f"{self.attempts} polls made, the limit is {self.max_attempts}")
        remaining = self.remaining()
        if remaining <= 0:
            return self._timeout("the deadline passed")
        return min(seconds, remaining)

    def remaining(self) -> float:
        """Seconds left until the deadline; infinite without one."""
        return math.inf if self.deadline is None else self.deadline - self.clock()

    def expire(self) -> WaitResult:
        """End the wait at its deadline, when no poll could be made in time to decide it."""
        return self._timeout("the deadline passed")

    def _timeout(self, reason: str) -> WaitResult:
        status = self.last_status
        if self.last_error:
            reason = f"{reason}; the last {self.errors_in_a_row} poll(s) failed with {self.last_error}"
        return WaitResult(
            Outcome.TIMEOUT,
            self.kind,
            self.entity_id,
            self.last_description,
            f"gave up waiting while it was {status}: {reason}",
        )
