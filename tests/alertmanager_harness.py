"""Run the real Prometheus Alertmanager binary in tests.

Usage (pytest)::

    from tests.alertmanager_harness import alertmanager_binary, start_alertmanager

    @pytest.mark.skipif(alertmanager_binary() is None,
                        reason="prometheus-alertmanager not installed "
                               "(apt-get install prometheus-alertmanager)")
    def test_x(tmp_path):
        with start_alertmanager(tmp_path, "http://127.0.0.1:8080/api/v1/alertmanager",
                                bearer="tok") as am:
            am.post_alerts([{"labels": {"alertname": "DiskFull"}}])

The process only ever listens on 127.0.0.1 (free ports picked at start), has
clustering disabled (``--cluster.listen-address=``) and keeps its state under
``tmp_path``.  It is stopped by ``stop()`` / the context manager, and as a
safety net at interpreter exit and -- on Linux, when started from the main
thread -- by the kernel if the test process itself dies (PR_SET_PDEATHSIG).

The binary is looked up as ``$HERALD_ALERTMANAGER_BIN``, then
``prometheus-alertmanager`` (Debian's name), then ``alertmanager`` on PATH.

Two clocks: Alertmanager is a static Go binary, so libfaketime (``make
test-future``) does not move its clock while it moves this process's and
Herald's. The harness measures Alertmanager's clock against ours from the
HTTP ``Date`` header of its first API answer (``clock_offset``; under 2 s it
is taken as 0, so a normal run sends exactly the times it is given) and sends
every ``datetime`` on Alertmanager's clock: ``startsAt=now`` and a resolve's
``endsAt`` mean "now" to Alertmanager too. ``am.now()`` is Alertmanager's now.
"""

from __future__ import annotations

import atexit
import ctypes
import datetime as _dt
import email.utils
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping

import httpx

from service.dev.local_redis import stop_process

__all__ = [
    "AlertmanagerError",
    "AlertmanagerProcess",
    "alertmanager_binary",
    "alertmanager_version",
    "clock_offset_and_error",
    "free_port",
    "measure_clock_offset",
    "start_alertmanager",
]

_BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class AlertmanagerError(RuntimeError):
    """Alertmanager failed to start or answered an API call with an error."""


def alertmanager_binary() -> str | None:
    """Path of the Alertmanager binary, or None when it is not installed."""
    override = os.environ.get("HERALD_ALERTMANAGER_BIN")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in _BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def alertmanager_version(binary: str | None = None) -> str | None:
    """E.g. ``"0.25.0"``; None when the binary is missing or unparsable."""
    binary = binary or alertmanager_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # "alertmanager, version 0.25.0 (branch: ..., revision: ...)"
    for line in (out.stdout + out.stderr).splitlines():
        if "version" in line:
            parts = line.split("version", 1)[1].split()
            if parts:
                return parts[0]
    return None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: A smaller difference between Alertmanager's clock and ours is taken as none: the
#: ``Date`` header has whole seconds, and a normal run must send exactly what it is given.
CLOCK_TOLERANCE = _dt.timedelta(seconds=2)


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _server_date(response: httpx.Response) -> _dt.datetime:
    value = response.headers.get("Date")
    if not value:
        raise AlertmanagerError(f"{response.request.url} answered without a Date header")
    return email.utils.parsedate_to_datetime(value)


def measure_clock_offset(client: httpx.Client, path: str = "/-/ready",
                         settle: float = 3.0) -> _dt.timedelta:
    """The server's clock minus ours, from the ``Date`` header of its answers to
    ``GET path``; ``timedelta(0)`` when they differ by less than CLOCK_TOLERANCE
    (``clock_offset_and_error`` also says how far off it may be)."""
    return clock_offset_and_error(client, path, settle)[0]


