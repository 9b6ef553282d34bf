"""A webhook receiver on 127.0.0.1 for the tests: verifies each request with the
``standardwebhooks`` package's own ``Webhook.verify`` and keeps what arrived; answers
the statuses it is told to (200 once the list runs out)."""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"herald-tests-webhook-secret-32by").decode()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    event: dict[str, Any] | None = None


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    secret: str = SECRET
    answers: list[int] = field(default_factory=list)  # next statuses to answer, in order
    delay: float = 0.0  # seconds each answer waits (a slow receiver)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.received if r.event is not None and (path is None or r.path == path)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver(secret: str = SECRET) -> Receiver:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            receiver = holder[0]
            data = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = Webhook(receiver.secret).verify(data, headers)
                verified = True
            except WebhookVerificationError:
                event, verified = None, False
            with receiver.lock:
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.append(Received(self.path, headers, data, verified,
                                                  event if verified else json.loads(data)))
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(status if verified else 401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server, secret)
    holder.append(receiver)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return receiver
