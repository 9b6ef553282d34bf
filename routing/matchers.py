"""Alertmanager-style label matchers: ``name="value"``, ``!=``, ``=~``, ``!~``.

As in Alertmanager, regular expressions are anchored at both ends and a missing
label matches as the empty string.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$""",
    re.DOTALL,
)
_OPS = ("=", "!=", "=~", "!~")


class MatcherError(ValueError):
    """A matcher string that cannot be parsed."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
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
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise MatcherError(f"invalid regular expression {value!r}: {exc}") from exc
    return Matcher(name, op, value, regex)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``service=~"db|cache"``."""
    found = _MATCHER.match(text)
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
        raise ValueError(str(exc)) from None
    return items


def all_match(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