def clock_offset_and_error(client: httpx.Client, path: str = "/-/ready",
                           settle: float = 3.0) -> tuple[_dt.timedelta, _dt.timedelta]:
    """``measure_clock_offset``, and the most it can be off by.

    One answer gives it to within a second (the header has whole seconds). When
    the clocks do differ, the header is read again until its second ticks over:
    that moment is the server's ``Date`` exactly, and it lies between the start of
    the last request that saw the old second and the end of the first that saw the
    new one. The offset is taken at the middle of that span, so it is off by at most
    half of it (milliseconds on loopback, more on a loaded machine)."""
    def sample() -> tuple[_dt.datetime, _dt.datetime, _dt.datetime]:
        before = _utc_now()
        response = client.get(path, timeout=2.0)
        return _server_date(response), before, _utc_now()

    date, before, after = sample()
    coarse = date + _dt.timedelta(milliseconds=500) - (before + (after - before) / 2)
    if abs(coarse) < CLOCK_TOLERANCE:
        return _dt.timedelta(0), CLOCK_TOLERANCE
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        later, later_before, later_after = sample()
        if later != date:  # the server's clock read `later` exactly between the two samples
            span = later_after - before
            return later - (before + span / 2), span / 2
        before = later_before
    return coarse, _dt.timedelta(seconds=1)  # no tick seen (a stalled machine): the one-second estimate


