"""The handoff messages' text: pure functions of the handoff, the people and the incidents."""
from __future__ import annotations

from datetime import timedelta

from integrations.handoff_store import StoredHandoff
from routing.incident import Incident
from routing.policy import Policy, Tier
from schedules.model import Person
from service.engine.handoff_messages import incoming_text, outgoing_text, relevant_incidents
from tests.calendar_env import utc

PEOPLE = {p.id: p for p in (Person("bob", "Bob Brown"), Person("erin", "Erin Engel"))}
START = utc(2026, 3, 2, 8)
HANDOFF = StoredHandoff(id="h7", schedule="backup", tier="L2", to="erin", start=START,
                        end=START + timedelta(days=1), from_person="bob", note="db-2\nis filling\x1b[31m up")


def incident(id_: str, status: str = "triggered", severity: str = "P2", policy: str = "default") -> Incident:
    return Incident(id=id_, receiver="herald", group_key="{}", policy=policy, status=status, severity=severity,
                    title=f"Alert {id_}", created_at=START)


def test_the_incoming_text_has_the_window_the_note_on_one_line_and_the_open_incidents():
    text = incoming_text(HANDOFF, PEOPLE, [incident("12", severity="P1"), incident("9", "acknowledged")], ["bob"])
    assert text == ("Handoff from Bob Brown: you are on call for backup L2 from 2026-03-02 08:00 UTC to "
                    "2026-03-03 08:00 UTC. Note: db-2 is filling [31m up Open incidents (2): "
                    "#12 triggered P1 Alert 12; #9 acknowledged P2 Alert 9")


def test_without_a_note_or_incidents_and_with_many_incidents():
    quiet = StoredHandoff(id="h8", schedule="backup", tier="L2", to="erin", start=START, end=START + timedelta(hours=1))
    assert incoming_text(quiet, PEOPLE, []).endswith("to 2026-03-02 09:00 UTC. No open incidents.")
    assert incoming_text(quiet, PEOPLE, []).startswith("Handoff from the rotation:")
    many = incoming_text(quiet, PEOPLE, [incident(str(i)) for i in range(13)])
    assert "Open incidents (13):" in many and many.endswith("#9 triggered P2 Alert 9; and 3 more")


def test_the_outgoing_confirmation():
    assert outgoing_text(HANDOFF, PEOPLE) == ("Handoff confirmed: Erin Engel is on call for backup L2 instead of "
                                              "you from 2026-03-02 08:00 UTC to 2026-03-03 08:00 UTC.")


def test_only_open_incidents_of_policies_that_page_the_schedule_most_severe_first():
    policies = {"default": Policy("default", (Tier("L2", schedule="backup", schedule_tier="L2"),)),
                "other": Policy("other", (Tier("L1", people=("bob",)),))}
    found = relevant_incidents([incident("1", severity="P3"), incident("2", "resolved"), incident("3", policy="other"),
                                incident("4", severity="P1")], policies, "backup")
    assert [i.id for i in found] == ["4", "1"]
