"""Real-world calendar exports: Google, Outlook, a DST-crossing rotation, all-day shifts."""
from __future__ import annotations

from datetime import timezone

import pytest

from schedules.calendar import CalendarOptions, parse_calendar
from schedules.rotation import Rotation
from tests.schedules.helpers import PEOPLE, fixture_bytes, parse_fixture, utc, who

OUTLOOK = CalendarOptions(tier_markers={"[L2]": "L2"})


# --- Google Calendar: UTC times + X-WR-TIMEZONE ------------------------------------


def test_google_rotation_follows_x_wr_timezone_across_dst():
    parsed = parse_fixture("google_x_wr_timezone.ics")
    rotation = Rotation.build(parsed.shifts)
    # Before DST (CET): the Monday 09:00 Berlin handoff is 08:00 UTC.
    assert [s.person for s in rotation.oncall("L1", utc(2025, 3, 24, 7, 59))] == ["bob"]
    assert [s.person for s in rotation.oncall("L1", utc(2025, 3, 24, 8, 0))] == ["alice"]
    # After DST (CEST) the same 09:00 local handoff is 07:00 UTC, not 08:00.
    assert [s.person for s in rotation.oncall("L1", utc(2025, 4, 7, 7, 30))] == ["alice"]
    assert rotation.next_change("L1", utc(2025, 4, 7, 7, 30)) == utc(2025, 4, 14, 7)


def test_google_attendee_email_matches_case_insensitively_through_folded_cn():
    parsed = parse_fixture("google_x_wr_timezone.ics")
    # ATTENDEE ...:mailto:Alice@Example.com, folded in the middle of CN=Alice Adams.
    assert who(parsed, utc(2025, 3, 12)) == {"alice"}
    assert all(s.start.tzinfo is timezone.utc and s.source == "calendar" for s in parsed.shifts)
    assert parsed.problems == ()


def test_google_calendar_with_unknown_x_wr_timezone_is_reported_not_guessed():
    data = fixture_bytes("google_x_wr_timezone.ics").replace(b"Europe/Berlin", b"Mars/Olympus")
    parsed = parse_calendar(
        data, people=PEOPLE, options=CalendarOptions(),
        window_start=utc(2025, 4, 1), window_end=utc(2025, 4, 30),
    )
    assert any("Mars/Olympus" in p.message for p in parsed.problems if p.kind == "parse_warning")
    # Left in UTC: the handoff stays at 08:00 UTC.
    assert who(parsed, utc(2025, 4, 7, 7, 30)) == {"bob"}


# --- Outlook: Windows zone names -----------------------------------------------------


def test_outlook_windows_zone_names_resolve_to_iana_zones():
    parsed = parse_fixture("outlook_windows_zones.ics", OUTLOOK)
    rotation = Rotation.build(parsed.shifts)
    # W. Europe Standard Time = Europe/Berlin: 09:00 is 08:00 UTC in March, 07:00 UTC from April.
    assert [s.person for s in rotation.oncall("L1", utc(2025, 3, 10, 7, 59))] == ["alice"]
    assert [s.person for s in rotation.oncall("L1", utc(2025, 3, 10, 8, 0))] == ["bob"]
    assert [s.person for s in rotation.oncall("L1", utc(2025, 3, 31, 7, 0))] == ["alice"]
    # Eastern Standard Time = America/New_York (DST from 9 March): 14:00 then 13:00 UTC.
    carol = [s for s in parsed.shifts if s.tier == "L2"]
    assert [s.start for s in carol[:2]] == [utc(2025, 3, 3, 14), utc(2025, 3, 10, 13)]


def test_outlook_until_ends_series_and_organizer_can_be_the_match():
    parsed = parse_fixture("outlook_windows_zones.ics", OUTLOOK)
    assert max(s.start for s in parsed.shifts if s.tier == "L2") == utc(2025, 3, 31, 13)
    by_organizer = parse_fixture(
        "outlook_windows_zones.ics", CalendarOptions(match=("organizer",), tier_markers={"[L2]": "L2"})
    )
    assert who(by_organizer, utc(2025, 3, 5)) == {"bob"}  # bob organised alice's week


def test_windows_zone_name_wins_over_a_wrong_embedded_vtimezone():
    data = fixture_bytes("outlook_windows_zones.ics").replace(b"TZOFFSETTO:+0100", b"TZOFFSETTO:+0500")
    parsed = parse_calendar(
        data, people=PEOPLE, options=OUTLOOK, window_start=utc(2025, 3, 1), window_end=utc(2025, 3, 20)
    )
    assert parsed.shifts[0].start == utc(2025, 3, 3, 8)


