"""Dockerfile, .dockerignore and deploy/docker-compose.yml (no docker engine needed)."""
from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from service.dev.simulator.callbacks import load_signing_key, public_key_b64
from tests.deploy.util import (AWAITING_WIRING, COMPOSE, DEPLOY, ROOT, SIMULATOR_ENV, herald_env_names, require_tool,
                               run, settings_env_names)

COMPOSE_DOC = yaml.safe_load(COMPOSE.read_text())
SERVICES = COMPOSE_DOC["services"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            verdict = not negate
    return verdict


def test_dockerfile_is_multi_stage_non_root_with_entrypoint_and_healthcheck():
    steps = instructions(ROOT / "Dockerfile")
    froms = [args for word, args in steps if word == "FROM"]
    # build; runtime; dev (runtime plus the dev tooling, for compose's simulator); and the
    # default target last: the production runtime as it is
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim AS runtime", "runtime AS dev", "runtime"]
    starts = [i for i, (w, _) in enumerate(steps) if w == "FROM"]
    runtime = steps[starts[1]:starts[2]]
    assert steps[starts[3]:] == [("FROM", "runtime")]
    user = [args for word, args in runtime if word == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert json.loads(dict(runtime)["ENTRYPOINT"]) == ["herald"]
    assert json.loads(dict(runtime)["CMD"]) == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    check = dict(runtime)["HEALTHCHECK"]
    assert "CMD" in check and "urllib.request" in check and "127.0.0.1:8080/healthz" in check
    assert "curl" not in check and "wget" not in check
    assert "wheel" in dict(steps)["RUN"] and "--no-index" in " ".join(a for w, a in runtime if w == "RUN")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["herald"] == "service.cli.main:main"


def test_dockerfile_copies_every_package_and_nothing_ignored():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in (".venv", ".git", "tests"):
        assert ignored(needed, patterns), needed
    sources = []
    for word, args in instructions(ROOT / "Dockerfile"):
        if word == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source, patterns), f"{source} is in .dockerignore"
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in include} <= set(sources)


#: Files the wheel (so the image) lacks today; the fix is a line in pyproject.toml:
#: [tool.setuptools.package-data] service = ["templates/*.html", "static/*"].
#: Empty this once fixed; any other file missing from the wheel fails now.
KNOWN_MISSING_FROM_WHEEL: tuple[str, ...] = ()


def test_wheel_carries_every_package_file():
    """The image installs the wheel: a data file that package-data misses is not in it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = setuptools.get("package-data", {})
    missing = set()
    for include in setuptools["packages"]["find"]["include"]:
        top = ROOT / include.rstrip("*")
        for path in top.rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
                inside = path.relative_to(top).as_posix()
                if not any(fnmatch.fnmatch(inside, glob) for glob in data.get(top.name, [])):
                    missing.add(path.relative_to(ROOT).as_posix())
    known = {path for path in missing if any(fnmatch.fnmatch(path, glob) for glob in KNOWN_MISSING_FROM_WHEEL)}
    assert missing == known, f"not in the wheel (so not in the image): {sorted(missing - known)}"
    assert known or not KNOWN_MISSING_FROM_WHEEL, "fixed: empty KNOWN_MISSING_FROM_WHEEL"


def test_compose_services_commands_and_ports():
    assert set(SERVICES) == {"redis", "api", "nginx", "worker-1", "worker-2", "sim", "alertmanager", "prometheus"}
    assert SERVICES["api"]["command"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert SERVICES["worker-1"]["command"] == SERVICES["worker-2"]["command"] == ["worker"]
    assert "herald sim --host 0.0.0.0 --port 8765 --herald-url http://api:8080" in SERVICES["sim"]["command"][0]
    assert SERVICES["redis"]["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_compose_environment():
    api_env = SERVICES["api"]["environment"]
    names = set(api_env) | set(SERVICES["worker-1"]["environment"]) | herald_env_names(COMPOSE.read_text())
    assert names - settings_env_names() - set(AWAITING_WIRING) - SIMULATOR_ENV == set()
    assert urlsplit(api_env["HERALD_REDIS_URL"]).hostname == "redis"
    for key in ("HERALD_TWILIO_API_BASE", "HERALD_SENDGRID_API_BASE"):
        assert urlsplit(api_env[key]).hostname == "sim" and urlsplit(api_env[key]).port == 8765
    sim_env = SERVICES["sim"]["environment"]
    assert sim_env["HERALD_SIM_TWILIO_AUTH_TOKEN"] == api_env["HERALD_TWILIO_AUTH_TOKEN"]
    assert sim_env["HERALD_SIM_SENDGRID_API_KEY"] == api_env["HERALD_SENDGRID_API_KEY"]
    assert public_key_b64(load_signing_key(sim_env["SIM_SENDGRID_KEY_PEM"])) == \
        api_env["HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY"]
    worker_port = SERVICES["worker-1"]["environment"]["HERALD_WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{worker_port}/healthz" in " ".join(SERVICES["worker-1"]["healthcheck"]["test"])


def test_compose_alertmanager_points_at_the_api_with_the_token():
    mount = SERVICES["alertmanager"]["volumes"][0].split(":")[0]
    config = yaml.safe_load((DEPLOY / mount).read_text())
    [hook] = [h for r in config["receivers"] for h in r.get("webhook_configs", [])]
    url = urlsplit(hook["url"])
    assert (url.hostname, url.port, url.path) == ("api", 8080, "/api/v1/alertmanager")
    assert hook["send_resolved"] is True
    default = re.search(r"HERALD_ALERTMANAGER_TOKEN:-([^}]+)}", COMPOSE.read_text()).group(1)
    assert hook["http_config"]["authorization"]["credentials"] == default


def test_compose_prometheus_scrapes_herald_and_alerts_alertmanager():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]]
            for job in config["scrape_configs"]}
    assert jobs["herald-api"] == ["api:8080"]
    port = SERVICES["worker-1"]["environment"]["HERALD_WORKER_METRICS_PORT"]
    assert jobs["herald-worker"] == [f"worker-1:{port}", f"worker-2:{port}"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    for rules in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rules).is_file()


def test_amtool_accepts_the_compose_alertmanager_config():
    amtool = require_tool("amtool")
    result = run([amtool, "check-config", "alertmanager/alertmanager.compose.yml"], DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_compose_prometheus_config():
    promtool = require_tool("promtool")
    result = run([promtool, "check", "config", "prometheus.yml"], DEPLOY / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_validates():
    """``docker-compose config`` (v1, Debian's package) or ``docker compose config`` (v2)
    resolves and validates the file without a docker engine."""
    import shutil

    if shutil.which("docker-compose"):
        command = ["docker-compose", "-p", "herald", "-f", "docker-compose.yml", "config", "-q"]
    elif shutil.which("docker") and run(["docker", "compose", "version"], DEPLOY).returncode == 0:
        command = ["docker", "compose", "-p", "herald", "-f", "docker-compose.yml", "config", "-q"]
    else:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    result = run(command, DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr
