"""Settings of the emulated service and the test controls on its wire layer: fault injection and call counters."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from amazon_ml_emulator.databases import parse_address
from amazon_ml_emulator.exceptions import (
    CREDENTIAL_ERRORS,
    AccessDeniedException,
    InternalServerException,
    MachineLearningError,
    ThrottlingException,
)

MISSING_DEPENDENCY_MODES = ("reject", "fail")
# The admin routes (see :mod:`amazon_ml_emulator.server`) live under this path.
ADMIN_PREFIX = "/_emulator/"
MAX_JOB_RUNTIME = 7 * 24 * 3600.0
DEFAULT_FAILURE_MESSAGE = "The batch prediction failed (failure injected by the emulator)"


@dataclass
class EmulatorConfig:
    """
    Everything a test, demo or benchmark may tune on a running emulator.

    Durations are in seconds of the emulator's clock, which runs ``time_scale`` times faster than real time.

    :param job_duration: least time a job spends INPROGRESS.
    :param pending_duration: least time a job spends PENDING before it may start.
    :param concurrency_limit: most jobs INPROGRESS at once, counting jobs of every kind (data sources, models,
        evaluations, batch predictions), as the service's account-wide limit of concurrent jobs does.
    :param time_scale: how many emulated seconds pass per real second.
    :param missing_dependency: what a create naming a missing model or data source does: ``reject`` answers
        InvalidInputException at once, ``fail`` accepts the job, which then turns FAILED with a Message.
    :param output_uri_requires_slash: reject an OutputUri that does not end with ``/``; when false such a URI
        is accepted and output is written as if the ``/`` were there.
    :param throttle_rate: share of calls answered with ThrottlingException (HTTP 400).
    :param error_rate: share of calls answered with InternalServerException (HTTP 500).
    :param latency: real seconds added before each call is answered.
    :param operations: the operations fault injection and latency apply to; ``None`` means all of them.
    :param unavailable: answer every call with HTTP 403 AccessDeniedException, as for a closed account.
    :param seed: seed of the random draws of fault injection, for reproducible runs.
    :param refused_access_keys: access key IDs whose calls are refused, each mapped to the error code to
        answer with: ``ExpiredTokenException`` (a session token that expired) or
        ``UnrecognizedClientException`` (a key the service does not know, e.g. rotated away).
    :param tag_limit: most tags one object may carry. The service's quota page says 50, its AddTags
        reference 10; the stricter one is the default, so that what passes here passes there.
    :param endpoint_startup_duration: least time a new real-time endpoint stays UPDATING before it is READY.
    :param redshift_clusters: ClusterIdentifier to ``host:port`` of the PostgreSQL server standing in for that
        Redshift cluster (same wire protocol); a data source naming another cluster FAILS.
    :param rds_instances: InstanceIdentifier to ``host:port`` of the MySQL or MariaDB server of that RDS instance.
    :param read_after_create_lag: how long after its create an object is not found yet by the calls that name it
        (``Get*``, ``Update*``, ``Delete*`` and the tag calls answer ResourceNotFoundException), as the service's
        reads can lag its writes.
    :param max_job_runtime: most time a job may spend INPROGRESS before it turns FAILED (the service's limit is
        7 days); with ``job_duration`` above it, a test sees the limit at work.
    :param peak_requests_per_second: the PeakRequestsPerSecond of endpoints created from now on, 200 as the
        service's (Developer Guide, System Limits); Predict beyond it in one second answers LimitExceededException.
        Lower it to meet that answer without sending 200 calls a second.
    :param require_signature: answer a request without a SigV4 ``Authorization`` header of the right form as
        the service does (MissingAuthenticationTokenException, IncompleteSignatureException); the signature's
        value is never checked. Turn it off for a client that cannot sign.
    """

    job_duration: float = 1.0
    pending_duration: float = 0.2
    concurrency_limit: int = 25
    time_scale: float = 1.0
    missing_dependency: str = "reject"
    output_uri_requires_slash: bool = False
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency: float = 0.0
    operations: list[str] | None = None
    unavailable: bool = False
    seed: int | None = None
    refused_access_keys: dict[str, str] = field(default_factory=dict)
    tag_limit: int = 10
    max_job_runtime: float = MAX_JOB_RUNTIME
    read_after_create_lag: float = 0.0
    endpoint_startup_duration: float = 0.5
    redshift_clusters: dict[str, str] = field(default_factory=dict)
    rds_instances: dict[str, str] = field(default_factory=dict)
    peak_requests_per_second: int = 200
    require_signature: bool = True

    def update(self, **changes: Any) -> None:
        """Apply ``changes`` after checking them all, so a bad value changes nothing."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        candidate = EmulatorConfig(**{**asdict(self), **changes})
        candidate.check()
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def check(self) -> None:
        for identifier, address in {**self.redshift_clusters, **self.rds_instances}.items():
            parse_address(identifier, address)
        if self.max_job_runtime <= 0:
            raise ValueError(f"max_job_runtime {self.max_job_runtime!r}: must be > 0")
        for name in (
            "job_duration",
            "pending_duration",
            "latency",
            "endpoint_startup_duration",
            "read_after_create_lag",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} {getattr(self, name)!r}: must be >= 0")
        for name in ("throttle_rate", "error_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} {getattr(self, name)!r}: must be between 0 and 1")
        if self.throttle_rate + self.error_rate > 1:
            raise ValueError("throttle_rate + error_rate: must not exceed 1")
        if self.time_scale <= 0:
            raise ValueError(f"time_scale {self.time_scale!r}: must be > 0")
        if int(self.concurrency_limit) != self.concurrency_limit or self.concurrency_limit < 1:
            raise ValueError(f"concurrency_limit {self.concurrency_limit!r}: must be an integer >= 1")
        if self.missing_dependency not in MISSING_DEPENDENCY_MODES:
            raise ValueError(
                f"missing_dependency {self.missing_dependency!r}: must be one of {MISSING_DEPENDENCY_MODES}"
            )
        if self.operations is not None:
            self.operations = sorted(set(self.operations))
        for key, code in self.refused_access_keys.items():
            if code not in CREDENTIAL_ERRORS:
                raise ValueError(
                    f"refused_access_keys[{key!r}] {code!r}: must be one of {sorted(CREDENTIAL_ERRORS)}"
                )
        if (
            int(self.peak_requests_per_second) != self.peak_requests_per_second
            or self.peak_requests_per_second < 1
        ):
            raise ValueError(
                f"peak_requests_per_second {self.peak_requests_per_second!r}: must be an integer >= 1"
            )
        if int(self.tag_limit) != self.tag_limit or self.tag_limit < 0:
            raise ValueError(f"tag_limit {self.tag_limit!r}: must be an integer >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Clock:
    """
    The emulator's clock: epoch seconds that advance ``time_scale`` times faster than real time.

    :param time_scale: emulated seconds per real second.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._origin_epoch = time.time()
        self._origin_monotonic = time.monotonic()
        self._time_scale = time_scale

    def now(self) -> float:
        with self._lock:
            elapsed = time.monotonic() - self._origin_monotonic
            return round(self._origin_epoch + elapsed * self._time_scale, 3)

    def set_time_scale(self, time_scale: float) -> None:
        # Rebase first so that changing the pace never moves the clock backwards.
        now = self.now()
        with self._lock:
            self._origin_epoch = now
            self._origin_monotonic = time.monotonic()
            self._time_scale = time_scale


@dataclass
class OperationCalls:
    """
    What one operation was asked and how it was answered.

    :param calls: every call, answered or not.
    :param succeeded: calls answered with HTTP 200.
    :param failed: calls answered with an error of the service's own rules.
    :param injected: calls answered with an injected fault (throttling, 500, 403).
    """

    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    injected: int = 0


@dataclass
class CallCounters:
    """Counts of calls per operation, safe to update from the server's threads."""

    _by_operation: dict[str, OperationCalls] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, outcome: str) -> None:
        with self._lock:
            counts = self._by_operation.setdefault(operation, OperationCalls())
            counts.calls += 1
            setattr(counts, outcome, getattr(counts, outcome) + 1)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {operation: counts.calls for operation, counts in sorted(self._by_operation.items())}

    def details(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {operation: asdict(counts) for operation, counts in sorted(self._by_operation.items())}

    def reset(self) -> None:
        with self._lock:
            self._by_operation.clear()


class FaultInjector:
    """
    Decides, call by call, whether the emulator answers with an injected fault instead of doing the work.

    :param config: the live settings; read on every call so that changes apply at once.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)  # noqa: S311 - reproducible draws, not security

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)  # noqa: S311

    def applies_to(self, operation: str) -> bool:
        operations: Iterable[str] | None = self._config.operations
        return operations is None or operation in operations

    def fault_for(self, operation: str, access_key: str | None = None) -> MachineLearningError | None:
        """Sleep the configured latency, then return the fault to answer with, if any."""
        if self._config.unavailable:
            return AccessDeniedException()
        refused = self._config.refused_access_keys.get(access_key or "")
        if refused is not None:
            return CREDENTIAL_ERRORS[refused]()
        if not self.applies_to(operation):
            return None
        if self._config.latency:
            time.sleep(self._config.latency)
        throttle_rate, error_rate = self._config.throttle_rate, self._config.error_rate
        if not throttle_rate and not error_rate:
            return None
        with self._lock:
            draw = self._random.random()
        if draw < throttle_rate:
            return ThrottlingException()
        if draw < throttle_rate + error_rate:
            return InternalServerException("We encountered an internal error. Please try again.")
        return None
