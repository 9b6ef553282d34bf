"""7. Retention: Redis memory per incident, and what the purge gives back.

Herald runs in this process against the benchmark's private Redis, with the provider
simulator behind the real Twilio SDK, and a clock the benchmark sets. Each incident lives
a realistic life two days in the past: a webhook of ``alerts`` firing alerts, its due entry
pages alice by SMS, an hour later the escalation pages bob, bob acknowledges with a note,
Alertmanager resolves it. Then the clock is set to now and the retention purge removes
them all (``HERALD_RETENTION_DAYS=1``: the retention does not change the sizes).

Figures, each against a baseline of the same run:

- ``used_memory`` growth per incident (every key and index entry it wrote, the short-lived
  ones — ack links, provider message records — included), against ``MEMORY USAGE`` of
  its record alone: the rest is indexes, group pointer and digest, send-log, TTL'd keys.
- what the incident keeps for the whole retention (``MEMORY USAGE`` of its record, group
  pointer, digest and send-log slots) against the record of a 1-alert incident; the same
  for incidents of 20 alerts against that (the per-alert cost is the difference).
- ``used_memory`` after the purge (and after the keys with a TTL have run out, which the
  benchmark does by deleting them) against before the first incident, and what is left
  per purged incident against what one kept: about nothing but the SLA month totals.
  RQ's jobs are left out of every figure: nothing runs them here; in a deployment they
  run and expire.
- purge time per incident against the webhook's in-process write of one.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.report import row
from bench.stack import Stack, payload

NAME = "retention"
FULL = {"incidents": 2000, "alerts": 3, "wide_incidents": 200, "wide_alerts": 20}
QUICK = {"incidents": 12, "alerts": 3, "wide_incidents": 4, "wide_alerts": 20}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _webhook(group: str, alerts: int, status: str = "firing") -> Any:
    from routing.alertmanager import WebhookPayload

    body = payload(alerts, group)
    start = datetime.now(timezone.utc) - timedelta(days=3)
    for a in body["alerts"]:
        a["fingerprint"] += group
        a["startsAt"] = start.isoformat()
        if status == "resolved":
            a["status"], a["endsAt"] = "resolved", (start + timedelta(hours=2)).isoformat()
    body["status"] = status
    return WebhookPayload.model_validate(body)


def _life(herald: Any, clock: Clock, group: str, alerts: int) -> tuple[str, float]:
    """One incident from webhook to resolve; its id and the seconds its first write took."""
    from routing.incident import Acknowledge, Escalate
    from service.worker import due
    from service.engine.delivery import deliver
    from service.engine.ingest import ingest

    started = time.perf_counter()
    [ref] = ingest(herald, _webhook(group, alerts))
    took = time.perf_counter() - started
    incident_id = str(ref["id"])
    due.run_now(herald)
    clock.now += timedelta(hours=1)
    herald.act(incident_id, Escalate(round=1))
    deliver(herald, incident_id)
    clock.now += timedelta(minutes=2)
    herald.act(incident_id, Acknowledge(by="bob", via="sms", note="looking at it, disk cleanup running"))
    clock.now += timedelta(minutes=10)
    ingest(herald, _webhook(group, alerts, "resolved"))
    return incident_id, took


def _settled(client: Any) -> int:
    """``used_memory`` less the clients' buffers and the AOF buffer (the connections this
    process happens to hold are not data), without RQ's jobs: nothing runs them here; in a
    deployment they run and expire (result TTL 60 s)."""
    stale = list(client.scan_iter("rq:*"))
    if stale:
        client.delete(*stale)
    info = client.info("memory")
    return int(info["used_memory"]) - int(info.get("mem_clients_normal", 0)) - int(info.get("mem_aof_buffer", 0))


def _ttl_bytes(client: Any) -> int:
    """MEMORY USAGE of Herald's keys that expire by themselves (ack links, provider records …)."""
    return sum(int(client.memory_usage(k) or 0) for k in client.scan_iter("herald:*") if client.ttl(k) > 0)


