"""Shared fixtures: a real redis-server on a free loopback port for the whole session,
flushed before every test.

A test skips, with the reason, when a tool it drives is missing (Alertmanager, promtool,
docker-compose, Chromium). In CI (``HERALD_FAIL_ON_SKIP=1``, set by ``.ci/run``, which
installs every such tool) a skip is a failure instead: a green run has run everything."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from service.dev.local_redis import LocalRedis, start_redis
from service.app import create_app
from service.engine.runtime import Herald

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    import time

    under_faketime = "faketime" in os.environ.get("LD_PRELOAD", "")
    if under_faketime and (os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") != "1"
                           or not getattr(time.sleep, "faketime_shim", False)):
        raise pytest.UsageError("under faketime, run the suite as make test-future does: FAKETIME_DONT_FAKE_MONOTONIC=1 "
                                "and PYTHONPATH=tests/faketime (see tests/faketime/sitecustomize.py)")


FAIL_ON_SKIP = os.environ.get("HERALD_FAIL_ON_SKIP", "").lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if FAIL_ON_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, and HERALD_FAIL_ON_SKIP is set (CI installs every tool): {reason}"


#: The longest modules (real processes, the benchmark smoke run, schema fuzzing) start
#: first, so that parallel workers do not finish the quick tests and then wait on one of
#: these alone. Order only: every test runs wherever it is listed.
SLOW_FIRST = (
    "tests/bench/", "tests/security/test_openapi_fuzz.py", "tests/faults/", "tests/test_channels_end_to_end.py",
    "tests/security/test_secrets.py", "tests/test_heartbeat_end_to_end.py", "tests/web/test_browser.py",
    "tests/test_simulate_matches_real_run.py", "tests/test_end_to_end.py", "tests/test_with_real_alertmanager.py",
    "tests/test_alertmanager_harness.py", "tests/test_handoff_end_to_end.py", "tests/test_maintenance_end_to_end.py",
    "tests/service/test_api_drills_end_to_end.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        return next((i for i, prefix in enumerate(SLOW_FIRST) if path.startswith(prefix)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: within a module the order stays as written
    for item in items:
        # A module whose tests share a module-scoped fixture (a running stack) stays on one
        # xdist worker, so that stack starts once, not once per worker.
        fixtures = getattr(item, "_fixtureinfo", None)
        shared = fixtures is not None and any(
            d.scope == "module" for defs in fixtures.name2fixturedefs.values() for d in defs)
        if shared and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(Path(str(item.path)).resolve().relative_to(ROOT).as_posix()))


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
def herald(settings) -> Iterator[Herald]:
    herald = Herald.from_settings(settings)
    yield herald
    herald.close()  # its calendar refresher would outlive the test's Redis and log about it


@pytest.fixture
def client(settings, herald):
    with TestClient(create_app(settings, herald)) as c:
        yield c
