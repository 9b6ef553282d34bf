"""Helpers for the deploy/ checks: load manifests, find tools, list env names."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "docker-compose.yml"
RULES = DEPLOY / "prometheus" / "herald-rules.yml"
OPERATING = ROOT / "docs" / "operating.md"

#: HERALD_* names the deploy files set that are not Settings fields yet, with the reason.
AWAITING_WIRING = {
    "HERALD_WORKER_METRICS_PORT": "worker metrics server: service/metrics.start_worker_metrics_server",
}
#: Read by ``herald sim`` itself (service/dev/simulator/app.py), not by Settings.
SIMULATOR_ENV = {"HERALD_SIM_TWILIO_AUTH_TOKEN", "HERALD_SIM_SENDGRID_API_KEY"}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kube_objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    return [obj for name in kustomization["resources"] for obj in load_all(KUBE / name)]


def settings_env_names() -> set[str]:
    return {f"HERALD_{name.upper()}" for name in Settings.model_fields}


def herald_env_names(text: str) -> set[str]:
    return set(re.findall(r"\bHERALD_[A-Z0-9_]+\b", text))


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", markdown.read_text(), re.MULTILINE)}
