"""``herald dev`` (``make run``) as a new user meets it: the port is checked before
anything starts, and the banner is the way in — the console, the dev inbox, a line that
points a second shell's ``herald`` commands at this instance, ``herald fire``, and a
reply that acknowledges as the person who was really paged. Every line the tests use
is taken from the banner and run as printed, in a shell with no Herald settings."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import httpx
import pytest

from service.dev.local_redis import free_port
from tests.herald_env import ROOT, weekly_calendar, write_config
from tests.processes import Proc, herald, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("herald-dev")]
ERIN_PHONE = "+15550100004"
BANNER_END = "Ctrl-C stops everything."


class Dev:
    def __init__(self, proc: Proc, port: int) -> None:
        self.proc, self.port = proc, port
        self.banner = proc.output()[proc.output().rindex("Herald is running at"):]

    def line(self, pattern: str) -> str:
        found = re.search(pattern, self.banner, re.MULTILINE)
        assert found, f"the banner has no line matching {pattern!r}:\n{self.banner}"
        return found.group(1) if found.groups() else found.group(0)

    @property
    def api(self) -> dict[str, str]:
        token = self.line(r"API token: (\S+)")
        return {"Authorization": f"Bearer {token}"}


def start_dev(tmp_path, env: dict[str, str]) -> Dev:
    """``herald dev`` on a free port (another one when a parallel test took it first)."""
    for attempt in range(3):
        port = free_port()
        proc = herald("dev", "--port", str(port), "--state-dir", str(tmp_path / f"state{attempt}"), env=env)
        try:
            wait_for(lambda: BANNER_END in proc.output(), 180, "the banner of herald dev", proc)
            return Dev(proc, port)
        except AssertionError:
            proc.stop()
            if f"port {port} on" not in proc.output() or attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """``herald dev`` with a configuration in which Erin (not Alice, not Bob) is L1."""
    tmp = tmp_path_factory.mktemp("dev")
    config = write_config(tmp / "conf")
    (config.parent / "primary.ics").write_text(weekly_calendar("p1", "erin@example.com", "Erin Engel"), newline="")
    unset = {name: "" for name in ("HERALD_PUBLIC_URL", "HERALD_ALERTMANAGER_TOKEN", "HERALD_API_TOKEN",
                                   "HERALD_REDIS_URL", "HERALD_TWILIO_ACCOUNT_SID", "HERALD_SENDGRID_API_KEY")}
    running = start_dev(tmp, {**unset, "HERALD_CONFIG": str(config)})
    try:
        yield running
    finally:
        running.proc.stop()


def second_shell(command: str, cwd) -> subprocess.CompletedProcess:
    """``command`` in bash with no HERALD_ setting at all (a new terminal)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_banner_shows_the_console_the_inbox_and_who_the_test_alert_pages(dev):
    console = dev.line(r"Web console:\s+(\S+)")
    assert console == f"http://127.0.0.1:{dev.port}/ui/"
    assert httpx.get(console, timeout=10).status_code in (200, 303)
    inbox = dev.line(r"Dev inbox:\s+(\S+)")
    assert inbox.endswith("/_sim/inbox") and httpx.get(inbox, timeout=10).status_code == 200
    assert f"It pages L1: Erin Engel ({ERIN_PHONE})" in dev.banner  # who is on call, not a fixed name
    assert f'"from": "{ERIN_PHONE}"' in dev.line(r"^\s+(curl .*_sim/reply.*)$")
    assert "herald fire" in dev.banner and "test-alert.json" not in dev.banner


def test_the_pasted_line_points_the_cli_at_this_instance_and_the_reply_acknowledges(dev, tmp_path):
    paste = dev.line(r"^\s+(export .*HERALD_REDIS_URL.*)$")
    oncall = second_shell(f"{paste} && herald oncall --schedule primary", tmp_path)
    assert oncall.returncode == 0, oncall.stderr
    assert re.search(r"^primary\s+L1\s+erin\b", oncall.stdout, re.MULTILINE), oncall.stdout
    assert "no Herald data" not in oncall.stderr and "unreachable" not in oncall.stderr, oncall.stderr
    lint = second_shell(f"{paste} && herald schedules lint --schedule primary --skip-contacts", tmp_path)
    assert lint.returncode == 0 and "no Herald data" not in lint.stderr, lint.stdout + lint.stderr

    fire = second_shell(f"{paste} && herald fire", tmp_path)
    assert fire.returncode == 0, fire.stderr
    incident_id = re.search(r"incident (\d+) is triggered", fire.stdout).group(1)
    sim = dev.line(r"Dev inbox:\s+(\S+)").removesuffix("/_sim/inbox")

    def sms_to_erin() -> list:
        r = httpx.get(f"{sim}/_sim/messages", params={"to": ERIN_PHONE, "channel": "sms"}, timeout=10)
        return [m for m in r.json() if f"#{incident_id}" in m["body"]]

    wait_for(sms_to_erin, 60, "the SMS to Erin", dev.proc)
    reply = second_shell(dev.line(r"^\s+(curl .*_sim/reply.*)$"), tmp_path)
    assert reply.returncode == 0, reply.stderr

    def incident() -> dict:
        return httpx.get(f"http://127.0.0.1:{dev.port}/api/v1/incidents/{incident_id}", headers=dev.api,
                         timeout=10).json()

    wait_for(lambda: incident()["status"] == "acknowledged", 30, "the acknowledgement by SMS", dev.proc)
    assert incident()["acknowledged_by"] == "erin"

    resolve = second_shell(f"{paste} && herald fire --resolve", tmp_path)
    assert f"incident {incident_id} is resolved" in resolve.stdout, resolve.stdout + resolve.stderr
    again = second_shell(f"{paste} && herald fire", tmp_path)
    assert re.search(r"incident (\d+) is triggered", again.stdout).group(1) != incident_id


def test_a_busy_port_stops_before_anything_starts_and_says_how_to_choose_another(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "service.cli.main", "dev", "--port", str(port), "--state-dir",
                              str(tmp_path / "state")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in run.stderr
    assert re.search(r"make run PORT=\d+ .*herald dev --port \d+", run.stderr), run.stderr
    assert "Traceback" not in run.stderr and "Herald is running" not in run.stdout
    assert not (tmp_path / "state").exists()  # no Redis was started


def test_make_run_passes_the_port_and_a_bad_port_is_named(tmp_path):
    make = subprocess.run(["make", "-n", "-o", ".venv/.installed", "run", "PORT=18123"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert make.returncode == 0 and "herald dev --port 18123" in make.stdout, make.stdout + make.stderr
    for bad in ("0", "70000", "http"):
        run = subprocess.run([sys.executable, "-m", "service.cli.main", "dev", "--port", bad], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and f"argument --port: '{bad}' is not a port number" in run.stderr
