"""The emulator's server: Amazon ML's protocol on ``POST /`` and JSON controls under ``/_emulator/``.

Admin routes (JSON bodies in and out; errors answer ``{"error": ...}`` with 400, or 404 for an unknown entity):

- ``GET  /_emulator/health``: ``{"status": "ok", "endpoint_url", "s3_endpoint_url", "region_name"}``
- ``GET  /_emulator/config``: the current settings (see :class:`EmulatorConfig`)
- ``POST /_emulator/config``: change some settings, e.g. ``{"throttle_rate": 0.3, "seed": 7}``; answers all
- ``POST /_emulator/fail-job``: ``{"entity_id", "message"?, "kind"?}`` turns the entity FAILED now
- ``POST /_emulator/set-status``: ``{"entity_id", "status", "kind"?}`` sets any status, e.g. ``INVALID``
- ``POST /_emulator/fail-next-jobs``: ``{"count", "message"?, "kind"?}`` the next jobs created fail when run
- ``GET  /_emulator/call-counts``: ``{"counts": {op: calls}, "details": {op: {calls, succeeded, failed,
  injected}}}``
- ``POST /_emulator/call-counts/reset``: zero the counters
- ``POST /_emulator/reset``: ``{"include_s3"?: false}`` forget every entity, counter and setting change

``kind`` is one of ``BatchPrediction`` (the default), ``MLModel``, ``DataSource``, ``Evaluation``.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from amazon_ml_emulator.controls import (
    ADMIN_PREFIX,
    DEFAULT_FAILURE_MESSAGE,
    CallCounters,
    Clock,
    EmulatorConfig,
    FaultInjector,
)
from amazon_ml_emulator.jobs import JobRunner
from amazon_ml_emulator.logs import LogApplication, write_self_signed_certificate
from amazon_ml_emulator.models import BatchPrediction, MachineLearningBackend
from amazon_ml_emulator.responses import MachineLearningResponse
from amazon_ml_emulator.storage import S3Storage

log = logging.getLogger(__name__)

TEST_CREDENTIALS = {"login": "testing", "password": "testing"}


class _QuietRequestHandler(WSGIRequestHandler):
    # Keep-alive: a poller's calls reuse their connections instead of paying a TCP handshake each.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; on a kept-alive connection Nagle's algorithm would hold
        # the body until the client's delayed acknowledgement (about 40 ms per call).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # One log line per poll would drown test and benchmark output.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _QuietMotoRequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _BackgroundServer:
    """
    A threaded werkzeug server run on a background thread, as moto's ``ThreadedMotoServer`` runs S3.

    :param host: address to listen on.
    :param port: port; 0 picks a free one.
    :param application: the WSGI application served.
    :param request_handler: the werkzeug request handler class.
    :param ssl_context: ``(certificate file, key file)`` to serve HTTPS; None serves HTTP.
    """

    def __init__(
        self,
        host: str,
        port: int,
        application: Any,
        request_handler: type[WSGIRequestHandler],
        ssl_context: tuple[str, str] | None = None,
    ) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, application, threaded=True, request_handler=request_handler, ssl_context=ssl_context
        )
        self.port: int = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"server-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Emulator:
    """
    A local Amazon ML service with its own S3, for tests, demos and benchmarks.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    :param port: port of the Amazon ML endpoint on ``host``; 0 picks a free one.
    :param s3_endpoint_url: an S3 endpoint to use; when not given, moto's S3 server is started on ``s3_port``.
    :param job_duration: least seconds a job spends INPROGRESS.
    :param pending_duration: least seconds a job spends PENDING.
    :param concurrency_limit: most jobs INPROGRESS at once, all kinds counted.
    :param host: address to listen on.
    :param s3_port: port of the S3 server started when ``s3_endpoint_url`` is not given; 0 picks a free one.
    :param region_name: the region clients should name.
    :param advertised_host: the host named in the URLs it hands out (endpoints, LogUri, EndpointUrl); by
        default ``host``, or ``127.0.0.1`` when ``host`` is ``0.0.0.0`` (listening on every interface).
    :param log_port: port of the HTTPS server of the jobs' logs; 0 picks a free one.
    :param settings: any other :class:`EmulatorConfig` setting, e.g. ``time_scale`` or ``missing_dependency``.
    """

    def __init__(
        self,
        port: int = 0,
        s3_endpoint_url: str | None = None,
        job_duration: float = 1.0,
        pending_duration: float = 0.2,
        concurrency_limit: int = 25,
        *,
        host: str = "127.0.0.1",
        s3_port: int = 0,
        region_name: str = "us-east-1",
        advertised_host: str | None = None,
        log_port: int = 0,
        **settings: Any,
    ) -> None:
        self.host = host
        self.advertised_host = advertised_host or _local_address(host)
        self._log_port = log_port
        self.port = port
        self.region_name = region_name
        self._s3_port = s3_port
        self._given_s3_endpoint_url = s3_endpoint_url
        self._initial_settings = {
            "job_duration": job_duration,
            "pending_duration": pending_duration,
            "concurrency_limit": concurrency_limit,
            **settings,
        }
        self.config = EmulatorConfig()
        self.config.update(**self._initial_settings)
        self.clock = Clock(self.config.time_scale)
        self.backend = MachineLearningBackend(self.config, self.clock)
        self.counters = CallCounters()
        self.faults = FaultInjector(self.config)
        self._s3_server: _BackgroundServer | None = None
        self._s3_endpoint_url: str | None = None
        self._server: _BackgroundServer | None = None
        self._runner: JobRunner | None = None
        self._log_server: _BackgroundServer | None = None
        self._certificate_folder: Path | None = None

    # Life cycle.

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        if self._given_s3_endpoint_url is None:
            s3_application = DomainDispatcherApplication(create_backend_app)
            self._s3_server = _BackgroundServer(
                self.host, self._s3_port, s3_application, _QuietMotoRequestHandler
            )
            self._s3_endpoint_url = f"http://{self.advertised_host}:{self._s3_server.port}"
        else:
            self._s3_endpoint_url = self._given_s3_endpoint_url
        self._start_log_server()
        # The jobs reach S3 on the address it listens on, whatever name the clients are given.
        storage_url = self._s3_endpoint_url
        if self._s3_server is not None:
            storage_url = f"http://{_local_address(self.host)}:{self._s3_server.port}"
        self._runner = JobRunner(self.backend, S3Storage(storage_url, self.region_name))
        self._runner.start()
        protocol = MachineLearningResponse(self.backend, self.faults, self.counters, self._runner.wake)
        application = EmulatorApplication(self, protocol)
        self._server = _BackgroundServer(self.host, self.port, application, _QuietRequestHandler)
        self.port = self._server.port
        self.backend.endpoint_url = self.endpoint_url
        return self

    def _start_log_server(self) -> None:
        self._certificate_folder = Path(tempfile.mkdtemp(prefix="amazon-ml-emulator-"))
        certificate, key = write_self_signed_certificate(self.advertised_host, self._certificate_folder)
        self._log_server = _BackgroundServer(
            self.host,
            self._log_port,
            LogApplication(self.backend),
            _QuietRequestHandler,
            (str(certificate), str(key)),
        )
        self.backend.log_base_url = f"https://{self.advertised_host}:{self._log_server.port}"

    def stop(self) -> None:
        if self._log_server is not None:
            self._log_server.stop()
            self._log_server = None
        if self._certificate_folder is not None:
            shutil.rmtree(self._certificate_folder, ignore_errors=True)
            self._certificate_folder = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._runner is not None:
            self._runner.stop()
            self._runner = None
        if self._s3_server is not None:
            self._s3_server.stop()
            self._s3_server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Where clients connect.

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.advertised_host}:{self.port}"

    @property
    def log_certificate(self) -> str:
        """The certificate of the HTTPS log server: pass it as ``verify=`` to fetch a LogUri."""
        if self._certificate_folder is None:
            raise RuntimeError("the emulator is not started")
        return str(self._certificate_folder / "log-server.pem")

    @property
    def s3_endpoint_url(self) -> str:
        if self._s3_endpoint_url is None:
            raise RuntimeError("the emulator is not started")
        return self._s3_endpoint_url

    def connection_extra(self) -> dict[str, Any]:
        """The ``extra`` of an Airflow AWS connection that points every client at the emulator."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region_name,
            "service_config": {"s3": {"endpoint_url": self.s3_endpoint_url}},
        }

    def connection_uri(self) -> str:
        """An Airflow AWS connection as a URI, the other form of an ``AIRFLOW_CONN_<ID>`` value."""
        extra = json.dumps(self.connection_extra())
        login, password = TEST_CREDENTIALS["login"], TEST_CREDENTIALS["password"]
        return f"aws://{login}:{password}@/?{urllib.parse.urlencode({'__extra__': extra})}"

    def connection_json(self) -> str:
        """An Airflow AWS connection as JSON, the value of an ``AIRFLOW_CONN_<ID>`` variable."""
        return json.dumps({"conn_type": "aws", **TEST_CREDENTIALS, "extra": self.connection_extra()})

    # Controls.

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings of the running emulator (see :class:`EmulatorConfig`); return them all."""
        self.config.update(**settings)
        if "seed" in settings:
            self.faults.reseed(self.config.seed)
        if "time_scale" in settings:
            self.clock.set_time_scale(self.config.time_scale)
        self._wake()
        return self.config.to_dict()

    def fail_job(
        self, entity_id: str, message: str = DEFAULT_FAILURE_MESSAGE, kind: str = BatchPrediction.kind
    ) -> None:
        """Turn an entity FAILED now with ``message``, whatever its status."""
        self.backend.fail_entity(kind, entity_id, message)
        self._wake()

    def set_status(self, entity_id: str, status: str, kind: str = BatchPrediction.kind) -> None:
        """Set any status, even one the service does not define; the job runner leaves other statuses be."""
        self.backend.set_status(kind, entity_id, status)
        self._wake()

    def fail_next_jobs(
        self, count: int, message: str = DEFAULT_FAILURE_MESSAGE, kind: str | None = None
    ) -> None:
        """Make the next ``count`` jobs created (of ``kind``, or of any kind) fail with ``message`` when run."""
        self.backend.fail_next_jobs(count, message, kind)

    def call_counts(self) -> dict[str, int]:
        """Calls per operation, including those answered with an error or an injected fault."""
        return self.counters.counts()

    def call_details(self) -> dict[str, dict[str, int]]:
        """Per operation: ``calls``, ``succeeded``, ``failed`` (service errors) and ``injected`` (faults)."""
        return self.counters.details()

    def reset_call_counts(self) -> None:
        self.counters.reset()

    def reset(self, include_s3: bool = False) -> None:
        """Forget every entity, counter and setting change; with ``include_s3``, empty the S3 it started too."""
        self.backend.reset()
        self.counters.reset()
        self.config.update(**{**EmulatorConfig().to_dict(), **self._initial_settings})
        self.faults.reseed(self.config.seed)
        self.clock.set_time_scale(self.config.time_scale)
        if include_s3 and self._s3_server is not None:
            reset_url = f"{self.s3_endpoint_url}/moto-api/reset"
            request = urllib.request.Request(reset_url, method="POST")  # noqa: S310 - our own http server
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own local server
                pass

    def _wake(self) -> None:
        if self._runner is not None:
            self._runner.recheck()


class EmulatorApplication:
    """
    The WSGI application: admin routes under ``/_emulator/``, the Amazon ML protocol everywhere else.

    :param emulator: the emulator the admin routes control.
    :param protocol: answers the Amazon ML requests.
    """

    def __init__(self, emulator: Emulator, protocol: MachineLearningResponse) -> None:
        self.emulator = emulator
        self.protocol = protocol
        self.admin_routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "health"): self._health,
            ("GET", "config"): lambda body: emulator.config.to_dict(),
            ("POST", "config"): lambda body: emulator.configure(**body),
            ("POST", "fail-job"): lambda body: emulator.fail_job(
                **_known(body, "entity_id", "message", "kind")
            ),
            ("POST", "set-status"): lambda body: emulator.set_status(
                **_known(body, "entity_id", "status", "kind")
            ),
            ("POST", "fail-next-jobs"): lambda body: emulator.fail_next_jobs(
                **_known(body, "count", "message", "kind")
            ),
            ("GET", "call-counts"): lambda body: {
                "counts": emulator.call_counts(),
                "details": emulator.call_details(),
            },
            ("POST", "call-counts/reset"): lambda body: emulator.reset_call_counts(),
            ("POST", "reset"): lambda body: emulator.reset(**_known(body, "include_s3")),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._admin(request) if request.path.startswith(ADMIN_PREFIX) else self.protocol(request)
        return response(environ, start_response)

    def _admin(self, request: Request) -> Response:
        route = self.admin_routes.get((request.method, request.path[len(ADMIN_PREFIX) :].rstrip("/")))
        if route is None:
            return _admin_response(404, {"error": f"no admin route {request.method} {request.path}"})
        try:
            body = json.loads(request.get_data() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            result = route(body)
        except KeyError as error:
            return _admin_response(404, {"error": str(error.args[0] if error.args else error)})
        except (ValueError, TypeError) as error:
            return _admin_response(400, {"error": str(error)})
        return _admin_response(200, {"ok": True} if result is None else result)

    def _health(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "ok",
            "endpoint_url": self.emulator.endpoint_url,
            "s3_endpoint_url": self.emulator.s3_endpoint_url,
            "region_name": self.emulator.region_name,
        }


def _local_address(host: str) -> str:
    # A server listening on every interface is reached on the loopback one from this process.
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104


def _known(body: dict[str, Any], *names: str) -> dict[str, Any]:
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; known: {list(names)}")
    return body


def _admin_response(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
