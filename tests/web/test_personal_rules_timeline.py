"""The console's timeline says whose pages followed their own rules, and how."""
from __future__ import annotations

from datetime import datetime, timezone

from routing.incident import TimelineEntry
from schedules.model import Person
from service.web.incident_view import describe

PEOPLE = {"alice": Person(id="alice", name="Alice Adams"), "bob": Person(id="bob", name="Bob Brown")}
NOW = datetime.now(timezone.utc)


def test_a_paging_entry_names_each_persons_own_steps():
    entry = TimelineEntry(at=NOW, kind="paging", details={
        "tier": "L1", "round": 1, "people": ["alice", "bob"], "channels": ["sms"],
        "personal_rules": {"alice": [{"channel": "voice", "delay_minutes": 0},
                                     {"channel": "email", "delay_minutes": 5}]}})
    assert describe(entry, PEOPLE).text == ("Paging L1: Alice Adams, Bob Brown by sms; Alice Adams by their own "
                                            "rules: voice now, email after 5 min")


def test_without_personal_rules_the_entry_reads_as_before():
    entry = TimelineEntry(at=NOW, kind="escalated", details={"tier": "L2", "round": 2, "people": ["bob"],
                                                               "channels": ["voice", "sms"]})
    assert describe(entry, PEOPLE).text == "Escalated to L2 (round 2): Bob Brown by voice, sms"


def test_a_step_without_a_delay_or_an_unknown_person_still_reads():
    entry = TimelineEntry(at=NOW, kind="escalated", details={
        "tier": "L2", "round": 2, "people": ["zed"], "channels": ["sms"],
        "personal_rules": {"zed": [{"channel": "sms"}]}})
    assert describe(entry, PEOPLE).text.endswith("; zed by their own rules: sms now")
