"""A generic integration's mapping over JSON bodies (routing.generic_json): pure."""
from __future__ import annotations

import pytest

from routing.generic_json import (MAX_DETAILS, MappingError, STATUS_WORDS, evaluate, event_of, hashed_key,
                                  preview, status_action)
from routing.integration import Integration, Link

MAPPING = {"title": "alert.name", "dedup_key": "alert.id", "severity": "alert.level", "status": "state",
           "details": "alert.facts", "links": "alert.urls", "source": "host"}
HOOK = Integration(name="hook", kind="generic", mapping=MAPPING, severity={"sev1": "P0"})
BODY = {"alert": {"name": "Queue backed up", "id": "queue/orders", "level": "critical",
                  "facts": {"depth": 1200, "queue": "orders", "tags": ["a", "b"], "ok": False},
                  "urls": ["https://ci.example/q/orders", {"href": "https://grafana.example/d/q", "text": "Dashboard"}]},
        "state": "firing", "host": "mq-1"}


def test_a_body_read_through_the_mapping():
    event = event_of(HOOK, BODY)
    assert (event.action, event.dedup_key, event.summary, event.severity, event.source) == (
        "trigger", "queue/orders", "Queue backed up", "P1", "mq-1")
    assert event.details == {"depth": "1200", "queue": "orders", "tags": '["a","b"]', "ok": "false"}
    assert list(event.links) == [Link("https://ci.example/q/orders"), Link("https://grafana.example/d/q", "Dashboard")]
    shown = preview(event)
    assert shown["title"] == "Queue backed up" and shown["links"][1] == {"href": "https://grafana.example/d/q",
                                                                        "text": "Dashboard"}


@pytest.mark.parametrize("word, action", [
    *[(w, "resolve") for w in ("resolved", "RESOLVED", " ok ", "closed", "inactive", "resolve")],
    *[(w, "acknowledge") for w in ("acknowledged", "Ack", "acknowledge")],
    *[(w, "trigger") for w in ("firing", "alerting", "open", "", None, "triggered")],
])
def test_status_words(word, action):
    assert status_action(word) == action
    body = {**BODY, "state": word}
    assert event_of(HOOK, body).action == action


def test_every_documented_status_word_is_one_action():
    assert set(STATUS_WORDS.values()) == {"resolve", "acknowledge"}


@pytest.mark.parametrize("level, severity", [("sev1", "P0"), ("warning", "P2"), ("info", "P3"), ("P1", "P1"),
                                             ("whatever", "P2"), (None, "P2")])
def test_severity_words(level, severity):
    body = {**BODY, "alert": {**BODY["alert"], "level": level}}
    assert event_of(HOOK, body).severity == severity


def test_only_title_is_needed_and_the_dedup_key_is_then_a_stable_hash_of_it():
    bare = Integration(name="bare", kind="generic", mapping={"title": "msg"})
    first, again = event_of(bare, {"msg": "Disk full"}), event_of(bare, {"msg": "Disk full", "other": 1})
    assert first.dedup_key == again.dedup_key == hashed_key("Disk full") and first.dedup_key.startswith("title-")
    assert event_of(bare, {"msg": "Disk fuller"}).dedup_key != first.dedup_key
    assert (first.action, first.severity, dict(first.details), list(first.links), first.source) == (
        "trigger", "P2", {}, [], "")
    assert event_of(bare, {"msg": 503}).summary == "503"  # a number is text enough


def test_optional_fields_that_find_nothing_take_their_defaults():
    event = event_of(HOOK, {"alert": {"name": "x", "id": "k"}})
    assert (event.action, event.severity, dict(event.details), list(event.links), event.source) == (
        "trigger", "P2", {}, [], "")


def test_details_and_links_are_bounded():
    body = {"alert": {"name": "x", "id": "k", "facts": {f"k{i}": "v" * 5000 for i in range(200)},
                      "urls": [f"https://x.example/{i}" for i in range(100)]}}
    event = event_of(HOOK, body)
    assert len(event.details) == MAX_DETAILS and all(len(v) == 1000 for v in event.details.values())
    assert len(event.links) == 20
    assert list(event_of(HOOK, {"alert": {"name": "x", "id": "k", "urls": "https://one.example"}}).links) == [
        Link("https://one.example")]  # one URL on its own is a list of one


@pytest.mark.parametrize("body, message", [
    ({"alert": {"id": "k"}}, "title: the expression 'alert.name' found nothing in the body"),
    ({"alert": {"name": "", "id": "k"}}, "title: the expression 'alert.name' found nothing in the body"),
    ({"alert": {"name": {"a": 1}, "id": "k"}}, "title: the expression 'alert.name' found an object, not text"),
    ({"alert": {"name": ["a"], "id": "k"}}, "title: the expression 'alert.name' found a list, not text"),
    ({"alert": {"name": "x"}}, "dedup_key: the expression 'alert.id' found nothing in the body"),
    ({"alert": {"name": "x", "id": "k" * 256}}, "dedup_key: the expression 'alert.id' found 256 characters"),
    ({"alert": {"name": "x", "id": "k", "facts": "text"}}, "details: the expression 'alert.facts' found a string, not an object"),
    ({"alert": {"name": "x", "id": "k", "urls": [7]}}, "links: the expression 'alert.urls' found a number at index 0"),
    ({"alert": {"name": "x", "id": "k", "level": {"a": 1}}}, "severity: the expression 'alert.level' found an object"),
    ([1, 2], "title: the expression 'alert.name' found nothing in the body"),
    ("just text", "title: the expression 'alert.name' found nothing in the body"),
])
def test_a_body_the_mapping_cannot_read_names_the_field_and_the_expression(body, message):
    with pytest.raises(MappingError) as caught:
        event_of(HOOK, body)
    assert str(caught.value).startswith(message)


def test_an_expression_that_fails_on_the_body_is_named():
    with pytest.raises(MappingError, match=r"^title: the expression 'length\(msg\)' failed on the body"):
        evaluate({"title": "length(msg)"}, {"msg": 5}, HOOK)
    with pytest.raises(MappingError, match="^title: .* is missing"):
        evaluate({"dedup_key": "id"}, {"id": "x"}, HOOK)
