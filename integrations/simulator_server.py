"""Running the simulator (or any small ASGI app) on loopback.

* ``ServerThread(app).start()``: uvicorn in a daemon thread on a free 127.0.0.1 port,
  for tests and end-to-end runs; ``.url``, ``.stop()``, usable as a context manager.
* ``run_simulator(...)``: blocking foreground server, what ``herald sim`` runs.
* ``main(argv)``: the ``herald sim`` argument parser; returns an exit code.
"""
from __future__ import annotations

import argparse
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

import uvicorn

from integrations.simulator import DEFAULT_TWILIO_AUTH_TOKEN, create_simulator_app

DEFAULT_PORT = 8765
LOOPBACK = "127.0.0.1"


class ServerThread:
    """Serve ``app`` with uvicorn in a background thread on ``host:port`` (0 = free)."""

    def __init__(self, app: Any, host: str = LOOPBACK, port: int = 0, startup_timeout: float = 10.0) -> None:
        self.app = app
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))  # bound now: the port is ours, no race
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self.port}", daemon=True)
        self._startup_timeout = startup_timeout

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> "ServerThread":
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        tick = threading.Event()
        for _ in range(int(self._startup_timeout / 0.02)):
            if self._server.started or not self._thread.is_alive():
                break
            tick.wait(0.02)
        if not self._server.started:
            self.stop()
            raise RuntimeError("server did not start")
        return self

    def stop(self) -> None:
        """Stop serving (interrupting simulated hangs) and release the socket."""
        sim = getattr(getattr(self.app, "state", None), "simulator", None)
        if sim is not None:
            sim.stopping.set()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_simulator(host: str = LOOPBACK, port: int = DEFAULT_PORT, *, herald_url: str | None = None,
                  twilio_auth_token: str = DEFAULT_TWILIO_AUTH_TOKEN,
                  sendgrid_private_key_pem: str | None = None,
                  sendgrid_api_key: str | None = None) -> None:
    """Run the simulator in the foreground until interrupted."""
    app = create_simulator_app(herald_url=herald_url, twilio_auth_token=twilio_auth_token,
                               sendgrid_private_key_pem=sendgrid_private_key_pem,
                               sendgrid_api_key=sendgrid_api_key)
    print(f"Herald provider simulator on http://{host}:{port}  inbox: http://{host}:{port}/_sim/inbox")
    print(f"SendGrid event-webhook public key: {app.state.sendgrid_public_key}")
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")


def main(argv: Sequence[str] | None = None) -> int:
    """``herald sim`` entry point: parse ``argv`` and run the simulator."""
    parser = argparse.ArgumentParser(prog="herald sim", description="Local Twilio/SendGrid simulator.")
    parser.add_argument("--host", default=LOOPBACK, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--herald-url", default=os.environ.get("HERALD_SIM_HERALD_URL"),
                        help="Herald's base URL for replies/callbacks, e.g. http://127.0.0.1:8080")
    parser.add_argument("--twilio-auth-token", default=os.environ.get(
        "HERALD_SIM_TWILIO_AUTH_TOKEN", DEFAULT_TWILIO_AUTH_TOKEN),
        help="auth token the SDK must use; also signs webhooks (env HERALD_SIM_TWILIO_AUTH_TOKEN)")
    parser.add_argument("--sendgrid-key-file", help="PEM EC P-256 private key for event signing "
                        "(default: a fresh key each start)")
    parser.add_argument("--sendgrid-api-key", default=os.environ.get("HERALD_SIM_SENDGRID_API_KEY"),
                        help="if set, require this API key (env HERALD_SIM_SENDGRID_API_KEY)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    pem = None
    if args.sendgrid_key_file:
        with open(args.sendgrid_key_file, encoding="utf-8") as handle:
            pem = handle.read()
    run_simulator(args.host, args.port, herald_url=args.herald_url,
                  twilio_auth_token=args.twilio_auth_token, sendgrid_private_key_pem=pem,
                  sendgrid_api_key=args.sendgrid_api_key)
    return 0