def _on_clock(value: Any, offset: _dt.timedelta) -> Any:
    """``value`` with every datetime (ours; naive means UTC) moved onto the other clock."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value + offset
    if isinstance(value, Mapping):
        return {k: _on_clock(v, offset) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_on_clock(v, offset) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _child_env() -> dict[str, str]:
    # Alertmanager must talk to 127.0.0.1 only: never via a proxy.
    return {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}


def _preexec_die_with_parent() -> None:  # runs in the child, before exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # pragma: no cover - best effort only
        pass


# Every process still running, so atexit can reap it even if a test forgot.
_LIVE: "weakref.WeakSet[AlertmanagerProcess]" = weakref.WeakSet()


@atexit.register
def _kill_all_at_exit() -> None:  # pragma: no cover - safety net
    for proc in list(_LIVE):
        proc.stop()


def build_config(
    webhook_url: str,
    *,
    bearer: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    receiver: str = "herald",
    group_by: Iterable[str] = ("alertname", "service"),
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str = "1h",
    send_resolved: bool = True,
    max_alerts: int = 0,
) -> dict[str, Any]:
    """The Alertmanager configuration (as a dict) used by start_alertmanager."""
    if bearer is not None and basic_auth is not None:
        raise ValueError("pass bearer or basic_auth, not both")
    webhook: dict[str, Any] = {
        "url": webhook_url,
        "send_resolved": send_resolved,
        "max_alerts": max_alerts,
    }
    http_config: dict[str, Any] = {}
    if bearer is not None:
        http_config["authorization"] = {"type": "Bearer", "credentials": bearer}
    if basic_auth is not None:
        user, password = basic_auth
        http_config["basic_auth"] = {"username": user, "password": password}
    if http_config:
        webhook["http_config"] = http_config
    return {
        "route": {
            "receiver": receiver,
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": receiver, "webhook_configs": [webhook]}],
    }


class AlertmanagerProcess:
    """A running Alertmanager. Use as a context manager or call stop()."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        config: Mapping[str, Any],
        *,
        port: int | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = dict(config)
        self.config_path = self.workdir / "alertmanager.yml"
        # JSON is valid YAML, and json.dumps escapes any receiver name safely.
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        self.storage_path = self.workdir / "data"
        self.storage_path.mkdir(exist_ok=True)
        self.log_path = self.workdir / "alertmanager.log"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        #: Alertmanager's clock minus ours (0 unless libfaketime moved ours).
        self.clock_offset = _dt.timedelta(0)
        try:
            self._spawn()
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    # -- lifecycle ---------------------------------------------------------
    @property
    def argv(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.storage_path}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}/",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]

    def _spawn(self) -> None:
        self._log = open(self.log_path, "ab")
        preexec = None
        if sys.platform.startswith("linux") and (
            threading.current_thread() is threading.main_thread()
        ):
            # PDEATHSIG fires when the *thread* that forked exits, so only
            # use it from the main thread.
            preexec = _preexec_die_with_parent
        self._proc = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            start_new_session=True,  # Ctrl-C in the terminal is ours to handle
            preexec_fn=preexec,
        )
        _LIVE.add(self)
        self._client = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None and self._client is not None
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AlertmanagerError(
                    f"alertmanager exited with code {self._proc.returncode} "
                    f"before it was ready; log:\n{self.read_log()}"
                )
            try:
                r = self._client.get("/-/ready", timeout=2.0)
                if r.status_code == 200:
                    self.clock_offset = measure_clock_offset(self._client)
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.1)
        raise AlertmanagerError(
            f"alertmanager not ready at {self.url} after {timeout}s ({last}); "
            f"log:\n{self.read_log()}"
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL). Safe to call twice."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                stop_process(proc, grace=timeout)
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._log is not None:
                self._log.close()
                self._log = None
            _LIVE.discard(self)

    def __enter__(self) -> "AlertmanagerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; stop() is the real API
        try:
            self.stop()
        except Exception:
            pass

    # -- API -----------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._client is None:
            raise AlertmanagerError("alertmanager is stopped")
        return self._client

    def now(self) -> _dt.datetime:
        """Alertmanager's current time (ours plus ``clock_offset``)."""
        return _utc_now() + self.clock_offset

    def post_alerts(self, alerts: list[Mapping[str, Any]]) -> None:
        """POST /api/v2/alerts. Each alert: labels, annotations, startsAt,
        endsAt (an endsAt in the past resolves it), generatorURL.
        datetime values are times on this process's clock (naive ones UTC):
        they are sent as RFC 3339 on Alertmanager's clock. Strings are sent as
        they are."""
        body = json.dumps(_on_clock(list(alerts), self.clock_offset), default=_json_default)
        r = self._http().post(
            "/api/v2/alerts",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        if r.status_code != 200:
            raise AlertmanagerError(
                f"POST /api/v2/alerts -> HTTP {r.status_code}: {r.text}"
            )

    def resolve_alerts(self, alerts: list[Mapping[str, Any]]) -> None:
        """Re-post the alerts with endsAt one second in the past (for Alertmanager)."""
        ended = _utc_now() - _dt.timedelta(seconds=1)  # ours; post_alerts moves it onto its clock
        self.post_alerts([{**a, "endsAt": ended} for a in alerts])

    def get_alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (what Alertmanager currently holds)."""
        r = self._http().get("/api/v2/alerts")
        r.raise_for_status()
        return r.json()

    def read_log(self, tail: int = 8000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"<AlertmanagerProcess {self.url} pid={self.pid}>"


def start_alertmanager(
    tmp_path: Path | str,
    webhook_url: str,
    *,
    bearer: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    receiver: str = "herald",
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str = "1h",
    group_by: Iterable[str] = ("alertname", "service"),
    send_resolved: bool = True,
    max_alerts: int = 0,
    binary: str | None = None,
    ready_timeout: float = 30.0,
) -> AlertmanagerProcess:
    """Start the real Alertmanager on a free 127.0.0.1 port, clustering off,
    with one receiver whose webhook posts to ``webhook_url``; return once
    ``/-/ready`` answers 200. Raises AlertmanagerError when it cannot start
    (the process is then already stopped)."""
    binary = binary or alertmanager_binary()
    if binary is None:
        raise AlertmanagerError(
            "Alertmanager binary not found "
            "(apt-get install prometheus-alertmanager, or set HERALD_ALERTMANAGER_BIN)"
        )
    config = build_config(
        webhook_url,
        bearer=bearer,
        basic_auth=basic_auth,
        receiver=receiver,
        group_by=group_by,
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
        send_resolved=send_resolved,
        max_alerts=max_alerts,
    )
    workdir = Path(tmp_path) / "alertmanager"
    # A free port can be taken between probing and binding: retry a little.
    last_error: AlertmanagerError | None = None
    for _attempt in range(3):
        try:
            return AlertmanagerProcess(
                binary, workdir, config, ready_timeout=ready_timeout
            )
        except AlertmanagerError as exc:
            if "address already in use" not in str(exc):
                raise
            last_error = exc
    assert last_error is not None
    raise last_error
