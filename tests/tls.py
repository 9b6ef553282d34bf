"""Herald served over HTTPS on 127.0.0.1 with a certificate made for the test, for
clients that refuse plain HTTP (PagerDuty's ``pagerduty`` package insists on an
``https://`` base URL). The certificate is self-signed for the address 127.0.0.1 and
lives a day; the client trusts it through an ``ssl.SSLContext`` (``context``)."""
from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and only it)."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path) -> Tls:
    """A self-signed certificate for 127.0.0.1, valid from an hour ago for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    tls = Tls(directory / "cert.pem", directory / "key.pem")
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return tls


@contextmanager
def served_tls(app: Any, tls: Tls) -> Iterator[str]:
    """``app`` under uvicorn over HTTPS on a free loopback port (its lifespan run, as
    ``herald serve`` runs it); yields the base URL, ``https://127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                                           ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key),
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    try:
        while not (server.started or not thread.is_alive()):
            started.wait(0.02)
        assert server.started, "the HTTPS server did not start"
        yield f"https://{LOOPBACK}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
