"""Job logs served over HTTPS, as the service's presigned ``LogUri`` links serve them, with the certificate."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from amazon_ml_emulator.models import ENTITY_TYPES, MachineLearningBackend

LOG_FOLDERS = {entity_type.log_folder: entity_type.kind for entity_type in ENTITY_TYPES.values()}


def write_self_signed_certificate(host: str, folder: Path) -> tuple[Path, Path]:
    """
    A certificate for ``host`` (a name or an IP address), valid for a day, and its key, written to ``folder``.

    Clients trust it by naming the certificate file as their CA bundle (``verify=`` in requests and boto3).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alternative: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alternative = x509.DNSName(host)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alternative]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = folder / "log-server.pem", folder / "log-server.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certificate_file, key_file


class LogApplication:
    """
    Answers ``GET /<log folder>/<entity ID>.log`` with the job's log as text, 404 for anything else.

    :param backend: where the entities and their logs are.
    """

    def __init__(self, backend: MachineLearningBackend) -> None:
        self.backend = backend

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        folder, _, file_name = request.path.strip("/").partition("/")
        kind = LOG_FOLDERS.get(folder)
        entity = None
        if request.method == "GET" and kind is not None and file_name.endswith(".log"):
            entity = self.backend.find(kind, file_name.removesuffix(".log"))
        if entity is None:
            return Response("no such log\n", status=404, content_type="text/plain")
        with self.backend.lock:
            text = "".join(f"{line}\n" for line in entity.log)
        return Response(text, content_type="text/plain; charset=utf-8")
