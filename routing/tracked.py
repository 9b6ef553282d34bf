"""The alerts an incident tracks, bounded however many its group churns through.

Pure. An incident keeps its firing alerts whole, at most ``max_alerts`` of them (the
rest are counted, not kept), and its most recently resolved ones whole
(``KEEP_RESOLVED``). Older resolved alerts leave the hot record: what the episode rule
(``routing.decide``) needs of them — start and end — stays in ``Incident.ended``, at
most ``max_alerts`` of the most recent, and the whole alert goes to the incident's alert
hash in Redis (``Decision.archive``, written in the same commit). So the incident's JSON,
and the work of every webhook that reads and writes it, is bounded by the cap, not by
the group's history.
"""
from __future__ import annotations

from datetime import datetime

from routing.incident import AlertState, Incident

#: Resolved alerts an incident keeps whole in ``Incident.alerts`` (the newest ends).
KEEP_RESOLVED = 50
#: Alert changes of one notification noted one by one on the timeline; more are summed up.
NOTED_EACH = 10


def _end(alert: AlertState) -> datetime:
    return alert.ends_at or alert.starts_at


class Tracked:
    """``incident``'s alerts, changed in place; ``archive`` collects what the commit
    writes to (an AlertState) or removes from (None) the incident's alert hash."""

    def __init__(self, incident: Incident, max_alerts: int) -> None:
        self.incident, self.max_alerts = incident, max_alerts
        self.archive: dict[str, AlertState | None] = {}

    def known(self, fingerprint: str) -> AlertState | None:
        """The episode Herald holds for ``fingerprint`` (a moved-out one: resolved, with
        its start and end only)."""
        found = self.incident.alerts.get(fingerprint)
        if found is not None:
            return found
        span = self.incident.ended.get(fingerprint)
        if span is None:
            return None
        return AlertState.model_construct(fingerprint=fingerprint, status="resolved", labels={}, annotations={},
                                          starts_at=span[0], ends_at=span[1], generator_url="")

    def holds(self, alert: AlertState) -> bool:
        """This very copy is what Herald holds already."""
        kept = self.incident.alerts.get(alert.fingerprint)
        if kept is not None:
            return kept == alert
        return alert.status == "resolved" and self.incident.ended.get(alert.fingerprint) == (alert.starts_at,
                                                                                             alert.ends_at)

    def put(self, alert: AlertState) -> None:
        if self.incident.ended.pop(alert.fingerprint, None) is not None:
            self.archive[alert.fingerprint] = None  # whole in the hot record again
        self.incident.alerts[alert.fingerprint] = alert

    def firing(self) -> int:
        return sum(1 for a in self.incident.alerts.values() if a.status == "firing")

    def compact(self) -> bool:
        """Move resolved alerts beyond the newest ``KEEP_RESOLVED`` out of the hot record
        and forget the oldest ends beyond ``max_alerts``; True if anything moved."""
        alerts, ended = self.incident.alerts, self.incident.ended
        resolved = [a for a in alerts.values() if a.status == "resolved"]
        moved = False
        if len(resolved) > KEEP_RESOLVED:
            resolved.sort(key=lambda a: (_end(a), a.fingerprint), reverse=True)
            for alert in resolved[KEEP_RESOLVED:]:
                del alerts[alert.fingerprint]
                ended[alert.fingerprint] = (alert.starts_at, alert.ends_at)
                self.archive[alert.fingerprint] = alert
            moved = True
        if len(ended) > self.max_alerts:
            oldest = sorted(ended, key=lambda fp: (ended[fp][1] or ended[fp][0], fp))
            for fingerprint in oldest[:len(ended) - self.max_alerts]:
                del ended[fingerprint]
                self.archive[fingerprint] = None
            moved = True
        return moved


class Notes:
    """Timeline entries for alert changes: one each up to ``NOTED_EACH`` per kind and
    notification, then one entry that counts the rest (``alerts_added`` …)."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[AlertState]] = {}

    def add(self, kind: str, alert: AlertState) -> None:
        self.kinds.setdefault(kind, []).append(alert)

    def write(self, incident: Incident, now: datetime) -> None:
        for kind, alerts in self.kinds.items():
            for alert in alerts[:NOTED_EACH]:
                incident.note(now, kind, fingerprint=alert.fingerprint, alertname=alert.labels.get("alertname", ""))
            if len(alerts) > NOTED_EACH:
                rest = alerts[NOTED_EACH:]
                names = sorted({a.labels.get("alertname", "") for a in rest})
                incident.note(now, kind.replace("alert_", "alerts_", 1), count=len(rest), alertnames=names[:5])
