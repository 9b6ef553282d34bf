"""``herald people list|export|import``: people's contacts and their verification state,
and moving them (with personal rules) between instances.

    herald people list                      # each contact and its state
    herald people export > people.json      # or --output people.json
    herald people import people.json        # "-" reads stdin

``import`` replaces the contacts and rules of every person the file names (people it does
not name are left alone); everything is checked first, so a wrong entry writes nothing and
the error names it (exit 1). Codes in flight are never exported.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from integrations.config.model import ConfigError
from routing.errors import HeraldError
from service.settings import Settings


def _herald():
    from service.engine.runtime import Herald

    return Herald.from_settings(Settings(), notifiers={})


def _run(args: argparse.Namespace, action: Any) -> int:
    import redis

    try:
        herald = _herald()
    except ConfigError as exc:
        print(f"herald: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return action(herald, args)
    except HeraldError as exc:
        print(f"herald people {args.people_command}: {exc}", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"herald people {args.people_command}: Redis unavailable ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        herald.close()


def _list(herald: Any, args: argparse.Namespace) -> int:
    from service.engine import people

    rows = [["PERSON", "KIND", "ADDRESS", "STATE", "PAGED", "SOURCE"]]
    for pid, record in people.records(herald).items():
        for c in record.contacts:
            rows.append([pid, c.kind, c.address, c.state, "yes" if c.paged else "no", c.source])
        if not record.contacts:
            rows.append([pid, "-", "(no contacts)", "-", "-", "-"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows))
    return 0


def _export(herald: Any, args: argparse.Namespace) -> int:
    from service.engine import people

    exported = people.export(herald)
    text = json.dumps(exported, indent=2, sort_keys=True) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"exported {len(exported['people'])} people to {args.output}", file=sys.stderr)
    return 0


def _import(herald: Any, args: argparse.Namespace) -> int:
    from service.engine import people

    try:
        if args.file == "-":
            raw = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as source:
                raw = source.read()
        data = json.loads(raw)
    except OSError as exc:
        print(f"herald people import: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"herald people import: {args.file}: not valid JSON: {exc}", file=sys.stderr)
        return 1
    if not isinstance(data, dict):
        print(f"herald people import: {args.file}: expected a JSON object (herald people export's output)",
              file=sys.stderr)
        return 1
    counts = people.import_people(herald, data)
    print(f"imported {counts['people']} people: {counts['contacts']} contacts, {counts['rules']} with rules")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``people list|export|import`` on the ``herald`` parser."""
    group = sub.add_parser("people", help="people's contacts: list, export, import")
    actions = group.add_subparsers(dest="people_command", required=True)
    listing = actions.add_parser("list", help="every contact and its state (unverified, verified, failing, opted_out)")
    listing.set_defaults(func=lambda args: _run(args, _list))
    export = actions.add_parser("export", help="contacts, verification state and rules as JSON")
    export.add_argument("--output", "-o", help="write to this file (default: stdout)")
    export.set_defaults(func=lambda args: _run(args, _export))
    load = actions.add_parser("import", help="replace the contacts and rules of the people a file names")
    load.add_argument("file", help="a file written by herald people export (- for stdin)")
    load.set_defaults(func=lambda args: _run(args, _import))
