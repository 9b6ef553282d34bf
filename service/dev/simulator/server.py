"""``ServerThread``: serve the simulator (or any small ASGI app, e.g. a test
receiver or Herald itself) with uvicorn in a daemon thread on a free 127.0.0.1
port, for tests and end-to-end runs. The foreground ``herald sim`` server is
``service.dev.simulator.app.run_simulator`` / ``main``.
"""
from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"


class ServerThread:
    """Serve ``app`` with uvicorn in a background thread on ``host:port`` (0 = free).
    The port is bound on construction; always ``stop()`` (or use ``with``)."""

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
