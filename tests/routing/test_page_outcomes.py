from datetime import timedelta

from routing.decide import decide
from routing.incident import Acknowledge, DeliverAt, DeliverPages, DeliveryFailed, PageOutcome
from routing.page_outcomes import MAX_ATTEMPTS, backoff
from tests.routing.test_decide import POLICY, ROSTER, T0, opened


def outcome(incident, outcome, channel="sms", **kw):
    return decide(incident, PageOutcome(round=1, person="alice", channel=channel, outcome=outcome, **kw),
                  POLICY, ROSTER, T0 + timedelta(seconds=1))


def test_transient_failure_backs_off_and_stays_pending():
    d = outcome(opened().incident, "retry", detail="twilio: HTTP 503")
    page = next(p for p in d.incident.pages if p.channel == "sms")
    assert page.state == "pending" and page.attempts == 1
    assert page.at == T0 + timedelta(seconds=1) + backoff(1)
    assert d.effects == [DeliverAt(incident_id="1", at=page.at)]
    assert d.incident.timeline[-1].kind == "page_retry"


def test_backoff_is_exponential_and_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(50).total_seconds() == 300


def test_too_many_retries_fail_over_to_the_next_channel():
    inc = opened().incident
    for _ in range(MAX_ATTEMPTS):
        inc = outcome(inc, "retry").incident
    sms = next(p for p in inc.pages if p.channel == "sms")
    assert sms.state == "failed" and sms.attempts == MAX_ATTEMPTS
    # P1 already pages voice and sms: email is the next channel not yet tried
    assert [(p.channel, p.fallback_from) for p in inc.pages if p.fallback_from] == [("email", "sms")]


def test_permanent_failure_moves_on_at_once():
    d = outcome(opened().incident, "failed", detail="twilio: HTTP 400 code 21211")
    assert [p.channel for p in d.incident.pages if p.state == "pending"] == ["voice", "email"]
    assert DeliverPages(incident_id="1") in d.effects
    assert [e.kind for e in d.incident.timeline[-2:]] == ["page_failed", "channel_fallback"]


def test_undelivered_after_sent_falls_back_and_no_channel_left_is_reported():
    inc = outcome(opened().incident, "sent", provider_id="SM1").incident
    inc = decide(inc, DeliveryFailed(round=1, person="alice", channel="sms", detail="undelivered"),
                 POLICY, ROSTER, T0).incident
    assert inc.pages[-1].channel == "email" and inc.timeline[-1].kind == "channel_fallback"
    for channel in ("voice", "email"):
        inc = outcome(inc, "failed", channel=channel).incident
    assert inc.timeline[-1].kind == "no_channel_left"
    again = decide(inc, DeliveryFailed(round=1, person="alice", channel="sms"), POLICY, ROSTER, T0)
    assert not again.changed


def test_deferred_page_waits_for_the_rate_limit_window():
    until = T0 + timedelta(seconds=45)
    d = outcome(opened().incident, "deferred", until=until)
    page = next(p for p in d.incident.pages if p.channel == "sms")
    assert page.state == "pending" and page.attempts == 0 and page.at == until
    assert d.incident.due_at() == T0  # the voice page is still due now


def test_no_fallback_once_acknowledged():
    inc = outcome(opened().incident, "sent", provider_id="SM1").incident
    inc = decide(inc, Acknowledge(by="alice", via="sms"), POLICY, ROSTER, T0).incident
    d = decide(inc, DeliveryFailed(round=1, person="alice", channel="sms"), POLICY, ROSTER, T0)
    assert all(p.channel != "email" for p in d.incident.pages)


def test_outcome_for_unknown_page_changes_nothing():
    d = decide(opened().incident, PageOutcome(round=9, person="zed", channel="sms", outcome="sent"),
               POLICY, ROSTER, T0)
    assert not d.changed


def test_a_send_claimed_before_the_ack_is_still_on_the_timeline():
    inc = decide(opened().incident, Acknowledge(by="alice", via="link"), POLICY, ROSTER, T0).incident
    d = outcome(inc, "sent", provider_id="SM1")
    assert d.changed and d.incident.timeline[-1].kind == "page"
    assert d.incident.timeline[-1].details["after_stop"] is True and d.effects == []
    assert not outcome(inc, "failed").changed  # but a failure of a cancelled page moves nothing on
