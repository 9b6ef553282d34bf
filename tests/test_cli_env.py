"""A wrong ``HERALD_*`` variable stops every command with one line per variable on stderr
naming it and what was wrong, exit status 2, and no traceback; a secret's value is never
repeated there. (It used to be a pydantic traceback.)"""
from __future__ import annotations

import os
import subprocess
import sys

from tests.herald_env import ROOT


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    return subprocess.run([sys.executable, "-m", "service.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**clean, **env})


def test_each_wrong_variable_is_named_with_what_was_wrong():
    done = run("worker", HERALD_RETENTION_DAYS="0", HERALD_PROVIDER_TIMEOUT="abc")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert "herald: HERALD_RETENTION_DAYS: Input should be greater than or equal to 1 (given '0')" in lines
    assert any(line.startswith("herald: HERALD_PROVIDER_TIMEOUT: Input should be a valid number") for line in lines)
    assert len(lines) == 2 and "Traceback" not in done.stderr


def test_a_secret_value_is_never_repeated(monkeypatch):
    from pydantic import SecretStr, ValidationError

    from service.settings import Settings, env_problems

    secret = "s3cret-value-that-must-not-print"
    try:  # a secret that fails validation (a list where a string goes): its value stays out of the line
        Settings(api_token=[secret], retention_days=0)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = env_problems(exc)
    else:
        raise AssertionError("Settings accepted a list as a token")
    assert any(p.startswith("HERALD_API_TOKEN: ") for p in problems)
    assert all(secret not in p for p in problems)
    assert isinstance(Settings(api_token="x" * 32).api_token, SecretStr)


def test_valid_variables_change_nothing():
    done = run("check-config", "deploy/examples/herald.yaml", HERALD_RETENTION_DAYS="30")
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout
