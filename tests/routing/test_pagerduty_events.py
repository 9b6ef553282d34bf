"""PagerDuty Events API v2 bodies read into events (routing.pagerduty_events): for each
field, what it becomes, its edge, and how a wrong one is refused in PagerDuty's words."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from routing.integration import Integration, Link, event_group
from routing.pagerduty_events import (MAX_DETAIL_VALUE, MAX_DETAILS, MAX_LINKS, EventInvalid, decode, parse_alert,
                                      parse_change)
from routing.routes import Route

KEY = "0123456789abcdef0123456789abcdef"
NEW = "generated-key"
BILLING = Integration("billing", "pagerduty", severity={"warning": "P3"})


def trigger(**change: Any) -> dict[str, Any]:
    """A valid trigger with ``change`` applied (``payload__x`` sets ``payload.x``; None removes)."""
    body: dict[str, Any] = {"routing_key": KEY, "event_action": "trigger", "dedup_key": "disk/db1",
                            "payload": {"summary": "Disk full", "source": "db1", "severity": "critical"}}
    for name, value in change.items():
        target, field = (body["payload"], name[len("payload__"):]) if name.startswith("payload__") else (body, name)
        if value is None:
            target.pop(field, None)
        else:
            target[field] = value
    return body


def problems(body: dict[str, Any], change: bool = False) -> list[str]:
    with pytest.raises(EventInvalid) as caught:
        parse_change(body) if change else parse_alert(body, NEW)
    return caught.value.errors


# -- expected ----------------------------------------------------------------------------------

def test_a_full_trigger_becomes_a_source_event_with_labels_details_and_links():
    now = datetime.now(timezone.utc).replace(microsecond=0)
    event = parse_alert(trigger(payload__timestamp=(now - timedelta(minutes=1)).isoformat(),
                                payload__component="mysql", payload__group="prod-datapipe", payload__class="disk",
                                payload__custom_details={"free space": "1%", "load avg": 0.75, "tags": ["a", "b"]},
                                links=[{"href": "https://grafana.example/d/1", "text": "Dashboard"}],
                                images=[{"src": "https://img.example/1.png", "href": "https://img.example/", "alt": "Chart"}],
                                client="Monitor", client_url="https://monitor.example"), NEW)
    assert (event.routing_key, event.action, event.dedup_key, event.generated) == (KEY, "trigger", "disk/db1", False)
    assert event.at == now - timedelta(minutes=1)
    assert event.labels == {"severity": "critical", "source": "db1", "component": "mysql", "group": "prod-datapipe",
                            "class": "disk"}
    assert event.details == {"free space": "1%", "load avg": "0.75", "tags": '["a","b"]', "client": "Monitor"}
    assert event.links == (Link("https://grafana.example/d/1", "Dashboard"), Link("https://img.example/", "Chart"),
                           Link("https://monitor.example", "View in Monitor"))
    source = event.source_event(BILLING)
    assert (source.severity, source.summary, source.source) == ("P1", "Disk full", "db1")
    group = event_group(BILLING, source, Route(policy="default"), now)
    [alert] = group.alerts
    assert (group.receiver, group.group_key, alert.fingerprint) == ("pagerduty:billing", "disk/db1", "disk/db1")
    assert alert.labels["component"] == "mysql" and alert.labels["integration"] == "billing"
    assert json.loads(alert.annotations["links"])[0] == {"href": "https://grafana.example/d/1", "text": "Dashboard"}


@pytest.mark.parametrize("word, level", [("critical", "P1"), ("error", "P2"), ("warning", "P3"), ("info", "P3")])
def test_each_severity_word_is_the_integrations_p_level(word, level):
    assert parse_alert(trigger(payload__severity=word), NEW).source_event(BILLING).severity == level  # warning: mapped


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_only_the_key_and_the_dedup_key(action):
    event = parse_alert({"routing_key": KEY, "event_action": action, "dedup_key": "disk/db1"}, NEW)
    assert (event.action, event.dedup_key, event.summary, event.labels) == (action, "disk/db1", "", {})
    assert event.source_event(BILLING).severity == BILLING.default_severity


def test_a_change_event_is_a_note_text():
    change = parse_change({"routing_key": KEY, "payload": {"summary": "Deployed v2", "source": "ci",
                                                           "timestamp": datetime.now(timezone.utc).isoformat(),
                                                           "custom_details": {"build": 42}},
                           "links": [{"href": "https://ci.example/42", "text": "Build"}]})
    assert change.note() == "Change: Deployed v2\nsource: ci\nbuild: 42\nBuild: https://ci.example/42"


# -- edges -------------------------------------------------------------------------------------

def test_a_trigger_without_a_dedup_key_gets_the_one_given():
    event = parse_alert(trigger(dedup_key=None), NEW)
    assert (event.dedup_key, event.generated) == (NEW, True)
    assert parse_alert(trigger(dedup_key="  "), NEW).dedup_key == NEW  # blank is missing


def test_the_longest_dedup_key_and_summary_are_kept_whole():
    event = parse_alert(trigger(dedup_key="k" * 255, payload__summary="s" * 1024), NEW)
    assert len(event.dedup_key) == 255 and len(event.summary) == 1024


def test_the_routing_key_may_come_in_the_header_when_the_body_has_none():
    assert parse_alert(trigger(routing_key=None), NEW, header_key=KEY).routing_key == KEY
    assert parse_alert(trigger(), NEW, header_key="other").routing_key == KEY  # the body's wins


AN_HOUR_AGO = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=315000)


@pytest.mark.parametrize("stamp, expected", [
    (AN_HOUR_AGO.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000", AN_HOUR_AGO),  # PagerDuty's own example's shape
    (AN_HOUR_AGO.strftime("%Y-%m-%dT%H:%M:%SZ"), AN_HOUR_AGO.replace(microsecond=0)),
    (AN_HOUR_AGO.isoformat() + "Z", AN_HOUR_AGO),  # an offset and a Z: what pagerduty 7.x means to write
    (AN_HOUR_AGO.astimezone(timezone(timedelta(hours=-5))).isoformat(), AN_HOUR_AGO),  # another offset
    (AN_HOUR_AGO.strftime("%Y-%m-%dT%H:%M:%S"), AN_HOUR_AGO.replace(microsecond=0)),  # no offset: UTC
], ids=["+0000", "Z", "+00:00Z", "-05:00", "no offset"])
def test_timestamps_as_tools_write_them(stamp, expected):
    assert parse_alert(trigger(payload__timestamp=stamp), NEW).at == expected


def test_custom_details_of_any_shape_are_bounded_strings():
    many = {f"k{i}": i for i in range(MAX_DETAILS + 10)}
    assert len(parse_alert(trigger(payload__custom_details=many), NEW).details) == MAX_DETAILS
    long = parse_alert(trigger(payload__custom_details={"trace": "x" * 5000}), NEW).details["trace"]
    assert len(long) == MAX_DETAIL_VALUE and long.endswith("…")
    assert parse_alert(trigger(payload__custom_details="plain text"), NEW).details == {"custom_details": "plain text"}
    assert parse_alert(trigger(payload__custom_details=[1, {"a": None}]), NEW).details == {
        "custom_details": '[1,{"a":null}]'}
    reserved = parse_alert(trigger(payload__custom_details={"summary": "mine", "links": "x"}), NEW).details
    assert reserved == {"custom_details.summary": "mine", "custom_details.links": "x"}  # the alert's own stay its own


def test_links_beyond_the_limit_are_left_out_and_an_image_without_href_links_its_src():
    event = parse_alert(trigger(links=[{"href": f"https://x.example/{i}"} for i in range(MAX_LINKS + 5)],
                                images=[{"src": "https://img.example/a.png"}]), NEW)
    assert len(event.links) == MAX_LINKS
    only = parse_alert(trigger(images=[{"src": "https://img.example/a.png"}]), NEW).links
    assert only == (Link("https://img.example/a.png", "image"),)


def test_a_long_component_is_cut_not_refused():
    assert len(parse_alert(trigger(payload__component="c" * 5000), NEW).labels["component"]) == 1024


# -- failures: every problem listed, each naming its field ---------------------------------------

@pytest.mark.parametrize("change, error", [
    ({"routing_key": None}, "'routing_key' is missing or blank"),
    ({"routing_key": 42}, "'routing_key' must be a string"),
    ({"event_action": None}, "'event_action' is missing or blank"),
    ({"event_action": "open"}, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"),
    ({"dedup_key": "k" * 256}, "Length of 'dedup_key' is incorrect (should be at most 255 characters)"),
    ({"dedup_key": 7}, "'dedup_key' must be a string"),
    ({"payload": None}, "'payload' is missing or not an object"),
    ({"payload": "text"}, "'payload' must be an object"),
    ({"payload__summary": None}, "'payload.summary' is missing or blank"),
    ({"payload__summary": "s" * 1025}, "Length of 'payload.summary' is incorrect (should be at most 1024 characters)"),
    ({"payload__source": ""}, "'payload.source' is missing or blank"),
    ({"payload__severity": None}, "'payload.severity' is missing or blank"),
    ({"payload__severity": "Critical"}, "'payload.severity' is invalid (must be one of: critical, error, warning, info)"),
    ({"payload__timestamp": "yesterday"}, "'payload.timestamp' is not a valid ISO 8601 timestamp: 'yesterday'"),
    ({"payload__component": 5}, "'payload.component' must be a string"),
    ({"links": {"href": "x"}}, "'links' must be an array"),
    ({"links": [{"text": "no href"}]}, "'links[0].href' is missing or blank"),
    ({"images": ["x"]}, "'images[0]' must be an object"),
    ({"images": [{"href": "https://x"}]}, "'images[0].src' is missing or blank"),
])
def test_a_wrong_field_is_named(change, error):
    assert problems(trigger(**change)) == [error]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_without_a_dedup_key_is_invalid(action):
    assert problems({"routing_key": KEY, "event_action": action}) == [
        f"'dedup_key' is missing or blank (it is required to {action})"]


def test_every_problem_is_listed_at_once():
    errors = problems({"event_action": "trigger", "payload": {"summary": " ", "severity": "fatal"}})
    assert errors == ["'routing_key' is missing or blank", "'payload.summary' is missing or blank",
                      "'payload.source' is missing or blank",
                      "'payload.severity' is invalid (must be one of: critical, error, warning, info)"]
    answer = EventInvalid(errors).answer()
    assert (answer["status"], answer["message"], answer["errors"]) == (
        "invalid event", "Event object is invalid", errors)


def test_a_change_event_needs_its_key_and_a_summary():
    assert problems({"payload": {"source": "ci"}}, change=True) == [
        "'routing_key' is missing or blank", "'payload.summary' is missing or blank"]
    assert problems({"routing_key": KEY}, change=True) == ["'payload' is missing or not an object"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\"text\"", b"[" * 100_000])
def test_a_body_that_is_not_a_json_object_is_a_parse_error(body):
    with pytest.raises(EventInvalid) as caught:
        decode(body)
    assert caught.value.errors == ["JSON parse error"]
