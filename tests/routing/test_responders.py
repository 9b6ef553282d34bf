"""Who may act on an incident by SMS reply or keypress (routing/responders.py): the
pure rule, table-tested on incidents built by ``decide`` and its page outcomes."""
from datetime import datetime, timedelta, timezone

import pytest

from routing.decide import decide
from routing.incident import AlertsReceived, AlertState, DeliveryFailed, PageOutcome
from routing.policy import Policy, Tier
from routing.responders import involvement, was_paged

NOW = datetime.now(timezone.utc)
POLICY = Policy("default", (
    Tier("L1", schedule="primary", channels={"P1": ("sms",)}),
    Tier("L2", schedule="backup", channels={"P1": ("sms",)}),
    Tier("executive", people=("dave",), channels={"P1": ("sms",)}),
), responders=("rita",))
ROSTER = {"L1": ("alice",), "L2": ("bob",), "executive": ("dave",)}


def opened(roster=ROSTER):
    """An incident whose L1 page to alice is decided, not sent yet."""
    alert = AlertState(fingerprint="fp1", status="firing", labels={"alertname": "DiskFull"},
                       starts_at=NOW - timedelta(minutes=1))
    d = decide(None, AlertsReceived(new_id="3", receiver="herald", group_key="{}:{}", severity="P1",
                                    title="DiskFull db1", alerts=[alert]), POLICY, roster, NOW)
    assert d.incident is not None and [(p.person, p.state) for p in d.incident.pages] == [("alice", "pending")]
    return d.incident


def sent_to_alice():
    d = decide(opened(), PageOutcome(round=1, person="alice", channel="sms", outcome="sent", provider_id="SM1"),
               POLICY, ROSTER, NOW)
    return d.incident


def standing(incident, person, policy=POLICY, roster=ROSTER):
    return involvement(incident, person, policy, roster).standing


@pytest.mark.parametrize("person,expected", [
    ("alice", "paged"),          # the page to her left Herald
    ("bob", "on_call"),          # L2 now, not paged (yet)
    ("dave", "on_call"),         # a tier of fixed people: always on it
    ("rita", "responder"),       # named in the policy's responders
    ("mallory", "not_involved"),  # in the config, nothing to do with this incident
])
def test_who_may_act(person, expected):
    result = involvement(sent_to_alice(), person, POLICY, ROSTER)
    assert (result.person, result.incident_id, result.standing) == (person, "3", expected)
    assert result.allowed is (expected != "not_involved")


def test_a_paged_person_still_may_act_after_their_shift_ended_or_the_page_bounced():
    incident = sent_to_alice()
    assert standing(incident, "alice", roster={"L1": ("carol",), "L2": ("bob",)}) == "paged"
    bounced = decide(incident, DeliveryFailed(round=1, person="alice", channel="sms", detail="sms undelivered"),
                     POLICY, ROSTER, NOW).incident
    assert [p.state for p in bounced.pages if p.person == "alice" and p.channel == "sms"] == ["failed"]
    assert was_paged(bounced, "alice") and standing(bounced, "alice", roster={}) == "paged"
    # The policy left the configuration: the send log still speaks for who was paged.
    assert standing(incident, "alice", policy=None, roster={}) == "paged"


def test_a_page_only_decided_is_not_a_page_and_a_removed_policy_leaves_only_the_send_log():
    incident = opened()
    assert not was_paged(incident, "alice")
    assert standing(incident, "alice") == "on_call"  # she is on call, so she may act anyway ...
    assert standing(incident, "alice", roster={"L1": ("carol",)}) == "not_involved"  # ... but not otherwise
    assert standing(incident, "rita", policy=None, roster={}) == "not_involved"
    assert standing(incident, "bob", policy=None, roster=ROSTER) == "not_involved"


def test_the_roster_is_the_policys_own_tiers_only():
    """Being on call for a tier of some other policy gives no say over this incident."""
    assert standing(sent_to_alice(), "mallory", roster={**ROSTER, "other-policy-L1": ("mallory",)}) == "not_involved"
