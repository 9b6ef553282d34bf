"""Regex matchers (``=~``, ``!~``) run on RE2, as Alertmanager's do: time linear in the
label value whatever the pattern, so a maintenance window or a route cannot make a
webhook backtrack for seconds (``instance=~"(a+)+"`` did). They are anchored as
Alertmanager anchors them, ``^(?:pattern)$``, and a pattern RE2 cannot run (a
backreference, a lookaround) is refused — in the configuration with the file and the
field, in the API with a 400 naming the field. How long a pathological pattern takes is
measured in ``bench/matchers.py``, not here."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import re2

from routing.matchers import MatcherError, compiled, parse_matcher
from integrations.config.model import ConfigError, load_config
from tests.herald_env import write_config
from tests.security.conftest import ADMIN_TOKEN, bearer

#: Patterns RE2 does not run: they need backtracking.
NOT_RE2 = ["(a)\\1", "(?=a)a", "(?!b)a", "(?<=a)b", "a++", "(?P<x>a)(?P=x)"]


def regex_matcher(name: str, pattern: str) -> str:
    """``name=~"pattern"``, a backslash escaped as a matcher's quoted value needs it."""
    return f'{name}=~"{pattern.replace(chr(92), chr(92) * 2)}"'


def test_regex_matchers_are_re2_and_anchored_like_alertmanager():
    """The pattern of the report: compiled by RE2, anchored at both ends."""
    matcher = parse_matcher('instance=~"(a+)+"')
    assert isinstance(matcher.regex, re2._Regexp)
    assert matcher.regex.pattern == "^(?:(a+)+)$"
    assert matcher.matches({"instance": "a" * 40})
    assert not matcher.matches({"instance": "a" * 40 + "!"})  # RE2 answers this without backtracking
    assert parse_matcher('instance!~"(a+)+"').matches({"instance": "a" * 40 + "!"})
    assert all(isinstance(m.regex, re2._Regexp) for m in compiled(('service=~"db|cache"', 'env!~"dev.*"')))
    assert parse_matcher('service="db"').regex is None  # equality needs no regex


@pytest.mark.parametrize("text, labels, expected", [
    ('service=~"db|cache"', {"service": "cache"}, True),  # the alternation is inside the anchors
    ('service=~"db|cache"', {"service": "cachex"}, False),
    ('service=~"db"', {"service": "db\n"}, False),  # $ is the end of the value, not before a newline
    ('digit=~"\\\\d"', {"digit": "\u0663"}, False),  # \d is ASCII in RE2 and Go, not any Unicode digit
    ('name=~"\\\\p{Greek}+"', {"name": "\u03b1\u03b2"}, True),  # Unicode classes, as Alertmanager has them
    ('name=~"(?i)DB"', {"name": "db"}, True),
    ('missing=~""', {}, True),  # a missing label is the empty string
    ('missing=~".+"', {}, False),
])
def test_re2_semantics_are_alertmanagers(text, labels, expected):
    """The edge: where Python's ``re`` and RE2 (Go's regexp syntax) disagree, Herald
    answers as Alertmanager does."""
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("pattern", NOT_RE2)
def test_a_pattern_re2_cannot_run_is_refused_saying_why(pattern):
    with pytest.raises(MatcherError) as refused:
        parse_matcher(regex_matcher("instance", pattern))
    message = str(refused.value)
    assert "RE2" in message and pattern in message, message


def test_the_configuration_refuses_it_naming_the_file_and_the_field(tmp_path):
    path = write_config(tmp_path)
    text = path.read_text().replace(
        "route: {policy: default}",
        "route:\n  policy: default\n  routes:\n    - {policy: default, matchers: ['instance=~\"(a)\\\\1\"']}\n")
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: route.routes.0.matchers: "), message
    assert "RE2" in message and "(a)\\1" in message, message


def test_the_maintenance_api_refuses_it_with_a_400_naming_the_field(client):
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    for pattern in ("(a)\\1", "(?=a)a"):
        window = {"matchers": ['service="db"', regex_matcher("instance", pattern)], "end": tomorrow, "reason": "upgrade"}
        r = client.post("/api/v1/maintenance", json=window, headers=bearer(ADMIN_TOKEN))
        assert r.status_code == 400, r.text
        detail = r.json()["detail"]
        assert "matchers" in detail and "RE2" in detail, detail
    listed = client.get("/api/v1/maintenance", headers=bearer(ADMIN_TOKEN))
    assert listed.status_code == 200 and listed.json()["windows"] == []  # nothing was stored
    fine = {"matchers": ['instance=~"(a+)+"'], "end": tomorrow, "reason": "the reported window"}
    assert client.post("/api/v1/maintenance", json=fine, headers=bearer(ADMIN_TOKEN)).status_code == 201
