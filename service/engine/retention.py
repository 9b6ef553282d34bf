"""The retention purge, a periodic task of the due index (service/worker/due.py): resolved incidents older than
``HERALD_RETENTION_DAYS`` are removed, each with every key and index entry that names it
and added to its month's SLA totals in the same atomic script
(``integrations.retention_store``), at most ``PURGE_BATCH`` a pass.

A purge is not a change to an incident (nothing is decided: a resolved incident is only
forgotten), so it does not go through ``decide()``; it is one store operation that
refuses an incident written since it was read. Several workers may purge at once: the
one whose script runs first removes the incident, the others find it gone.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from integrations.retention_store import RetentionStore
from routing.incident import Incident
from routing.reports import archive_fields, facts
from service.telemetry import metrics
from service.engine.runtime import Herald

log = logging.getLogger("herald.retention")

#: Incidents looked at per pass (a pass runs every HERALD_SWEEP_INTERVAL, a second after
#: the last while they find full batches: 200 a second is 17 million a day).
PURGE_BATCH = 200
#: Incidents looked at per pass by the walk that finds those stored before the
#: resolved-time index existed (it ends once it has seen them all).
INDEX_CHUNK = 1000
#: A worker whose repair pass has not been seen for this long is forgotten (it is long gone).
WORKER_FORGOTTEN_AFTER = timedelta(days=1)


def purge_incident(herald: Herald, incident: Incident, now: datetime, store: RetentionStore | None = None) -> str:
    """Remove one resolved incident as read, counting it into its month's SLA totals:
    "purged", "changed" (written since it was read) or "gone" (removed already)."""
    store = store or herald.retention
    found = facts(incident, herald.config.policies.get(incident.policy), now)
    return store.purge(incident, f"{incident.created_at:%Y-%m}", archive_fields(found))


def _purge(herald: Herald, store: RetentionStore, ids: list[str], cutoff: datetime, now: datetime) -> int:
    """Purge those of ``ids`` resolved before ``cutoff``; index the others by the time
    they resolved (ids found by the walk), or drop their stale index entry."""
    purged = 0
    for incident_id, incident in zip(ids, store.read(ids)):
        if incident is None or incident.is_open:
            store.reindex(incident_id, None)
        elif (resolved := incident.resolved_at or incident.created_at) > cutoff:
            store.reindex(incident_id, resolved.timestamp())
        elif purge_incident(herald, incident, now, store) == "purged":
            purged += 1
    return purged


def purge(herald: Herald, now: datetime) -> int:
    """One bounded pass: how many incidents it removed."""
    store = herald.retention
    store.forget_workers((now - WORKER_FORGOTTEN_AFTER).timestamp())
    cutoff = now - timedelta(days=herald.settings.retention_days)
    purged = _purge(herald, store, store.candidates(cutoff.timestamp(), PURGE_BATCH), cutoff, now)
    legacy, cursor = store.unindexed(INDEX_CHUNK)
    if legacy:
        purged += _purge(herald, store, legacy, cutoff, now)
    if cursor is not None:
        store.walked(cursor)  # after the purges: on a full Redis this write needs the room they made
    if purged:
        metrics.INCIDENTS_PURGED.inc(purged)
        log.info("retention: removed %d incident(s) resolved before %s", purged, cutoff.isoformat())
    return purged
