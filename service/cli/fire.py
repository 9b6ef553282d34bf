"""``herald fire``: post a test alert to a running Herald, as Alertmanager would.

    herald fire                          # alert HeraldTestAlert, P1, starting now
    herald fire DiskFull --severity P2 --label service=db
    herald fire --resolve                # the same alert, resolved

Each call builds an Alertmanager webhook payload (version 4) whose alert starts *now*,
so firing again after a resolve opens a new incident (a fixed ``startsAt`` would be a
late copy of the resolved episode, which Herald rightly ignores). The alert's identity
— its group and fingerprint — is the name plus ``--label``s, not the time, so
``--resolve`` with the same name and labels resolves the one fired last (give the same
``--severity`` too: a route tree may route on it), and firing again while it is open
pages nobody again (the incident is already paging). The severity is set through the
configuration's severity labels. It posts with ``HERALD_ALERTMANAGER_TOKEN`` to
``HERALD_PUBLIC_URL`` (or ``--url``).
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from typing import Any

from routing.errors import Unavailable
from routing.severity import SEVERITIES, SeverityMapping
from routing.fire import DEFAULT_NAME, FireError, fire_payload
from service.settings import Settings

_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NoAnswer(Unavailable, FireError):
    """Herald did not answer at all (not running there, or unreachable): ``Unavailable``."""


def _labels(items: list[str] | None, mapping: SeverityMapping) -> dict[str, str]:
    reserved = {"alertname", mapping.label, mapping.priority_label} - {""}
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_NAME.match(key):
            raise FireError(f"--label {item!r}: use NAME=VALUE, NAME being letters, digits and _ (e.g. service=db)")
        if key in reserved:
            raise FireError(f"--label {key}: set the alert name as the argument and the severity with --severity")
        out[key] = value
    return out


def _mapping(settings: Settings) -> SeverityMapping:
    """The configuration's severity mapping when its file is here, else the defaults
    (Herald may run elsewhere, with its configuration there)."""
    from integrations.config.model import ConfigError, load_config

    try:
        return load_config(settings.config).severity
    except ConfigError:
        return SeverityMapping()


def _url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise FireError(f"--url {value!r}: give Herald's base URL, e.g. http://127.0.0.1:8080")
    return value.rstrip("/")


def post(url: str, token: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """POST the payload to Herald's Alertmanager webhook; the incidents it answers."""
    import httpx

    endpoint = f"{url}/api/v1/alertmanager"
    try:
        r = httpx.post(endpoint, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=15)
    except httpx.HTTPError as exc:
        raise NoAnswer(f"no answer from Herald at {url} ({type(exc).__name__}): is it running there? "
                        "--url or HERALD_PUBLIC_URL chooses the instance") from None
    try:
        detail = r.json().get("detail", "")
    except ValueError:
        detail = r.text[:200]
    if r.status_code == 401:
        raise FireError(f"Herald at {url} refused the credential (401: {detail}): HERALD_ALERTMANAGER_TOKEN must "
                        "be the token that instance expects")
    if r.status_code != 200:
        raise FireError(f"Herald at {url} answered {r.status_code}: {detail or r.reason_phrase}")
    return list(r.json().get("incidents", []))


def cmd_fire(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        mapping = _mapping(settings)
        labels = _labels(args.label, mapping)
        url = _url(args.url or settings.public_url)
        if settings.alertmanager_token is None:
            raise FireError("HERALD_ALERTMANAGER_TOKEN is not set: it is the credential Herald expects from "
                            "Alertmanager (`make run` prints a line that sets it)")
        payload = fire_payload(args.name, args.severity, now=datetime.now(timezone.utc), resolve=args.resolve,
                               labels=labels, summary=args.summary, mapping=mapping)
    except FireError as exc:
        print(f"herald fire: {exc}", file=sys.stderr)
        return 2
    try:
        incidents = post(url, settings.alertmanager_token.get_secret_value(), payload)
    except FireError as exc:
        print(f"herald fire: {exc}", file=sys.stderr)
        return 1
    done = f"resolved {args.name}" if args.resolve else f"fired {args.name} ({args.severity})"
    if not incidents:
        print(f"{done}: Herald stored it and opened no incident (a Watchdog ping?)")
        return 0
    for incident in incidents:
        print(f"{done} at {payload['alerts'][0]['startsAt']}: incident {incident['id']} is {incident['status']}  "
              f"{url}/ui/incidents/{incident['id']}")
    if not args.resolve:
        print(f"resolve it with: {resolve_command(args.name, args.severity, args.label)}")
    return 0


def resolve_command(name: str, severity: str, labels: list[str] | None) -> str:
    """The ``herald fire`` that resolves this alert: the same name, labels and severity
    (a route tree may route on either)."""
    import shlex

    words = ["herald", "fire", *([name] if name != DEFAULT_NAME else []),
             *(w for item in labels or [] for w in ("--label", item)),
             *(["--severity", severity] if severity != "P1" else []), "--resolve"]
    return shlex.join(words)


def _severity(value: str) -> str:
    if value.upper() not in SEVERITIES:
        raise argparse.ArgumentTypeError(f"{value!r}: choose one of {', '.join(SEVERITIES)}")
    return value.upper()


def add_command(sub: Any) -> None:
    """Register ``fire`` on the ``herald`` parser."""
    fire = sub.add_parser("fire", help="post a test alert (Alertmanager webhook, starting now) to a running Herald")
    fire.add_argument("name", nargs="?", default=DEFAULT_NAME, help=f"the alert's name (default {DEFAULT_NAME})")
    fire.add_argument("--severity", type=_severity, default="P1", metavar="P0..P3", help="default P1")
    fire.add_argument("--resolve", action="store_true",
                      help="resolve the alert fired with this name (and --label, --severity) instead")
    fire.add_argument("--label", action="append", metavar="NAME=VALUE", help="another label (repeatable)")
    fire.add_argument("--summary", help="the summary annotation (the incident's title)")
    fire.add_argument("--url", help="Herald's base URL (default: $HERALD_PUBLIC_URL)")
    fire.set_defaults(func=cmd_fire)