def test_custom_vtimezones_do_not_leak_between_calendars():
    # icalendar caches VTIMEZONEs process-wide by TZID; each calendar must get its own.
    def calendar(offset: str) -> bytes:
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
            "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\n"
            "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
            f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
            "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20250101T000000Z\r\nSUMMARY:alice\r\n"
            "DTSTART;TZID=Customized Time Zone:20250303T090000\r\n"
            "DTEND;TZID=Customized Time Zone:20250303T170000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        ).encode()

    starts = [
        parse_calendar(
            calendar(offset), people=PEOPLE, options=CalendarOptions(),
            window_start=utc(2025, 3, 1), window_end=utc(2025, 3, 5),
        ).shifts[0].start
        for offset in ("+0530", "-0300")
    ]
    assert starts == [utc(2025, 3, 3, 3, 30), utc(2025, 3, 3, 12)]


def test_tzid_without_any_definition_is_reported_and_read_in_configured_zone():
    data = fixture_bytes("weekly_dst_handoff.ics").replace(b"TZID=Europe/Berlin", b"TZID=Office Time")
    parsed = parse_calendar(
        data, people=PEOPLE, options=CalendarOptions(timezone="Asia/Tokyo"),
        window_start=utc(2025, 3, 1), window_end=utc(2025, 3, 8),
    )
    assert any("Office Time" in p.message for p in parsed.problems)
    assert parsed.shifts[0].start == utc(2025, 3, 3, 0)  # 09:00 Tokyo


# --- A weekly Monday 09:00 Europe/Berlin rotation across both DST changes ----------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2025, 3, 24, 7, 59), "carol"),  # CET: handoff at 08:00 UTC
        (utc(2025, 3, 24, 8, 0), "dave"),
        (utc(2025, 3, 30, 12, 0), "dave"),  # the Sunday DST starts
        (utc(2025, 3, 31, 6, 59), "dave"),  # CEST: handoff at 07:00 UTC
        (utc(2025, 3, 31, 7, 0), "alice"),
        (utc(2025, 10, 27, 7, 30), "bob"),  # CET again: 08:30 local, still bob
        (utc(2025, 10, 27, 8, 0), "carol"),
    ],
)
def test_weekly_handoff_stays_at_nine_local_across_dst(at, expected):
    parsed = parse_fixture("weekly_dst_handoff.ics", start=utc(2025, 3, 1), end=utc(2025, 12, 1))
    assert [s.person for s in Rotation.build(parsed.shifts).oncall("L1", at)] == [expected]


def test_weekly_rotation_outside_window_yields_no_shifts():
    parsed = parse_fixture("weekly_dst_handoff.ics", start=utc(2024, 1, 1), end=utc(2024, 6, 1))
    assert parsed.shifts == ()


def test_window_must_be_aware_and_ordered():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_fixture("weekly_dst_handoff.ics", start=utc(2025, 3, 1).replace(tzinfo=None))
    with pytest.raises(ValueError, match="after"):
        parse_fixture("weekly_dst_handoff.ics", start=utc(2025, 4, 1), end=utc(2025, 3, 1))


# --- All-day shifts ------------------------------------------------------------------


def test_all_day_shifts_run_midnight_to_midnight_in_configured_zone():
    parsed = parse_fixture("all_day_shifts.ics", CalendarOptions(timezone="America/New_York"))
    spans = [(s.person, s.start, s.end) for s in parsed.shifts]
    assert spans == [
        ("alice", utc(2025, 3, 3, 5), utc(2025, 3, 10, 4)),  # EST -> EDT (9 March)
        ("carol", utc(2025, 3, 10, 4), utc(2025, 3, 17, 4)),  # DTEND is exclusive
        ("dave", utc(2025, 3, 17, 4), utc(2025, 3, 18, 4)),  # no DTEND: one day
        ("bob", utc(2025, 3, 18, 4), utc(2025, 3, 20, 4)),  # DURATION:P2D
        ("alice", utc(2025, 3, 24, 4), utc(2025, 3, 31, 4)),  # INTERVAL=3, COUNT=2
    ]
    assert parsed.shifts[0].uid.endswith("/20250303")


def test_all_day_shift_edge_is_the_local_midnight():
    parsed = parse_fixture("all_day_shifts.ics", CalendarOptions(timezone="America/New_York"))
    assert who(parsed, utc(2025, 3, 10, 3, 59)) == {"alice"}  # 23:59 on Sunday, New York
    assert who(parsed, utc(2025, 3, 10, 4, 0)) == {"carol"}


def test_unknown_configured_timezone_is_rejected():
    with pytest.raises(ValueError, match="not a known zone"):
        CalendarOptions(timezone="Atlantis/Capital")


def test_windows_name_is_accepted_as_configured_timezone():
    parsed = parse_fixture("all_day_shifts.ics", CalendarOptions(timezone="Eastern Standard Time"))
    assert parsed.shifts[0].start == utc(2025, 3, 3, 5)

