"""Shared fixtures: a real redis-server on a free loopback port for the whole session,
flushed before every test."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from integrations.local_redis import LocalRedis, start_redis
from service.app import create_app
from service.runtime import Herald

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = start_redis(tmp_path_factory.mktemp("redis"), appendonly=False)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


# ``herald`` and ``client`` build on a ``settings`` fixture that each test folder's own
# conftest provides (its configuration and tokens).
@pytest.fixture
def herald(settings) -> Herald:
    return Herald.from_settings(settings)


@pytest.fixture
def client(settings, herald):
    with TestClient(create_app(settings, herald)) as c:
        yield c
