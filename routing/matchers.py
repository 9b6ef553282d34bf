"""Alertmanager-style label matchers: ``name="value"``, ``!=``, ``=~``, ``!~``.

As in Alertmanager, a missing label matches as the empty string, and regular
expressions use RE2's syntax and engine (the ``google-re2`` package; Alertmanager's Go
``regexp`` is RE2 too), anchored the way Alertmanager anchors them: ``^(?:pattern)$``.
RE2 runs in time linear in the label value whatever the pattern — ``(a+)+`` cannot make a
webhook backtrack for seconds, as Python's ``re`` did — and has no backreferences or
lookarounds: a pattern that needs them is refused with RE2's reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import re2

from routing.errors import Invalid

# Parsed after strip(): no pattern here can backtrack on a long run of spaces.
_MATCHER = re.compile(r"""(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*)""", re.DOTALL)
_OPS = ("=", "!=", "=~", "!~")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the reason is in the MatcherError; RE2 would print it to stderr too


def compile_regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2 as Alertmanager compiles a regex matcher's value:
    ``^(?:pattern)$``. MatcherError, with RE2's reason, when RE2 cannot run it."""
    try:
        return re2.compile(f"^(?:{pattern})$", _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise MatcherError(f"invalid regular expression \"{pattern}\": RE2, the regex engine of Alertmanager, "
                           f"cannot run it ({reason}); backreferences and lookarounds are not supported") from None


class MatcherError(Invalid):
    """A matcher string that cannot be parsed (an ``Invalid``, so also a ValueError)."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    regex: Any = field(default=None, compare=False, repr=False)  # an RE2 pattern for =~ and !~

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        found = self.regex.search(actual) is not None  # anchored by compile_regex, as Alertmanager does
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        try:
            return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as exc:  # pragma: no cover - defensive
            raise MatcherError(f"bad escape in {raw!r}") from exc
    if '"' in raw:
        raise MatcherError(f"unbalanced quotes in value {raw!r}")
    return raw


def make_matcher(name: str, op: str, value: str) -> Matcher:
    if op not in _OPS:
        raise MatcherError(f"unknown operator {op!r}; use one of {', '.join(_OPS)}")
    return Matcher(name, op, value, compile_regex(value) if op in ("=~", "!~") else None)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``service=~"db|cache"``."""
    found = _MATCHER.fullmatch(text.strip())
    if not found:
        raise MatcherError(
            f"cannot parse matcher {text!r}; expected name=\"value\", name!=, name=~ or name!~"
        )
    return make_matcher(found["name"], found["op"], _unquote(found["value"]))


def parse_matchers(items: list[str] | None) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(item) for item in items or ())


@lru_cache(maxsize=1024)
def compiled(items: tuple[str, ...]) -> tuple[Matcher, ...]:
    """``parse_matchers`` memoised: windows and the watchdog are matched on hot paths."""
    return parse_matchers(list(items))


def validated(items: list[str]) -> list[str]:
    """A pydantic validator body: the matcher strings, or ValueError saying what is wrong."""
    try:
        compiled(tuple(items))
    except MatcherError as exc:
        raise Invalid(str(exc)) from None
    return items


def all_match(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
