"""Opsgenie's create, close and acknowledge bodies read into SourceEvents (pure, table-tested)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from routing.errors import Invalid
from routing.integration import MAX_DEDUP_KEY, Integration, event_group
from routing.opsgenie_alerts import (dedup_key_of, identifier, identifier_type, parse_action, parse_create,
                                     tag_labels)
from routing.routes import Route

OG = Integration(name="tools", kind="opsgenie")
NEW = "new-alias-of-this-request"


def create(body, integration=OG):
    return parse_create(body, integration, new_alias=NEW)


@pytest.mark.parametrize("body, field, expected", [
    ({"message": "Disk full"}, "summary", "Disk full"),
    ({"message": "  Disk full  "}, "summary", "Disk full"),
    ({"message": "x" * 200}, "summary", "x" * 130),  # cut to Opsgenie's 130, never refused
    ({"message": "m"}, "dedup_key", NEW),  # no alias: a new alert per request
    ({"message": "m", "alias": "db1/disk"}, "dedup_key", "db1/disk"),
    ({"message": "m", "alias": "a" * 255}, "dedup_key", "a" * 255),
    ({"message": "m"}, "severity", "P3"),  # Opsgenie's default priority
    ({"message": "m", "priority": "P1"}, "severity", "P1"),
    ({"message": "m", "priority": "P2"}, "severity", "P2"),
    ({"message": "m", "priority": "P5"}, "severity", "P3"),
    ({"message": "m", "source": "nagios"}, "source", "nagios"),
])
def test_create_fields(body, field, expected):
    assert getattr(create(body).event, field) == expected
    assert create(body).event.action == "trigger"


def test_priority_goes_through_the_integrations_own_map():
    mapped = Integration(name="tools", kind="opsgenie", severity={"p4": "P1"})
    assert create({"message": "m", "priority": "P4"}, mapped).event.severity == "P1"
    assert create({"message": "m", "priority": "P5"}, mapped).event.severity == "P3"


def test_a_long_alias_is_hashed_the_same_way_every_time():
    alias = "host=db1;" + "x" * 400
    key = create({"message": "m", "alias": alias}).event.dedup_key
    assert len(key) <= MAX_DEDUP_KEY and key == dedup_key_of(alias)
    assert key == alias[:180] + "~" + hashlib.sha256(alias.encode()).hexdigest()
    assert dedup_key_of(alias + "y") != key  # another alias, another incident
    assert create({"message": "m", "alias": alias}).alias == alias  # the request status answers it as sent


def test_tags_entity_source_and_priority_become_labels():
    event = create({"message": "m", "tags": ["team:db", "critical", "bad key:x", "env: prod"],
                    "entity": "db1", "source": "nagios", "priority": "P2"}).event
    assert dict(event.labels) == {"team": "db", "env": "prod", "tags": "team:db,critical,bad key:x,env: prod",
                                  "entity": "db1", "source": "nagios", "opsgenie_priority": "P2"}


@pytest.mark.parametrize("tags, labels", [
    ([], {}),
    (["a"], {"tags": "a"}),
    (["team:"], {"tags": "team:"}),  # no value: no label of its own
    (["1x:y"], {"tags": "1x:y"}),  # not a label name
    (["url:http://x:1"], {"url": "http://x:1", "tags": "url:http://x:1"}),  # the first ':' splits
])
def test_tag_labels(tags, labels):
    assert tag_labels(tags) == labels


def test_details_description_actions_user_note_are_kept_with_the_alert():
    event = create({"message": "m", "alias": "k", "description": "d" * 16000, "actions": ["Restart", "Ping"],
                    "details": {"host": "db1", "count": 3, "ok": True, "summary": "theirs"},
                    "user": "ops-bot", "note": "from cron", "responders": [{"type": "team", "name": "x"}],
                    "visibleTo": []}).event
    assert event.details == {"host": "db1", "count": "3", "ok": "true", "details.summary": "theirs",
                             "description": "d" * 15000, "actions": "Restart, Ping", "user": "ops-bot",
                             "note": "from cron", "alias": "k", "priority": "P3"}
    group = event_group(OG, event, Route(policy="default"), datetime.now(timezone.utc))
    [alert] = group.alerts
    assert alert.annotations["summary"] == "m" and alert.annotations["details.summary"] == "theirs"
    assert group.receiver == "opsgenie:tools" and group.group_key == "k"


@pytest.mark.parametrize("body, message", [
    ({}, "message: is required"),
    (None, "message: is required"),
    ({"message": "   "}, "message: must be a non-empty string"),
    ({"message": 5}, "message: must be a non-empty string"),
    ([{"message": "m"}], "body: must be a JSON object, not list"),
    ({"message": "m", "alias": "a" * 513}, "alias: at most 512 characters, got 513"),
    ({"message": "m", "alias": 7}, "alias: must be a string, not int"),
    ({"message": "m", "priority": "P0"}, "priority: must be one of P1, P2, P3, P4, P5, not 'P0'"),
    ({"message": "m", "priority": "high"}, "priority: must be one of"),
    ({"message": "m", "tags": "a,b"}, "tags: must be a list of strings, not str"),
    ({"message": "m", "tags": ["t"] * 21}, "tags: at most 20 items, got 21"),
    ({"message": "m", "tags": ["t" * 51]}, "tags[0]: at most 50 characters, got 51"),
    ({"message": "m", "tags": ["ok", 3]}, "tags[1]: must be a non-empty string"),
    ({"message": "m", "actions": ["a"] * 11}, "actions: at most 10 items"),
    ({"message": "m", "details": ["x"]}, "details: must be a map of strings, not list"),
    ({"message": "m", "details": {"nested": {"a": 1}}}, "details.nested: must be a string, not dict"),
    ({"message": "m", "details": {"big": "x" * 8000}}, "details: at most 8000 characters"),
    ({"message": "m", "entity": "e" * 513}, "entity: at most 512 characters"),
    ({"message": "m", "source": "s" * 101}, "source: at most 100 characters"),
    ({"message": "m", "responders": "team-a"}, "responders: must be a list, not str"),
])
def test_a_wrong_create_names_the_field(body, message):
    with pytest.raises(Invalid) as caught:
        create(body)
    assert message in caught.value.message


@pytest.mark.parametrize("action, body, expected", [
    ("close", {"user": "ann", "note": "fixed", "source": "cli"}, ("resolve", {"user": "ann", "note": "fixed"}, "cli")),
    ("acknowledge", None, ("acknowledge", {}, "")),
    ("acknowledge", {"note": "looking"}, ("acknowledge", {"note": "looking"}, "")),
])
def test_close_and_acknowledge_bodies(action, body, expected):
    event = parse_action(body, action, "db1/disk")
    assert (event.action, dict(event.details), event.source) == expected and event.dedup_key == "db1/disk"


@pytest.mark.parametrize("body, message", [
    ({"user": 5}, "user: must be a string, not int"),
    ({"note": "n" * 25001}, "note: at most 25000 characters"),
    ("close it", "body: must be a JSON object, not str"),
])
def test_a_wrong_close_body_names_the_field(body, message):
    with pytest.raises(Invalid, match=message):
        parse_action(body, "close", "k")


@pytest.mark.parametrize("value, expected", [(None, "id"), ("", "id"), ("alias", "alias"), ("id", "id"),
                                             ("tiny", "tiny")])
def test_identifier_type(value, expected):
    assert identifier_type(value) == expected


def test_identifier_checks():
    with pytest.raises(Invalid, match="identifierType: must be one of id, alias, tiny, not 'name'"):
        identifier_type("name")
    with pytest.raises(Invalid, match="identifier: an alias is at most 512"):
        identifier("a" * 513, "alias")
    with pytest.raises(Invalid, match="identifier: must not be empty"):
        identifier(" ", "id")
    assert identifier("a" * 512, "alias") == "a" * 512
