"""A headless Chromium driven over the DevTools protocol: load a page, collect its console errors, run a script.

Debian's ``chromium`` package (``scripts/install-system-deps.sh``); the protocol is spoken with ``websockets``.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class PageVisit:
    """What loading one page showed: its console errors and what the page script returned."""

    url: str
    errors: list[str] = field(default_factory=list)
    result: Any = None


class Browser:
    """
    One headless Chromium and one tab, reused page after page.

    :param window: width and height of the window, in CSS pixels.
    """

    def __init__(self, window: tuple[int, int] = (1280, 900)) -> None:
        executable = chromium_path()
        if executable is None:
            raise RuntimeError("chromium: not installed (bash scripts/install-system-deps.sh installs it)")
        self._profile = tempfile.mkdtemp(prefix="docs-browser-")
        self._process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                f"--window-size={window[0]},{window[1]}",
                f"--user-data-dir={self._profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        browser_url = self._devtools_url()
        # Chromium goes on writing to stderr: drained, so that a full pipe never stalls it.
        threading.Thread(target=self._process.stderr.read, daemon=True).start()  # type: ignore[union-attr]
        port = browser_url.split(":")[2].split("/")[0]
        tab = self._first_tab(port)
        self._socket: ClientConnection = connect(tab["webSocketDebuggerUrl"], max_size=None)
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=window[0],
            height=window[1],
            deviceScaleFactor=1,
            mobile=False,
        )

    @staticmethod
    def _first_tab(port: str) -> dict[str, Any]:
        """The tab Chromium opened on start, once its DevTools endpoint lists it."""
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                tabs = [target for target in json.load(answer) if target["type"] == "page"]
            if tabs or time.monotonic() > deadline:
                return tabs[0]
            time.sleep(0.1)

    def _devtools_url(self) -> str:
        assert self._process.stderr is not None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if match := DEVTOOLS.search(line):
                return match[1]
        self.close()
        raise RuntimeError("chromium did not start: " + "".join(lines[-20:]))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        call_id = next(self._ids)
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def _wait_for_event(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == method for event in self._events):
            self._events.append(json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def visit(self, url: str, script: str, settle: float = 0.2) -> PageVisit:
        """Load ``url``, let its scripts run for ``settle`` seconds, evaluate ``script`` (an expression)."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        self._wait_for_event("Page.loadEventFired")
        time.sleep(settle)
        evaluated = self.call("Runtime.evaluate", expression=script, returnByValue=True, awaitPromise=True)
        visit = PageVisit(url, result=evaluated.get("result", {}).get("value"))
        self._drain()
        for event in self._events:
            visit.errors.extend(_error_of(event))
        return visit

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def _drain(self) -> None:
        while True:
            try:
                self._events.append(json.loads(self._socket.recv(timeout=0.05)))
            except TimeoutError:
                return

    def close(self) -> None:
        if hasattr(self, "_socket"):
            self._socket.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _error_of(event: dict[str, Any]) -> list[str]:
    """The console errors an event reports: messages logged as errors, exceptions, failed loads."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return [
            " ".join(str(argument.get("value", argument.get("description"))) for argument in params["args"])
        ]
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return [details.get("exception", {}).get("description") or details.get("text", "exception")]
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        return [f"{entry['text']} {entry.get('url', '')}".strip()]
    return []
