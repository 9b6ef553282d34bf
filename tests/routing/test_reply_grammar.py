"""The reply grammar: what an SMS reply or a keypress on a paging call means."""
from __future__ import annotations

import pytest

from routing.reply_grammar import HELP_TEXT, MAX_SNOOZE_MINUTES, Reply, normalise, parse_keypress, parse_sms


@pytest.mark.parametrize("body,expected", [
    ("4", Reply("ack")), ("ack", Reply("ack")), (" ACK ", Reply("ack")), ("Acknowledge!", Reply("ack")),
    ("4 12", Reply("ack", "12")), ("ack 12", Reply("ack", "12")), ("ack #12", Reply("ack", "12")),
    ("4#12", Reply("ack", "12")), ("6 12", Reply("resolve", "12")), ("resolve 12", Reply("resolve", "12")),
    ("6", Reply("resolve")), ("resolved.", Reply("resolve")),
    ("8", Reply("escalate")), ("8 12", Reply("escalate", "12")), ("esc #db-7", Reply("escalate", "db-7")),
    ("Escalate 12", Reply("escalate", "12")),
    ("snooze 30", Reply("snooze", None, 30)), ("snooze 30 12", Reply("snooze", "12", 30)),
    ("SNOOZE 1440 #12", Reply("snooze", "12", 1440)),
])
def test_actions(body, expected):
    assert parse_sms(body) == expected


@pytest.mark.parametrize("body,action", [
    ("STOP", "stop"), ("stopall", "stop"), ("Unsubscribe", "stop"), ("cancel", "stop"),
    ("END", "stop"), ("quit.", "stop"), ("START", "start"), ("unstop", "start"), ("yes", "start"),
])
def test_opt_keywords(body, action):
    assert parse_sms(body) == Reply(action)


@pytest.mark.parametrize("body", ["", None, "hello", "412", "ack 12 13", "stop it", "5", "4 12\nrm -rf", "ack ../../x",
                                  "snooze", "snooze 0 12", f"snooze {MAX_SNOOZE_MINUTES + 1}", "snooze -5",
                                  "88", "8 12 13", "4" * 17])
def test_anything_else_is_help(body):
    assert parse_sms(body) == Reply("help")


def test_invisible_characters_do_not_change_the_meaning():
    # A zero-width space and a right-to-left mark (format characters) are dropped; a tab is a space.
    assert parse_sms("4\u200b\t\u200f12") == Reply("ack", "12")
    assert normalise("  Snooze\u00a0 30!! ") == "snooze 30"


def test_keypresses():
    assert [parse_keypress(d) for d in ("4", "6", "8", "*")] == ["ack", "resolve", "escalate", "repeat"]
    assert parse_keypress(" 4 ") == "ack"
    assert [parse_keypress(d) for d in (None, "", "5", "#", "44", "48")] == [None] * 6


def test_the_help_text_names_every_action():
    for word in ("4", "6", "8", "snooze", "STOP", "START"):
        assert word in HELP_TEXT
