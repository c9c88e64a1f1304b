"""A small client of the emulator's admin routes, to control an emulator running in another process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from amazon_ml_emulator.controls import ADMIN_PREFIX, DEFAULT_FAILURE_MESSAGE


class EmulatorClientError(RuntimeError):
    """
    An admin route answered with an error.

    :param status: the HTTP status.
    :param message: the error the emulator gave.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class EmulatorClient:
    """
    The controls of :class:`~amazon_ml_emulator.Emulator`, over HTTP.

    :param endpoint_url: the emulator's endpoint, e.g. ``http://127.0.0.1:5050``.
    :param timeout: seconds to wait for each answer.
    """

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "config", settings)

    def fail_job(
        self, entity_id: str, message: str = DEFAULT_FAILURE_MESSAGE, kind: str = "BatchPrediction"
    ) -> None:
        self._call("POST", "fail-job", {"entity_id": entity_id, "message": message, "kind": kind})

    def set_status(self, entity_id: str, status: str, kind: str = "BatchPrediction") -> None:
        self._call("POST", "set-status", {"entity_id": entity_id, "status": status, "kind": kind})

    def fail_next_jobs(
        self, count: int, message: str = DEFAULT_FAILURE_MESSAGE, kind: str | None = None
    ) -> None:
        self._call("POST", "fail-next-jobs", {"count": count, "message": message, "kind": kind})

    def call_counts(self) -> dict[str, int]:
        return self._call("GET", "call-counts")["counts"]

    def call_details(self) -> dict[str, dict[str, int]]:
        return self._call("GET", "call-counts")["details"]

    def reset_call_counts(self) -> None:
        self._call("POST", "call-counts/reset")

    def reset(self, include_s3: bool = False) -> None:
        self._call("POST", "reset", {"include_s3": include_s3})

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's http endpoint
            f"{self.endpoint_url}{ADMIN_PREFIX}{route}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - local URL
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                message = error.reason
            raise EmulatorClientError(error.code, str(message)) from error