def _kept_bytes(client: Any, incident: Any) -> int:
    """MEMORY USAGE of what the incident keeps for its whole retention."""
    from integrations import keys

    names = [keys.incident(incident.id), keys.group(incident.receiver, incident.group_key, incident.policy),
             keys.digest(incident.receiver, incident.group_key, incident.policy)]
    names += [keys.send_log(incident.id, p.round, p.person, p.channel) for p in incident.pages]
    return sum(int(client.memory_usage(name) or 0) for name in names)


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    from service.engine import retention
    from service.engine.runtime import Herald
    from service.settings import Settings

    size = QUICK if quick else FULL
    out: dict[str, Any] = {"config": {**size, "rate_limit_sms": 0}}
    with Stack(workdir / NAME, env={"HERALD_RATE_LIMIT_SMS": "0", "HERALD_RETENTION_DAYS": "1"}) as stack:
        stack.start_simulator("")
        settings = Settings(**{k.removeprefix("HERALD_").lower(): v for k, v in stack.env.items()
                               if k.startswith("HERALD_")})
        herald = Herald.from_settings(settings)
        try:
            now = datetime.now(timezone.utc)
            clock = Clock(now - timedelta(days=2))
            herald.clock = clock
            client = stack.redis
            _life(herald, clock, "warm-up", 1)  # scripts loaded, caches filled
            before, ttl_before = _settled(client), _ttl_bytes(client)
            ids, writes = [], []
            for n in range(size["incidents"]):
                clock.now = now - timedelta(days=2) + timedelta(seconds=n)
                incident_id, took = _life(herald, clock, f"g{n}", size["alerts"])
                ids.append(incident_id)
                writes.append(took)
            loaded, ttl_loaded = _settled(client), _ttl_bytes(client)
            incidents = [herald.store.get(i) for i in ids]
            records = [int(client.memory_usage(f"herald:incident:{i}") or 0) for i in ids]
            json_bytes = [int(client.strlen(f"herald:incident:{i}")) for i in ids]
            kept = [_kept_bytes(client, i) for i in incidents if i is not None]
            wide = []
            for n in range(size["wide_incidents"]):
                clock.now = now - timedelta(days=2) + timedelta(seconds=n)
                incident_id, _ = _life(herald, clock, f"w{n}", size["wide_alerts"])
                wide.append(_kept_bytes(client, herald.store.get(incident_id)))
            clock.now = now
            started, purged = time.perf_counter(), 0
            while (done := retention.purge(herald, now)) > 0:
                purged += done
            purge_seconds = time.perf_counter() - started
            for key in client.scan_iter("herald:*"):  # as if the TTL'd keys had run out
                if client.ttl(key) > 0:
                    client.delete(key)
            time.sleep(1.0)  # Redis's cron shrinks the keyspace's tables the deletes emptied
            after = _settled(client)
            left = sum(1 for i in ids if herald.store.get(i) is not None)
            one_alert = _life(herald, clock, "one-alert", 1)[0]
            one_record = int(client.memory_usage(f"herald:incident:{one_alert}") or 0)
        finally:
            herald.close()
    n = len(ids)
    mean = lambda values: sum(values) / len(values) if values else 0.0  # noqa: E731
    per_incident = (loaded - before) / n
    per_alert = (mean(wide) - mean(kept)) / (size["wide_alerts"] - size["alerts"])
    out.update({"before_used_memory": before, "loaded_used_memory": loaded, "after_purge_used_memory": after,
                "used_memory_per_incident": per_incident, "record_memory_usage": mean(records),
                "record_json_bytes": mean(json_bytes), "kept_per_incident": mean(kept),
                "kept_per_wide_incident": mean(wide), "kept_per_extra_alert": per_alert,
                "one_alert_record": one_record, "purged": purged, "left_after_purge": left,
                "purge_ms_per_incident": 1000 * purge_seconds / max(1, purged),
                "webhook_write_ms": 1000 * mean(writes),
                "ttl_bytes_per_incident": (ttl_loaded - ttl_before) / n})
    out["rows"] = [
        row(NAME, f"Redis used_memory per resolved incident ({size['alerts']} alerts, 2 SMS, escalated, acked, "
            "resolved; TTL'd keys included)", per_incident / 1024, "KiB", baseline=mean(records) / 1024,
            baseline_name="MEMORY USAGE of its record alone",
            note=f"record JSON {mean(json_bytes) / 1024:.2f} KiB; of it {(ttl_loaded - ttl_before) / n / 1024:.2f} KiB "
                 "in keys that expire by themselves within 7 days"),
        row(NAME, "kept for the whole retention (record, group pointer, digest, send-log; MEMORY USAGE)",
            mean(kept) / 1024, "KiB", baseline=one_record / 1024, baseline_name="record of a 1-alert incident"),
        row(NAME, f"kept for the retention, {size['wide_alerts']} alerts", mean(wide) / 1024, "KiB",
            baseline=mean(kept) / 1024, baseline_name=f"{size['alerts']} alerts",
            note=f"{per_alert:.0f} bytes per extra alert"),
        row(NAME, f"used_memory after purging {purged:,} incidents", after / 2**20, "MiB", baseline=before / 2**20,
            baseline_name="before the first incident",
            note=f"{left} incidents left; what stays is the SLA month totals and Redis's own tables"),
        row(NAME, "used_memory left behind per purged incident", max(0.0, after - before) / max(1, purged), "bytes",
            baseline=mean(kept), baseline_name="what one kept", goal="≤ 2 %",
            met=left == 0 and max(0.0, after - before) / max(1, purged) <= 0.02 * mean(kept)),
        row(NAME, "purge time per incident", 1000 * purge_seconds / max(1, purged), "ms",
            baseline=1000 * mean(writes), baseline_name="the webhook's in-process write of one"),
    ]
    return out


if __name__ == "__main__":
    import sys
    import tempfile

    from bench.report import markdown

    print(markdown(run("--quick" in sys.argv, Path(tempfile.mkdtemp(prefix="herald-bench-")))["rows"]))
