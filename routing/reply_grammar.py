"""The grammar of what a person answers a page with: an SMS reply's text, or the key
pressed on a paging call. The one place it is written down; pure (text in, meaning
out), for ``service.engine.replies`` and the provider webhooks to act on.

SMS (case and surrounding ``.``/``!`` ignored; a code is ``12``, ``#12``; no code means
"the latest page to this number")::

    4 | ack | acknowledge [code]     acknowledge
    6 | resolve | resolved [code]    resolve
    8 | esc | escalate [code]        page the next tier now
    snooze <minutes> [code]          quiet for 1..1440 minutes, then page again
    STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE   SMS opt-out
    START, UNSTOP, YES               opt back in
    anything else                    the help text

Keypress on a paging call: 4 acknowledge, 6 resolve, 8 escalate, * repeat the message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from routing.text import clean_text

Action = Literal["ack", "resolve", "escalate", "snooze", "stop", "start", "help"]
Keypress = Literal["ack", "resolve", "escalate", "repeat"]

MAX_SNOOZE_MINUTES = 24 * 60
HELP_TEXT = ("Herald: reply 4 <code> to acknowledge, 6 <code> to resolve, 8 <code> to escalate, "
             "snooze <minutes> <code> (just 4 = your latest page). STOP to opt out, START to opt back in.")

_STOP = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
_START = {"start", "unstop", "yes"}
# An optional incident code after the action: a separator (space and/or "#": "412" is
# ambiguous, so it is not "4" for #12) and up to 16 letters, digits or dashes.
_CODE = r"(?:(?:\s+#?|\s*#)\s*([a-z0-9-]{1,16}))?"
_ACK = re.compile(rf"^(?:4|ack|acknowledge){_CODE}$")
_RESOLVE = re.compile(rf"^(?:6|resolve|resolved){_CODE}$")
_ESCALATE = re.compile(rf"^(?:8|esc|escalate){_CODE}$")
_SNOOZE = re.compile(rf"^snooze\s+(\d{{1,4}}){_CODE}$")
_KEYS: dict[str, Keypress] = {"4": "ack", "6": "resolve", "8": "escalate", "*": "repeat"}


@dataclass(frozen=True, slots=True)
class Reply:
    """What an inbound SMS asks for. ``code`` None: the latest incident paged to this
    number; ``minutes``: how long a snooze lasts (0 for every other action)."""

    action: Action
    code: str | None = None
    minutes: int = 0


def normalise(body: object) -> str:
    """The text as the grammar reads it: ``clean_text`` (control and format characters,
    bidi and zero-width, dropped; whitespace collapsed), case folded, outer ``.``/``!``
    and spaces stripped."""
    return clean_text(body).casefold().strip(" .!")


def parse_sms(body: object) -> Reply:
    """The meaning of an SMS reply (see the module's grammar); never raises."""
    text = normalise(body)
    if text in _STOP:
        return Reply("stop")
    if text in _START:
        return Reply("start")
    for action, pattern in (("ack", _ACK), ("resolve", _RESOLVE), ("escalate", _ESCALATE)):
        if found := pattern.match(text):
            return Reply(action, found.group(1))  # type: ignore[arg-type]
    if (found := _SNOOZE.match(text)) and 1 <= int(found.group(1)) <= MAX_SNOOZE_MINUTES:
        return Reply("snooze", found.group(2), int(found.group(1)))
    return Reply("help")


def parse_keypress(digits: str | None) -> Keypress | None:
    """4 ack, 6 resolve, 8 escalate, * repeat; anything else (or nothing) None."""
    return _KEYS.get((digits or "").strip())
