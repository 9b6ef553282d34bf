"""Rotation: on-call lookups with handoffs layered over calendar shifts."""
from __future__ import annotations

import random
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from schedules.model import Handoff, Shift
from schedules.rotation import Rotation
from tests.schedules.helpers import utc


def shift(person: str, start, end, tier: str = "L1") -> Shift:
    return Shift(tier, person, start, end, uid=f"cal-{person}-{start:%m%d}")


ALICE = shift("alice", utc(2025, 5, 5, 7), utc(2025, 5, 12, 7))
BOB = shift("bob", utc(2025, 5, 12, 7), utc(2025, 5, 19, 7))
CAROL_L2 = shift("carol", utc(2025, 5, 5, 7), utc(2025, 5, 19, 7), tier="L2")


def people(rotation: Rotation, at, tier: str = "L1") -> list[str]:
    return [s.person for s in rotation.oncall(tier, at)]


# --- plain lookups -------------------------------------------------------------------


def test_oncall_finds_the_shift_covering_an_instant():
    rotation = Rotation.build([ALICE, BOB, CAROL_L2])
    assert rotation.oncall("L1", utc(2025, 5, 8)) == (ALICE,)
    assert rotation.oncall("L2", utc(2025, 5, 8)) == (CAROL_L2,)
    assert rotation.tiers() == ("L1", "L2")


def test_oncall_boundaries_are_start_inclusive_end_exclusive():
    rotation = Rotation.build([ALICE, BOB])
    assert people(rotation, utc(2025, 5, 12, 7) - timedelta(microseconds=1)) == ["alice"]
    assert people(rotation, utc(2025, 5, 12, 7)) == ["bob"]
    assert people(rotation, utc(2025, 5, 19, 7)) == []  # after the last shift
    assert people(rotation, utc(2025, 5, 1)) == []  # before the first
    assert rotation.oncall("L3", utc(2025, 5, 8)) == ()


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError, match="naive"):
        Rotation.build([Shift("L1", "alice", utc(2025, 5, 5).replace(tzinfo=None), utc(2025, 5, 6))])


def test_aware_non_utc_input_comes_out_in_utc():
    berlin = ZoneInfo("Europe/Berlin")
    start, end = utc(2025, 5, 5, 7).astimezone(berlin), utc(2025, 5, 6, 7).astimezone(berlin)
    local = Shift("L1", "alice", start, end)
    (found,) = Rotation.build([local]).oncall("L1", utc(2025, 5, 5, 12))
    assert found.start == utc(2025, 5, 5, 7) and found.start.tzinfo is timezone.utc


def test_lookup_in_one_segment_returns_the_stored_tuple():
    rotation = Rotation.build([ALICE, BOB])
    assert rotation.oncall("L1", utc(2025, 5, 6)) is rotation.oncall("L1", utc(2025, 5, 9))


def test_next_change():
    rotation = Rotation.build([ALICE, shift("bob", utc(2025, 5, 13), utc(2025, 5, 14))])
    assert rotation.next_change("L1", utc(2025, 5, 6)) == utc(2025, 5, 12, 7)  # alice ends
    assert rotation.next_change("L1", utc(2025, 5, 12, 12)) == utc(2025, 5, 13)  # in a gap
    assert rotation.next_change("L1", utc(2025, 5, 1)) == utc(2025, 5, 5, 7)  # before anything
    assert rotation.next_change("L1", utc(2025, 5, 14)) is None
    assert rotation.next_change("L9", utc(2025, 5, 14)) is None


# --- handoffs ------------------------------------------------------------------------


def test_handoff_from_person_replaces_only_that_person():
    pair = [ALICE, shift("dave", utc(2025, 5, 5, 7), utc(2025, 5, 12, 7))]
    handoff = Handoff(
        "h1", "L1", "bob", utc(2025, 5, 7), utc(2025, 5, 8), from_person="alice", note="dentist"
    )
    rotation = Rotation.build(pair, [handoff])
    assert people(rotation, utc(2025, 5, 7, 12)) == ["bob", "dave"]
    (covering,) = [s for s in rotation.oncall("L1", utc(2025, 5, 7, 12)) if s.person == "bob"]
    assert covering == Shift("L1", "bob", utc(2025, 5, 7), utc(2025, 5, 8), "handoff", "h1", "dentist")
    assert people(rotation, utc(2025, 5, 8)) == ["alice", "dave"]


def test_handoff_without_from_person_replaces_everyone_and_covers_gaps():
    pair = [ALICE, shift("dave", utc(2025, 5, 5, 7), utc(2025, 5, 12, 7))]
    handoff = Handoff("h2", "L1", "carol", utc(2025, 5, 11), utc(2025, 5, 13))
    rotation = Rotation.build(pair, [handoff])
    assert people(rotation, utc(2025, 5, 11, 12)) == ["carol"]
    assert people(rotation, utc(2025, 5, 12, 12)) == ["carol"]  # nobody was scheduled here
    (covering,) = rotation.oncall("L1", utc(2025, 5, 11, 12))
    assert (covering.start, covering.end) == (utc(2025, 5, 11), utc(2025, 5, 13))
    assert covering.source == "handoff"


