"""deploy/prometheus/herald-rules.yml: well-formed, uses real metric names, has runbooks."""
from __future__ import annotations

import re
import time
from types import SimpleNamespace

import yaml

from service.telemetry import metrics
from tests.deploy.util import DEPLOY, OPERATING, RULES, anchors, require_tool, run

RULE_LIST = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def exported_names(redis_url: str) -> set[str]:
    """Every sample name Herald exports, with all scrape-time collectors attached."""
    stamp = SimpleNamespace(timestamp=time.time)
    status = SimpleNamespace(error="x", shifts=1, loaded_at=stamp, checked_at=stamp)
    book = SimpleNamespace(status={"primary": status}, rotation=lambda _name: object())
    metrics.observe(redis_url=redis_url, queue_name="herald", calendars=book)
    try:
        families = list(metrics.REGISTRY.collect())
        # A labelled gauge nobody has set yet has no samples, but Herald does export it.
        return {s.name for f in families for s in f.samples} | {f.name for f in families if f.type == "gauge"}
    finally:
        metrics.observe()


def test_every_rule_is_complete():
    assert RULE_LIST
    names = [rule["alert"] for rule in RULE_LIST]
    assert len(names) == len(set(names))
    for rule in RULE_LIST:
        assert rule["alert"].startswith("Herald") and rule["expr"]
        assert rule["labels"]["severity"] in ("critical", "warning") and rule["labels"]["service"] == "herald"
        assert {"summary", "description", "runbook_url"} <= rule["annotations"].keys()


def test_rules_use_metrics_herald_exports(redis_url):
    exported = exported_names(redis_url)
    for rule in RULE_LIST:
        for name in re.findall(r"\bherald_[a-z_]+\b", rule["expr"]):
            assert name in exported, f"{rule['alert']} uses {name}, which Herald does not export"


def test_every_alert_has_a_runbook_section():
    sections = anchors(OPERATING)
    for rule in RULE_LIST:
        link = rule["annotations"]["runbook_url"]
        assert link == f"docs/operating.md#{rule['alert'].lower()}"
        assert link.split("#")[1] in sections, f"docs/operating.md has no section for {rule['alert']}"


def test_promtool_checks_and_unit_tests_the_rules():
    promtool = require_tool("promtool")
    checked = run([promtool, "check", "rules", RULES.name], RULES.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run([promtool, "test", "rules", "herald-rules.test.yml"], DEPLOY / "prometheus")
    assert tested.returncode == 0, tested.stdout + tested.stderr
