"""Drill results and the SLA report, table-driven from hand-built incident timelines."""
from datetime import datetime, timedelta, timezone

import pytest

from routing.decide import decide
from routing.incident import Acknowledge, AlertsReceived, AlertState, Escalate, Incident, PageOutcome, Resolve
from routing.policy import Policy, Tier
from routing.reports import collect, drill_result, facts, parse_range, sla_for, sla_report, sla_rows

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = 60
POLICY = Policy("default", (Tier("L1", schedule="primary"), Tier("L2", schedule="backup"),
                            Tier("engineering", people=("erin",))))
FAST = Policy("fast", (Tier("L1", people=("alice",), escalate_after={"P0": timedelta(minutes=2)}),
                       Tier("L2", people=("bob",))))
POLICIES = {"default": POLICY, "fast": FAST}


def inc(events=(), severity="P1", policy="default", created=T0, drill=False, id_="1") -> Incident:
    """An incident whose timeline is ``events``: (seconds after created, kind, details)."""
    incident = Incident(id=id_, receiver="r", group_key="g" + id_, policy=policy, severity=severity, title="t",
                        created_at=created, drill=drill)
    incident.note(created, "triggered")
    for seconds, kind, details in events:
        at = created + timedelta(seconds=seconds)
        incident.note(at, kind, **details)
        if kind == "acknowledged" and incident.acknowledged_at is None:
            incident.status, incident.acknowledged_at = "acknowledged", at
        if kind == "resolved":
            incident.status, incident.resolved_at = "resolved", at
    return incident


def paging(seconds=0, tier="L1", round_=1, people=("alice",)):
    return (seconds, "paging" if round_ == 1 else "escalated", {"tier": tier, "round": round_, "people": list(people)})


def ack(seconds, by="alice"):
    return (seconds, "acknowledged", {"by": by, "via": "sms"})


def resolved(seconds):
    return (seconds, "resolved", {"by": "alertmanager", "via": "alertmanager"})


@pytest.mark.parametrize("policy,severity,expected", [
    (POLICY, "P0", 5 * M), (POLICY, "P1", 5 * M), (POLICY, "P2", 15 * M), (POLICY, "P3", 60 * M),
    (FAST, "P0", 2 * M), (FAST, "P1", 5 * M), (None, "P2", 15 * M), (None, "P0", 5 * M),
])
def test_sla_is_the_first_tier_window(policy, severity, expected):
    assert sla_for(policy, severity) == timedelta(seconds=expected)


@pytest.mark.parametrize("name,incident,now_after,met", [
    ("acked inside the window", inc([paging(), ack(2 * M)]), 60 * M, True),
    ("acked on the dot", inc([paging(), ack(5 * M)]), 60 * M, True),
    ("acked late", inc([paging(), ack(6 * M)]), 60 * M, False),
    ("never acked, resolved inside the window: not counted", inc([paging(), resolved(2 * M)]), 60 * M, None),
    ("never acked, resolved after the window", inc([paging(), resolved(10 * M)]), 60 * M, False),
    ("open, still inside the window: not yet", inc([paging()]), 3 * M, None),
    ("open, past the window", inc([paging()]), 6 * M, False),
    ("never paged (held all along)", inc([(0, "held", {})]), 600 * M, None),
    ("held, then paged and acked in time", inc([(0, "held", {}), paging(60 * M), ack(62 * M)]), 600 * M, True),
    ("P3 acked inside its hour", inc([paging(), ack(59 * M)], severity="P3"), 600 * M, True),
    ("P0 on a 2-minute first tier, acked at 3 min", inc([paging(), ack(3 * M)], "P0", "fast"), 600 * M, False),
    ("a snooze counts as the acknowledgement", inc([paging(), (M, "snoozed", {"by": "alice"})]), 600 * M, True),
])
def test_sla_met(name, incident, now_after, met):
    f = facts(incident, POLICIES[incident.policy], T0 + timedelta(seconds=now_after))
    assert f.met is met, name