def test_handoff_spanning_a_shift_boundary_is_clipped_to_the_replaced_shift():
    handoff = Handoff("h3", "L1", "carol", utc(2025, 5, 11), utc(2025, 5, 13), from_person="alice")
    rotation = Rotation.build([ALICE, BOB], [handoff])
    (covering,) = rotation.oncall("L1", utc(2025, 5, 11, 12))
    assert covering.person == "carol"
    assert (covering.start, covering.end) == (utc(2025, 5, 11), utc(2025, 5, 12, 7))
    assert people(rotation, utc(2025, 5, 12, 8)) == ["bob"]  # bob's week is untouched


def test_handoff_across_two_shifts_of_the_same_person_is_one_piece():
    weeks = [ALICE, shift("alice", utc(2025, 5, 12, 7), utc(2025, 5, 19, 7))]
    handoff = Handoff("h4", "L1", "bob", utc(2025, 5, 11), utc(2025, 5, 13), from_person="alice")
    (covering,) = Rotation.build(weeks, [handoff]).oncall("L1", utc(2025, 5, 12, 7))
    assert (covering.start, covering.end) == (utc(2025, 5, 11), utc(2025, 5, 13))


def test_handoff_from_someone_not_on_call_changes_nothing():
    handoff = Handoff("h5", "L1", "carol", utc(2025, 5, 7), utc(2025, 5, 8), from_person="bob")
    rotation = Rotation.build([ALICE], [handoff])
    assert rotation.oncall("L1", utc(2025, 5, 7, 12)) == (ALICE,)


def test_later_handoff_wins_and_handoffs_chain():
    first = Handoff("h6", "L1", "bob", utc(2025, 5, 6), utc(2025, 5, 9), from_person="alice")
    second = Handoff("h7", "L1", "carol", utc(2025, 5, 7), utc(2025, 5, 8), from_person="bob")
    rotation = Rotation.build([ALICE], [first, second])
    assert people(rotation, utc(2025, 5, 6, 12)) == ["bob"]
    assert [(s.person, s.uid) for s in rotation.oncall("L1", utc(2025, 5, 7, 12))] == [("carol", "h7")]
    assert people(rotation, utc(2025, 5, 8, 12)) == ["bob"]
    assert people(rotation, utc(2025, 5, 9, 12)) == ["alice"]


def test_empty_handoff_window_is_ignored():
    handoff = Handoff("h8", "L1", "carol", utc(2025, 5, 7), utc(2025, 5, 7))
    assert Rotation.build([ALICE], [handoff]).oncall("L1", utc(2025, 5, 7)) == (ALICE,)


def test_effective_shifts_split_around_a_handoff():
    handoff = Handoff("h9", "L1", "bob", utc(2025, 5, 7), utc(2025, 5, 8), from_person="alice")
    rotation = Rotation.build([ALICE, CAROL_L2], [handoff])
    effective = rotation.shifts(None, utc(2025, 5, 1), utc(2025, 6, 1))
    spans = [(s.tier, s.person, s.start, s.end, s.source) for s in effective]
    assert spans == [
        ("L1", "alice", utc(2025, 5, 5, 7), utc(2025, 5, 7), "calendar"),
        ("L2", "carol", utc(2025, 5, 5, 7), utc(2025, 5, 19, 7), "calendar"),
        ("L1", "bob", utc(2025, 5, 7), utc(2025, 5, 8), "handoff"),
        ("L1", "alice", utc(2025, 5, 8), utc(2025, 5, 12, 7), "calendar"),
    ]
    assert rotation.shifts("L1", utc(2025, 5, 7, 1), utc(2025, 5, 7, 2))[0].person == "bob"
    assert rotation.shifts("L1", utc(2025, 6, 1), utc(2025, 7, 1)) == []


def test_large_rotation_matches_a_brute_force_answer():
    rng = random.Random(7)
    start = utc(2024, 1, 1, 9)
    crew = [f"p{i}" for i in range(8)]
    week = timedelta(weeks=1)
    shifts = [shift(crew[w % 8], start + w * week, start + (w + 1) * week) for w in range(156)]
    handoffs = []
    for i in range(500):
        begin = start + timedelta(hours=rng.randrange(156 * 7 * 24))
        handoffs.append(
            Handoff(f"h{i}", "L1", rng.choice(crew), begin, begin + timedelta(hours=rng.randrange(1, 48)),
                    from_person=rng.choice([None, *crew]))
        )
    rotation = Rotation.build(shifts, handoffs)
    for _ in range(300):
        at = start + timedelta(minutes=rng.randrange(156 * 7 * 24 * 60))
        expected = {s.person for s in shifts if s.start <= at < s.end}
        for h in handoffs:
            if h.start <= at < h.end:
                if h.from_person is None:
                    expected = {h.to}
                elif h.from_person in expected:
                    expected = (expected - {h.from_person}) | {h.to}
        found = rotation.oncall("L1", at)
        assert {s.person for s in found} == expected
        assert all(s.start <= at < s.end for s in found)
