"""The dev tooling (service/dev: the provider simulator, ``herald dev``, the private
redis-server launcher) never ships in the production image, and the production code runs
without it. The wheel is built here the way the Dockerfile builds it."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "routing", "schedules", "integrations")


@pytest.fixture(scope="module")
def production_wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(src / "service" / "dev")  # what the Dockerfile's build stage does
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(work / "wheels"), str(src)], check=True, cwd=work)
    return next((work / "wheels").glob("herald-*.whl"))


def test_the_dockerfile_builds_the_wheel_without_the_dev_tooling():
    text = (ROOT / "Dockerfile").read_text()
    build = text.split("FROM python:3.11-slim AS runtime")[0]
    assert build.index("RUN rm -rf service/dev") < build.index("pip wheel --no-deps")
    *_, last = text.split("\nFROM ")
    assert last.startswith("runtime") and "service/dev" not in last  # the default target is production


def test_the_production_wheel_has_no_dev_tooling(production_wheel):
    names = zipfile.ZipFile(production_wheel).namelist()
    assert "service/app.py" in names and "service/worker/process.py" in names
    assert not [n for n in names if n.startswith("service/dev/")]


def test_production_runs_without_it_and_the_dev_commands_say_where_it_is(production_wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(production_wheel)], check=True)
    # -S: no site-packages processing, so the checkout's editable install cannot fill the gap;
    # the dependencies come from this venv's site-packages, named explicitly after the wheel.
    env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}", "PATH": "/usr/bin:/bin"}
    probe = ("import service.app, service.worker.process, service.cli.main\n"
             "from service.cli.main import main\n"
             "main(['sim'])\n")
    run = subprocess.run([sys.executable, "-S", "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert "herald sim: the dev tooling (service/dev) is not installed here" in run.stderr
    assert "Traceback" not in run.stderr