def test_the_first_acknowledgement_counts_after_a_retrigger():
    incident = inc([paging(), ack(2 * M), (32 * M, "retriggered", {}), ack(40 * M, by="bob")])
    f = facts(incident, POLICY, T0 + timedelta(hours=1))
    assert f.acknowledged == T0 + timedelta(minutes=2) and f.acknowledged_by == "alice" and f.met is True


def test_report_with_no_incidents():
    report = sla_report([], T0, T0 + timedelta(days=1))
    assert report["incidents"]["total"] == {
        "incidents": 0, "acknowledged": 0, "resolved": 0, "mtta_seconds": None, "mttr_seconds": None,
        "sla_counted": 0, "acknowledged_within_sla": 0, "share_within_sla": None, "escalations_per_tier": {}}
    assert report["incidents"]["by_severity"] == {} and report["drills"]["by_policy"] == {}
    assert sla_rows([]) == []


def _sample():
    return [
        inc([paging(), ack(2 * M), resolved(10 * M)], id_="1"),
        inc([paging(), paging(5 * M, "L2", 2, ["bob"]), ack(7 * M, "bob"), resolved(30 * M)], id_="2"),
        inc([paging(), paging(5 * M, "L2", 2, ["bob"]), paging(10 * M, "engineering", 3, ["erin"])], id_="3"),
        inc([paging(), ack(4 * M)], severity="P2", policy="fast", id_="4"),
        inc([paging(), ack(9 * M), resolved(20 * M)], drill=True, id_="5"),  # a drill: reported apart
        inc([paging(), ack(1)], created=T0 - timedelta(seconds=1), id_="6"),  # before the range
        inc([paging(), ack(1)], created=T0 + timedelta(days=1), id_="7"),  # at its end: excluded
    ]


def test_report_per_severity_and_policy_keeps_drills_apart():
    start, end = T0, T0 + timedelta(days=1)
    items = collect(_sample(), start, end, POLICIES, T0 + timedelta(hours=2))
    report = sla_report(items, start, end)
    real, drills = report["incidents"], report["drills"]
    assert real["total"]["incidents"] == 4 and drills["total"]["incidents"] == 1
    p1 = real["by_severity"]["P1"]
    assert p1["incidents"] == 3 and p1["acknowledged"] == 2 and p1["resolved"] == 2
    assert p1["mtta_seconds"] == (2 * M + 7 * M) / 2  # the never-acknowledged one is left out
    assert p1["mttr_seconds"] == (10 * M + 30 * M) / 2
    assert (p1["sla_counted"], p1["acknowledged_within_sla"], p1["share_within_sla"]) == (3, 1, 0.3333)
    assert p1["escalations_per_tier"] == {"L1": 3, "L2": 2, "engineering": 1}
    assert real["by_policy"]["fast"]["share_within_sla"] == 1.0 and set(real["by_policy"]) == {"default", "fast"}
    assert drills["by_severity"]["P1"]["mtta_seconds"] == 9 * M and drills["total"]["share_within_sla"] == 0.0
    assert report["from"] == "2026-03-02T09:00:00+00:00"


def test_csv_rows_one_per_kind_severity_policy():
    items = collect(_sample(), T0, T0 + timedelta(days=1), POLICIES, T0 + timedelta(hours=2))
    rows = sla_rows(items)
    assert [r[:4] for r in rows] == [("drill", "P1", "default", 1), ("incident", "P1", "default", 3),
                                     ("incident", "P2", "fast", 1)]
    assert rows[1][-1] == "L1=3;L2=2;engineering=1" and rows[2][6] == 4 * M


NOW = datetime.now(UTC)  # the defaults are relative to now: any day will do
MONTH = timedelta(days=30)


D0 = (NOW - timedelta(days=400)).replace(hour=0, minute=0, second=0, microsecond=0)  # a past midnight
DAY = D0.date().isoformat()


