from datetime import datetime, timedelta, timezone

from routing.incident import AlertsReceived, AlertState, Hold
from routing.policy import Policy, SeverityRule, Tier
from routing.dry_run import plan

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
POLICY = Policy("default", (Tier("L1", schedule="primary"), Tier("L2", schedule="backup"),
                            Tier("exec", people=("dave",))),
                rules={"P1": SeverityRule(repeat=1)})


def cmd(severity="P1"):
    return AlertsReceived(new_id="x", receiver="r", group_key="g", severity=severity, title="t",
                          alerts=[AlertState(fingerprint="f", status="firing", starts_at=T0)])


def roster_at(t):
    # the L1 shift changes hands 7 minutes in: the plan must ask at each step's own time
    return {"L1": ("alice",) if t < T0 + timedelta(minutes=7) else ("carol",), "L2": ("bob",), "exec": ("dave",)}


def test_plan_walks_every_step_with_the_people_on_call_at_that_time():
    result = plan(cmd(), POLICY, T0, roster_at, lambda t: None)
    assert [(s.at - T0, s.tier, s.people) for s in result.steps] == [
        (timedelta(0), "L1", ["alice"]), (timedelta(minutes=5), "L2", ["bob"]),
        (timedelta(minutes=10), "exec", ["dave"]), (timedelta(minutes=15), "L1", ["carol"]),
        (timedelta(minutes=20), "L2", ["bob"]), (timedelta(minutes=25), "exec", ["dave"])]
    assert result.steps[0].channels == ["voice", "sms"]
    assert [e["kind"] for e in result.events] == ["repeat"] and not result.truncated


def test_plan_shows_a_maintenance_hold_and_pages_when_it_ends():
    until = T0 + timedelta(minutes=30)
    result = plan(cmd(), POLICY, T0, roster_at, lambda t: Hold(reason="maintenance: x", until=until) if t < until else None)
    assert result.events[0]["kind"] == "held" and result.steps[0].at == until
    assert result.steps[0].people == ["carol"]


def test_plan_with_a_gap_falls_through_and_is_cut_when_endless():
    gap = lambda t: {"L1": (), "L2": (), "exec": ()}  # noqa: E731 - nobody at all: retried forever
    result = plan(cmd(), POLICY, T0, gap, lambda t: None, max_steps=5)
    assert result.steps == [] and result.truncated
    assert {e["kind"] for e in result.events} == {"coverage_gap", "nobody_on_call"}
