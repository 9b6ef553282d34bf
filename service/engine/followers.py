"""The followers' job: hand one sink the timeline entries of one incident past its cursor.

Run by the worker for a due-index entry ``keys.due_follow(sink, incident)`` (see
``integrations.followers`` for the mechanism and ``service.worker.due`` for the runner).
The incident is read once; each entry past the sink's cursor goes to ``Sink.handle`` in
order, and the cursor advances after each entry the sink is done with. A sink that is
not done (its endpoint is down) gets its entry re-armed at the time it asks for — the
entries after it wait, so a follower sees an incident's changes in order — and a sink
that raises is retried after ``FAILED_RETRY``. Nothing here touches the incident.

The repair pass (``missing_entries``) re-derives the entry of every sink whose cursor is
behind its incident's timeline and has no entry in the due index, for the open incidents
and those resolved in the last ``REPAIR_RESOLVED_WITHIN``.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from integrations import keys
from integrations.followers import Sink
from service.engine.runtime import Herald

log = logging.getLogger("herald.followers")

#: A sink that raised is handed the same entry again after this long.
FAILED_RETRY = timedelta(seconds=30)
#: Resolved incidents the repair pass still looks at (a webhook gives up after a day).
REPAIR_RESOLVED_WITHIN = timedelta(days=2)


def parse_member(rest: str) -> tuple[str, str]:
    """(sink, incident id) of a follow entry's member without its "follow:" prefix
    (a sink's name may hold ":"; an incident id never does)."""
    sink, _, incident_id = rest.rpartition(":")
    return sink, incident_id


def run_follow(herald: Herald, sink_name: str, incident_id: str) -> int:
    """Hand ``sink_name`` what it has not processed of one incident's timeline; answers
    how many entries it finished. Re-arms its own entry when the sink is not done."""
    sink: Sink | None = herald.followers.get(sink_name)
    member = keys.due_follow(sink_name, incident_id)
    if sink is None:  # the sink left the configuration: its entries end here
        log.info("follower %s is not configured any more; %s dropped", sink_name, member)
        return 0
    incident = herald.store.get(incident_id)
    if incident is None:  # purged
        return 0
    cursor = herald.follow.cursor(sink_name, incident_id) or 0
    done = 0
    for index in range(cursor, len(incident.timeline)):
        now = herald.clock()
        try:
            step = sink.handle(incident, index, incident.timeline[index], now)
        except Exception:
            log.exception("follower %s failed on incident %s entry %d", sink_name, incident_id, index)
            herald.due.arm(member, (now + FAILED_RETRY).timestamp(), only_earlier=False)
            return done
        if not step.done:
            at = step.retry_at or now + FAILED_RETRY
            herald.due.arm(member, at.timestamp(), only_earlier=False)
            return done
        herald.follow.advance(sink_name, incident_id, index + 1)
        done += 1
    return done


def missing_entries(herald: Herald, present: set[str], now: datetime) -> list[tuple[str, float]]:
    """(member, due) for each (sink, incident) whose cursor is behind the timeline and whose
    entry is neither in the due index nor in flight (``present``): the open incidents and
    those resolved in the last ``REPAIR_RESOLVED_WITHIN``. A sink that never followed an
    incident (no cursor: it was configured after the incident's last change) is not owed
    its past."""
    sinks = list(herald.followers)
    if not sinks:
        return []
    ids = list(dict.fromkeys(herald.store.open_ids()
                             + herald.follow.resolved_since((now - REPAIR_RESOLVED_WITHIN).timestamp())))
    entries: list[tuple[str, float]] = []
    for start in range(0, len(ids), 200):
        chunk = ids[start:start + 200]
        for incident, cursors in zip(herald.store.get_many(chunk), herald.follow.cursors(chunk, sinks)):
            if incident is None:
                continue
            for sink, cursor in zip(sinks, cursors):
                member = keys.due_follow(sink, incident.id)
                if cursor is not None and cursor < len(incident.timeline) and member not in present:
                    entries.append((member, now.timestamp()))
    return entries
