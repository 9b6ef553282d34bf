"""The followers' job: hand one sink the timeline entries of one incident past its cursor.

Run by the worker for a due-index entry ``keys.due_follow(sink, incident)`` (see
``integrations.followers`` for the mechanism and ``service.worker.due`` for the runner).
The incident is read once; each entry past the sink's cursor goes to ``Sink.handle`` in
order, and the cursor advances after each entry the sink is done with. A sink that is
not done (its endpoint is down) gets its entry re-armed at the time it asks for — the
entries after it wait, so a follower sees an incident's changes in order — and a sink
that raises is retried after ``FAILED_RETRY``. Nothing here touches the incident.

Handoffs are not incidents: a sink that also follows handoffs (``HandoffSink``) has one
cursor over the handoff sequence and one entry, ``keys.due_handoffs(sink)``, written with
each handoff created (``HandoffStore.create``) and run by ``run_handoffs``.

The repair pass (``missing_entries``) re-derives the entry of every sink whose cursor is
behind its incident's timeline and has no entry in the due index, for the open incidents
and those resolved in the last ``REPAIR_RESOLVED_WITHIN``, and of every handoff follower
whose cursor is behind the newest handoff.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from integrations import keys
from integrations.followers import HandoffSink, Sink
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


def run_handoffs(herald: Herald, sink_name: str) -> int:
    """Hand ``sink_name`` the handoffs created after its cursor, in the order they were made
    (a handoff cancelled before its turn is gone, and skipped); answers how many it finished."""
    sink = herald.followers.get(sink_name)
    member = keys.due_handoffs(sink_name)
    if not isinstance(sink, HandoffSink):
        return 0
    cursor = herald.follow.handoff_cursor(sink_name) or 0
    done = 0
    for handoff in herald.handoffs.all():
        if handoff.order <= cursor:
            continue
        now = herald.clock()
        shown = json.loads(handoff.to_json())
        shown.pop("note", None)  # free text ("call me on +1555…"): not sent out
        try:
            step = sink.handle_handoff(shown, now)
        except Exception:
            log.exception("follower %s failed on handoff %s", sink_name, handoff.id)
            herald.due.arm(member, (now + FAILED_RETRY).timestamp(), only_earlier=False)
            return done
        if not step.done:
            herald.due.arm(member, (step.retry_at or now + FAILED_RETRY).timestamp(), only_earlier=False)
            return done
        herald.follow.advance_handoffs(sink_name, handoff.order)
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
    entries: list[tuple[str, float]] = []
    handoff_sinks = [name for name, sink in herald.followers.items() if isinstance(sink, HandoffSink)]
    if handoff_sinks:
        newest = max((h.order for h in herald.handoffs.all()), default=0)
        for sink in handoff_sinks:
            cursor, member = herald.follow.handoff_cursor(sink), keys.due_handoffs(sink)
            if cursor is not None and cursor < newest and member not in present:
                entries.append((member, now.timestamp()))
    ids = list(dict.fromkeys(herald.store.open_ids()
                             + herald.follow.resolved_since((now - REPAIR_RESOLVED_WITHIN).timestamp())))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for incident_id, (length, cursors) in zip(chunk, herald.follow.cursors(chunk, sinks)):
            for sink, cursor in zip(sinks, cursors):  # the lengths the commits wrote: no incident is read
                member = keys.due_follow(sink, incident_id)
                if cursor is not None and cursor < length and member not in present:
                    entries.append((member, now.timestamp()))
    return entries
