"""Herald's own app served by uvicorn on a loopback port in this process, for tests that
drive an integration's route over real HTTP (httpx) and read the store behind it."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service.app import create_app
from service.dev.simulator.server import ServerThread
from service.engine.runtime import Herald
from service.settings import Settings


@contextmanager
def served(settings: Settings, herald: Herald) -> Iterator[str]:
    """The base URL of ``create_app(settings, herald)`` served by uvicorn until the block ends."""
    server = ServerThread(create_app(settings, herald)).start()
    try:
        yield server.url
    finally:
        server.stop()
