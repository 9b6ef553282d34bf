"""``herald oncall`` and ``herald schedules lint``.

Both read the configuration and, when Redis answers, what the service uses: uploaded
and fetched copies and handoffs. Without Redis (or with ``--offline``) they read the
calendar files and URLs only -- so a team can lint the calendar it publishes in CI:

    herald schedules lint --config herald.yaml --schedule primary --file primary=out/oncall.ics

``lint`` exits 1 when it finds any problem (a gap, an overlap, an unknown person, a
skipped event, a parse warning, a calendar that does not load, and — with Redis — a
person on call in the days checked with no verified contact) and 2 for a configuration
error.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.cli.common import calendar_log_muted, check_herald_data, shown_url, warn
from integrations.config.model import ConfigError, HeraldConfig, load_config
from service.settings import Settings

if TYPE_CHECKING:  # the commands import these when they run: `herald --help` stays quick
    from integrations.calendars import CalendarBook


def _config(args: argparse.Namespace) -> HeraldConfig:
    config = load_config(args.config or Settings().config)
    for item in getattr(args, "file", None) or []:
        name, _, path = item.partition("=")
        if not path:
            raise ConfigError(f"--file {item}: use NAME=PATH")
        if name not in config.schedules:
            raise ConfigError(f"--file {name}=...: no schedule named {name!r}")
        spec = config.schedules[name].model_copy(update={"source": "file", "url": None,
                                                         "calendar": str(Path(path).resolve())})
        config = dataclasses.replace(config, schedules={**config.schedules, name: spec})
    unknown = [s for s in getattr(args, "schedule", None) or [] if s not in config.schedules]
    if unknown:
        raise ConfigError(f"--schedule: no schedule named {unknown[0]!r}")
    return config


def _book(config: HeraldConfig, offline: bool, now: datetime) -> CalendarBook:
    """The calendars as the service sees them; without Redis (or ``offline``), the files
    and URLs only. Says on stderr when Redis is unreachable or holds no Herald data."""
    return _book_on(config, _client(offline), now)


def _client(offline: bool) -> Any:
    """A Redis client when Redis answers (and not ``offline``), else None (said on stderr)."""
    import redis

    from integrations.status_store import StatusStore
    from service.redis_clients import connect_url

    if offline:
        return None
    url = Settings().redis_url
    client = connect_url(url, decode_responses=True, socket_timeout=3, socket_connect_timeout=2)
    try:
        status = StatusStore(client)
        status.ping()
        check_herald_data(status, url)
    except redis.RedisError as exc:
        warn(f"Redis unreachable at {shown_url(url)} ({type(exc).__name__}): reading calendar files and URLs "
             "only; uploads and handoffs are not included")
        return None
    return client


def _book_on(config: HeraldConfig, client: Any, now: datetime) -> CalendarBook:
    from integrations.calendars import CalendarBook

    book = CalendarBook(config, client, readonly=True, background=False)
    book.refresh(now, force=True)
    return book


def _calendar_warnings(book: CalendarBook, names: list[str], reported: Any = (), errors: bool = True) -> None:
    """Each schedule's load error (``errors``) and calendar problems, once each, on
    stderr; the problems in ``reported`` (by kind and message) were printed already."""
    said = {(p.kind, p.message) for p in reported}
    for name in names:
        status = book.status[name]
        if status.error and errors:
            warn(f"{name}: {status.error}")
        for problem in status.problems:
            if (problem.kind in ("unknown_person", "parse_warning", "skipped_event")
                    and (problem.kind, problem.message) not in said):
                warn(f"{name}: {problem.kind.replace('_', ' ')}: {problem.message}")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _short(value: str | None) -> str:
    return value.replace("T", " ").replace(":00Z", "Z") if value else "-"


def cmd_oncall(args: argparse.Namespace) -> int:
    from service.api.schedule_views import entry, parse_time

    try:
        config = _config(args)
        now = datetime.now(timezone.utc)
        at = parse_time(args.at, "--at", now)
    except (ConfigError, ValueError) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    with calendar_log_muted():
        book = _book(config, args.offline, now)
    names = args.schedule or list(config.schedules)
    rows = [["SCHEDULE", "TIER", "PERSON", "NAME", "FROM", "UNTIL", "SOURCE"]]
    for name in names:
        rotation = book.rotation(name)
        tiers = [args.tier] if args.tier else sorted({*book.tiers(name), *(rotation.tiers() if rotation else ())})
        for tier in tiers:
            shifts = rotation.oncall(tier, at) if rotation else ()
            for e in (entry(name, s, config.people, contacts=False) for s in shifts):
                source = e["source"] + (f" {e['handoff']}" if e["source"] == "handoff" else "")
                rows.append([name, tier, e["person"], e["name"], _short(e["start"]), _short(e["end"]), source])
            if not shifts:
                rows.append([name, tier, "-", "(nobody on call)", "-", "-", "-"])
    print(f"on call at {at.strftime('%Y-%m-%d %H:%M UTC')}")
    print(_table(rows))
    _calendar_warnings(book, names)
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from schedules.coverage import lint_line

    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"herald: configuration error: {exc}", file=sys.stderr)
        return 2
    now = datetime.now(timezone.utc)
    end = now + timedelta(days=args.days)
    with calendar_log_muted():
        client = _client(args.offline)
        book = _book_on(config, client, now)
    found = 0
    names = args.schedule or list(config.schedules)
    reported = []
    for name in names:
        status = book.status[name]
        lines = []
        if status.error:
            lines.append(f"error: {status.error}")
        if book.parsed(name) is None:  # coverage of a calendar that is not there says nothing more
            lines = lines or [f"error: no calendar loaded ({status.note or 'nothing to read'})"]
        else:
            problems = book.lint(name, now, end)
            reported += problems
            lines += [lint_line(p) for p in problems]
        found += len(lines)
        state = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}" if lines else "OK"
        print(f"{name} ({status.source}, {status.shifts} shifts, next {args.days} days): {state}")
        print("".join(f"  {line}\n" for line in lines), end="")
    # Calendar problems outside the days checked (an unknown person whose shifts are all
    # before or after them): not counted, but said once.
    _calendar_warnings(book, names, reported, errors=False)
    if not args.skip_contacts:
        found += _lint_contacts(config, book, client, names, now, end, args.days, every_tier=not args.schedule)
    return 1 if found else 0


def _lint_contacts(config: HeraldConfig, book: CalendarBook, client: Any, names: list[str], now: datetime,
                   end: datetime, days: int, every_tier: bool) -> int:
    """A coverage problem each: someone on call in the days checked (by the schedules
    ``names``; with ``every_tier``, also the people policies' tiers name) with no verified
    contact. Verification state is in Redis: without it (``--offline``) nothing is checked."""
    from integrations.people_store import PeopleStore
    from schedules.contacts import unreachable

    if client is None:
        return 0
    first: dict[str, tuple[datetime, str]] = {}  # person -> (first shift start, where)
    for name in names:
        rotation = book.rotation(name)
        for shift in rotation.shifts(None, now, end) if rotation else ():
            start = max(shift.start, now)
            if shift.person in config.people and (shift.person not in first or start < first[shift.person][0]):
                first[shift.person] = (start, f"{name} {shift.tier}")
    if every_tier:
        for policy in config.policies.values():
            for tier in policy.tiers:
                for person in tier.people:
                    first.setdefault(person, (now, f"policy {policy.name} tier {tier.name}"))
    records = PeopleStore(client).records(config.people[p] for p in first)
    lines = []
    for person, record in sorted(records.items(), key=lambda item: (first[item[0]][0], item[0])):
        if not unreachable(record):
            continue
        start, where = first[person]
        states = ", ".join(f"{c.kind} {c.state}" for c in record.contacts) or "no contacts"
        when = "now" if start <= now else f"from {start.strftime('%Y-%m-%d %H:%M')}Z"
        lines.append(f"unverified_contact {person} ({config.people[person].name}): on call ({where}) {when} with no "
                     f"verified contact ({states})")
    state = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}" if lines else "OK"
    print(f"contacts ({len(first)} people on call, next {days} days): {state}")
    print("".join(f"  {line}\n" for line in lines), end="")
    return len(lines)


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 366:
        raise argparse.ArgumentTypeError("a number of days from 1 to 366")
    return int(value)


def add_commands(sub: Any) -> None:
    """Register ``oncall`` and ``schedules lint`` on the ``herald`` parser."""
    oncall = sub.add_parser("oncall", help="who is on call (config + Redis, like the API)")
    oncall.add_argument("--schedule", action="append", help="only this schedule (repeatable)")
    oncall.add_argument("--tier", help="only this tier")
    oncall.add_argument("--at", help="ISO 8601 time (default now; no offset means UTC)")
    oncall.add_argument("--config", help="configuration file (default: $HERALD_CONFIG)")
    oncall.add_argument("--offline", action="store_true", help="do not use Redis: files and URLs only")
    oncall.set_defaults(func=cmd_oncall)
    schedules = sub.add_parser("schedules", help="schedule tools")
    actions = schedules.add_subparsers(dest="schedules_command", required=True)
    lint = actions.add_parser("lint", help="report gaps, overlaps, unknown people, skipped events and parse "
                                           "warnings; exit 1 on any")
    lint.add_argument("--days", type=_days, default=30, metavar="N",
                      help="how far ahead to check coverage (1-366, default 30)")
    lint.add_argument("--config", help="configuration file (default: $HERALD_CONFIG)")
    lint.add_argument("--schedule", action="append", help="only this schedule (repeatable)")
    lint.add_argument("--file", action="append", metavar="NAME=PATH",
                      help="lint this local file as schedule NAME's calendar (repeatable)")
    lint.add_argument("--offline", action="store_true", help="do not use Redis: files and URLs only")
    lint.add_argument("--skip-contacts", action="store_true",
                      help="check the calendars only, not whether the people on call have a verified contact")
    lint.set_defaults(func=cmd_lint)