@pytest.mark.parametrize("start,end,expected", [
    (D0.isoformat(), (D0 + MONTH).isoformat(), (D0, D0 + MONTH)),
    (DAY, (D0 + timedelta(days=1)).date().isoformat(), (D0, D0 + timedelta(days=1))),
    (f"{DAY}T02:00:00+02:00", f"{DAY}T01:00:00Z", (D0, D0 + timedelta(hours=1))),
    (D0.isoformat(), (D0 + timedelta(days=366)).isoformat(), (D0, D0 + timedelta(days=366))),
])
def test_parse_range(start, end, expected):
    assert parse_range(start, end, NOW) == expected


def test_parse_range_defaults_to_the_last_30_days():
    assert parse_range(None, None, NOW) == (NOW - MONTH, NOW)
    assert parse_range("", " ", NOW) == (NOW - MONTH, NOW)


def test_parse_range_derives_the_missing_end():
    long_ago, lately = NOW - timedelta(days=90), NOW - timedelta(days=10)
    assert parse_range(long_ago.isoformat(), None, NOW) == (long_ago, long_ago + MONTH)
    assert parse_range(lately.isoformat(), None, NOW) == (lately, NOW)  # never past now
    assert parse_range(None, lately.isoformat(), NOW) == (lately - MONTH, lately)
    future = NOW + timedelta(days=3)
    assert parse_range(None, future.isoformat(), NOW) == (future - MONTH, future)


@pytest.mark.parametrize("start,end,message", [
    ("yesterday", DAY, "from: not an ISO 8601 time: 'yesterday'"),
    (DAY, f"{D0.year}-13-01", f"to: not an ISO 8601 time: '{D0.year}-13-01'"),
    ((D0 + timedelta(days=1)).date().isoformat(), DAY, "to: must be after from"),
    (D0.isoformat(), D0.isoformat(), "to: must be after from"),
    (D0.isoformat(), (D0 + timedelta(days=366, seconds=1)).isoformat(), "to: at most 366 days after from"),
    ((NOW + timedelta(hours=1)).isoformat(), None, "from: is not before now; give to as well"),
], ids=["bad-from", "bad-to", "to-before-from", "empty", "over-366-days", "future-from-alone"])
def test_parse_range_refuses(start, end, message):
    with pytest.raises(ValueError) as refused:
        parse_range(start, end, NOW)
    assert str(refused.value).startswith(message), refused.value


def test_drill_result_p1_escalated_then_acked_by_l2():
    incident = inc([paging(), (20, "page", {"tier": "L1", "person": "alice"}), paging(5 * M, "L2", 2, ["bob"]),
                    ack(7 * M, "bob"), resolved(30 * M)], drill=True)
    result = drill_result(incident, POLICY, T0 + timedelta(hours=1))
    assert (result["time_to_first_page_seconds"], result["time_to_acknowledge_seconds"],
            result["time_to_resolve_seconds"]) == (20, 7 * M, 30 * M)
    assert result["acknowledged_by"] == "bob" and result["acknowledged_tier"] == "L2"
    assert result["sla"] == {"acknowledge_within_seconds": 300.0, "met": False}
    assert [(t["tier"], t["outcome"], t["after_seconds"], t["within_window"]) for t in result["tiers"]] == [
        ("L1", "escalated", 5 * M, False), ("L2", "acknowledged", 2 * M, True)]


def test_drill_result_p0_pages_two_tiers_at_once_and_one_acks():
    incident = inc([paging(0, "L1"), paging(0, "L2", people=["bob"]), ack(4 * M, "bob")], severity="P0", drill=True)
    result = drill_result(incident, POLICY, T0 + timedelta(hours=1))
    assert result["acknowledged_tier"] == "L2" and result["sla"]["met"] is True
    assert [(t["tier"], t["outcome"]) for t in result["tiers"]] == [("L1", "acknowledged by another tier"),
                                                                   ("L2", "acknowledged")]


