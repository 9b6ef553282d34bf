"""docs/: every setting and every YAML field is documented; links and anchors resolve;
every exported metric is described. Reads the live models, so a new field fails here
until it is written up in docs/configuration.md."""
from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.telemetry import metrics
from integrations.config.model import FileSpec, PersonSpec, PolicySpec, ScheduleSpec, SeveritySpec, TierSpec
from service.settings import Settings
from tests.config_fields import reachable_models, yaml_key
from tests.deploy.util import anchors

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIGURATION = DOCS / "configuration.md"
NAMED = (FileSpec, PersonSpec, ScheduleSpec, TierSpec, PolicySpec, SeveritySpec)


MODELS = tuple(dict.fromkeys([*NAMED, *reachable_models(FileSpec)]))


def section(markdown: str, title_part: str) -> str:
    """The text under the first heading containing ``title_part``, up to the next
    heading of the same or a higher level."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        found = re.match(r"^(#+)\s+(.*)$", line)
        if found and title_part in found.group(2):
            level = len(found.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(rf"^#{{1,{level}}}\s", lines[j])), len(lines))
            return "\n".join(lines[i + 1:end])
    raise AssertionError(f"docs/configuration.md has no heading mentioning {title_part}")


def test_every_setting_is_documented():
    text = CONFIGURATION.read_text()
    missing = [f"HERALD_{name.upper()}" for name in Settings.model_fields
               if f"`HERALD_{name.upper()}`" not in text]
    assert not missing, f"document these in docs/configuration.md: {missing}"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_yaml_field_is_documented_in_its_section(model):
    body = section(CONFIGURATION.read_text(), model.__name__)
    missing = [key for key in (yaml_key(model, name) for name in model.model_fields) if f"`{key}`" not in body]
    assert not missing, f"document these {model.__name__} fields in docs/configuration.md: {missing}"


def test_links_between_docs_resolve():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # external
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.name} links to missing {path}"
            if anchor and resolved.suffix == ".md":
                assert anchor in anchors(resolved), f"{page.name} links to missing #{anchor} in {resolved.name}"


def test_every_metric_is_described(redis_url):
    stamp = SimpleNamespace(timestamp=time.time)
    book = SimpleNamespace(status={"s": SimpleNamespace(error=None, shifts=1, loaded_at=stamp, checked_at=stamp)},
                           rotation=lambda _name: None)
    metrics.observe(redis_url=redis_url, queue_name="herald", calendars=book)
    try:
        families = {family.name for family in metrics.REGISTRY.collect()}
    finally:
        metrics.observe()
    text = (DOCS / "operating.md").read_text()
    missing = sorted(name for name in families
                     if name not in text and f"{name}_total" not in text)
    assert not missing, f"describe these metrics in docs/operating.md: {missing}"