def test_drill_result_still_waiting_and_api_ack():
    waiting = drill_result(inc([paging()], drill=True), POLICY, T0 + timedelta(minutes=1))
    assert waiting["sla"]["met"] is None and waiting["tiers"][0]["outcome"] == "waiting"
    assert waiting["time_to_acknowledge_seconds"] is None and waiting["time_to_first_page_seconds"] is None
    by_api = drill_result(inc([paging(), ack(M, "api")], drill=True), POLICY, T0 + timedelta(hours=1))
    assert by_api["acknowledged_tier"] == "L1" and by_api["tiers"][0]["within_window"] is True


def test_drill_result_from_the_real_decision_chain():
    """The timeline kinds the report reads are the ones ``decide`` writes."""
    roster = {"L1": ("alice",), "L2": ("bob",), "engineering": ("erin",)}
    cmd = AlertsReceived(new_id="9", receiver="herald", group_key="drill:x", severity="P1", title="drill", drill=True,
                         alerts=[AlertState(fingerprint="f", status="firing", starts_at=T0)])
    incident = decide(None, cmd, POLICY, roster, T0).incident
    steps = [(10, PageOutcome(round=1, person="alice", channel="sms", outcome="sent")),
             (310, Escalate(round=1)), (400, Acknowledge(by="bob", via="sms")), (900, Resolve(by="bob", via="api"))]
    for seconds, command in steps:
        incident = decide(incident, command, POLICY, roster, T0 + timedelta(seconds=seconds)).incident
    result = drill_result(incident, POLICY, T0 + timedelta(hours=1))
    assert result["drill"] is True and result["time_to_first_page_seconds"] == 10
    assert (result["acknowledged_tier"], result["time_to_acknowledge_seconds"], result["time_to_resolve_seconds"]) \
        == ("L2", 400, 900)
    assert [(t["tier"], t["outcome"]) for t in result["tiers"]] == [("L1", "escalated"), ("L2", "acknowledged")]
    assert result["sla"]["met"] is False


def test_totals_kept_for_a_purged_month_report_what_the_incidents_did():
    """What the retention purge adds to a month's totals (``archive_fields``), read back
    (``parse_archive``), reports what the incidents themselves did — per kind, severity
    and policy, means included, CSV rows too."""
    from routing.reports import archive_fields, parse_archive

    start, end, now = T0, T0 + timedelta(days=1), T0 + timedelta(hours=2)
    items = collect(_sample(), start, end, POLICIES, now)
    fields: dict[str, int] = {}
    for f in items:
        for name, amount in archive_fields(f):
            fields[name] = fields.get(name, 0) + amount
    archived = parse_archive([{k: str(v) for k, v in fields.items()}])
    live, kept = sla_report(items, start, end), sla_report([], start, end, archived)
    assert kept["incidents"] == live["incidents"] and kept["drills"] == live["drills"]
    assert sla_rows([], archived) == sla_rows(items)
    half = collect(_sample()[:2], start, end, POLICIES, now)
    rest = parse_archive([{k: str(v) for f in items[2:] for k, v in archive_fields(f)}])
    mixed = sla_report(half, start, end, rest)  # some incidents still stored, the others purged
    assert mixed["incidents"] == live["incidents"] and mixed["drills"] == live["drills"]


def test_an_archive_field_that_is_not_herald_s_is_skipped():
    from routing.reports import archive_fields, parse_archive

    [f] = collect([inc([paging(), ack(2 * M)])], T0, T0 + timedelta(days=1), POLICIES, T0 + timedelta(hours=1))
    fields = {k: str(v) for k, v in archive_fields(f)}
    archived = parse_archive([{**fields, "garbage": "1", "incident\x1fP1\x1fdefault\x1fsomething": "3",
                                          "incident\x1fP1\x1fdefault\x1fesc:L9": "x"}])
    total = sla_report([], T0, T0 + timedelta(days=1), archived)["incidents"]["total"]
    assert total == sla_report([f], T0, T0 + timedelta(days=1))["incidents"]["total"]
