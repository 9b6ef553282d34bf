"""12. Scale-out through a Redis failover: 2 API processes and 3 workers against Redis with
Sentinel (a primary, a replica, three Sentinels), a 10,000-alert storm, and the primary's
redis-server killed (SIGKILL) in the middle of it.

2,000 Alertmanager webhooks of 5 alerts each, every one a new group (so a new incident),
are spread over both ``herald serve`` processes by two load generators of 8 connections
each, as fast as they are answered. Like Alertmanager, a sender sends a webhook again
(after 0.2 s) until it is answered 2xx. The policy's first tier is one person paged by
SMS, so every incident pages once (one round; the SMS rate window is off, so that every
page is its own message and can be told apart in the simulator's inbox). When about half
the incidents exist, the primary is killed; the Sentinels promote the replica and every
Herald process follows it. Once every incident has paged (or a bound passes) and the
inbox has been quiet for a while, it counts:

* alerts acknowledged with a 2xx that are in no stored incident (lost alerts);
* pages sent (the simulator's inbox), duplicate pages (one incident + person + channel +
  round in two messages), lost pages (an acknowledged incident with no page);
* recovery: from the kill to the replica answering as master, to the first 2xx of a
  webhook sent after the kill, and to the last page; throughput before and after the kill.

Run: ``python -m bench.run --only scaleout`` (``--quick``: 200 alerts). ``run_storm`` is
also what ``tests/faults/test_scaleout.py`` runs at a small size.
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.report import row
from bench.sentinel import SentinelRedis
from bench.stack import AM_HEADERS, Proc, Stack, answers, free_port, loadgen, unique_body, wait_for, weekly_calendar
from integrations import keys

NAME = "scaleout"
# Quiet for 40 s before counting: longer than the default send lease (15 s) and sweep (15 s).
FULL = {"webhooks": 2000, "alerts_per_webhook": 5, "people": 50, "apis": 2, "workers": 3, "connections": 8, "kill_at": 0.5,
        "settle": 300.0, "quiet": 40.0, "storm_limit": 900.0, "env": {}}
# The quick size also shortens the repair pass's period (the sweep) and the send lease, so
# that what the failover leaves undone is found in seconds. The lease stays long enough
# for a sent page's record to outlast a slow failover (two thirds of it: 8 s), and the
# inbox must be quiet for longer than a lease and a sweep before anything is counted —
# a page sent twice would come after its claim ran out.
QUICK = {"webhooks": 40, "alerts_per_webhook": 5, "people": 10, "apis": 2, "workers": 3, "connections": 4, "kill_at": 0.5,
         "settle": 90.0, "quiet": 15.0, "storm_limit": 120.0, "pause": 0.2,
         "env": {"HERALD_SWEEP_INTERVAL": "2", "HERALD_SWEEP_GRACE": "1", "HERALD_SEND_LEASE": "12"}}
CODE = re.compile(r"#(\d+)\b")


def write_config(directory: Path, people: int) -> Path:
    """``people`` people, each the one person of a policy's only tier, paged by SMS once
    (one round, the next tier never comes: there is none); the route sends an alert group
    labelled ``team="tNN"`` to person NN's policy. Many people rather than one keeps the
    pages apart: everything due for one person goes out bundled in one message."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    rule = "{page_tiers: 1, repeat: 0, ack_timeout: \"off\", business_hours_only: false}"
    sev = "{" + ", ".join(f"{s}: {rule}" for s in ("P0", "P1", "P2", "P3")) + "}"
    sms = "{" + ", ".join(f"{s}: [sms]" for s in ("P0", "P1", "P2", "P3")) + "}"
    lines = ["people:"]
    lines += [f'  - {{id: p{n:03d}, name: Person {n}, email: p{n:03d}@example.com, phone: "{phone(n)}"}}'
              for n in range(people)]
    lines += ["schedules:", "  - {name: primary, calendar: primary.ics, default_tier: L1}", "policies:"]
    lines += [f"  - {{name: team{n:03d}, severities: {sev}, tiers: [{{name: L1, people: [p{n:03d}], channels: {sms}}}]}}"
              for n in range(people)]
    lines += ["route:", "  policy: team000", "  routes:"]
    lines += [f'    - {{matchers: [\'team="t{n:03d}"\'], policy: team{n:03d}}}' for n in range(people)]
    path = directory / "herald.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def phone(n: int) -> str:
    return f"+1555020{n:04d}"


def bodies(people: int, alerts: int) -> list[str]:
    """One template per team; the load generator's request ``seq`` uses template
    ``seq % people`` (team ``seq % people``) and puts ``seq`` in the group and fingerprints."""
    out = []
    for n in range(people):
        body = json.loads(unique_body(alerts, service="db", alertname="ScaleOut"))
        for part in (body["commonLabels"], body["groupLabels"], *(a["labels"] for a in body["alerts"])):
            part["team"] = f"t{n:03d}"
        out.append(json.dumps(body))
    return out


def fingerprints(template: dict[str, Any], seq: int) -> list[str]:
    return [a["fingerprint"].replace("__SEQ__", str(seq)) for a in template["alerts"]]


def run_storm(size: dict[str, Any], workdir: Path, *, primary_config: dict[str, str] | None = None,
              log: Any = None) -> dict[str, Any]:
    """One storm with one failover; the raw figures (see the module's docstring)."""
    say = log or (lambda text: print(f"scaleout: {text}", file=sys.stderr, flush=True))
    templates = bodies(size["people"], size["alerts_per_webhook"])
    template = json.loads(templates[0])  # (the fingerprints are the same in every template)
    env = {"HERALD_RATE_LIMIT_SMS": "0", **size.get("env", {})}
    out: dict[str, Any] = {"config": {k: v for k, v in size.items()},
                           "alerts": size["webhooks"] * size["alerts_per_webhook"]}
    cluster = SentinelRedis(workdir / "redis", primary_config=primary_config)
    with Stack(workdir, env=env, sentinel=cluster) as stack:
        stack.with_config(write_config(workdir / "people", size["people"]))
        ports = [free_port() for _ in range(size["apis"])]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        stack.start_simulator(urls[0])
        stack.env["HERALD_PUBLIC_URL"] = urls[0]
        apis = []
        for n, port in enumerate(ports):
            proc = Proc(f"api{n + 1}", [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)], stack.env,
                        stack.workdir)
            stack.procs.append(proc)
            apis.append(proc)
        workers = []
        for n in range(size["workers"]):
            proc = Proc(f"worker{n + 1}", [sys.executable, "-m", "service.cli.main", "worker"], stack.env, stack.workdir)
            stack.procs.append(proc)
            workers.append(proc)
        for proc, url in zip(apis, urls):
            wait_for(lambda url=url: answers(url), 60, f"herald serve on {url}", proc)
        wait_for(lambda: stack.redis.scard("rq:workers") >= size["workers"], 60, "every RQ worker registered",
                 workers[0])
        say(f"{size['apis']} API processes and {size['workers']} workers up through Sentinel {cluster.addresses}")

        out["wait_cost"] = wait_cost(cluster, size.get("wait_probes", 500))
        share = size["webhooks"] // size["apis"]
        results: list[dict[str, Any]] = [{} for _ in urls]

        def send(n: int) -> None:
            count = share if n < size["apis"] - 1 else size["webhooks"] - share * n
            results[n] = loadgen({"port": ports[n], "path": "/api/v1/alertmanager", "headers": AM_HEADERS,
                                  "bodies": templates, "mode": "closed", "concurrency": size["connections"],
                                  "max_requests": count, "seq_start": share * n, "duration": size["storm_limit"],
                                  "record": True, "timeout": 30.0, "retry": True, "retry_delay": 0.2,
                                  "pause": size.get("pause", 0.0)},
                                 timeout=size["storm_limit"] + 90)

        senders = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(len(urls))]
        started = time.time()
        for t in senders:
            t.start()
        # The failover: once about ``kill_at`` of the incidents exist, SIGKILL the primary.
        primary = redis.Redis(host="127.0.0.1", port=cluster.primary.port, decode_responses=True)
        target = int(size["webhooks"] * size["kill_at"])
        wait_for(lambda: int(primary.get(keys.INCIDENT_SEQ) or 0) >= target, size["storm_limit"],
                 "the storm to reach the middle")
        lag = _replication_lag(primary, cluster)
        killed_at = time.time()
        old = cluster.kill_primary()
        primary.close()
        say(f"killed the primary (port {old.port}) at {killed_at - started:.1f} s; replica {lag}")
        new_port = cluster.wait_promoted(old.port, timeout=60)
        promoted_at = time.time()
        say(f"replica on port {new_port} promoted after {promoted_at - killed_at:.1f} s")
        for t in senders:
            t.join(timeout=size["storm_limit"] + 120)
        storm_done = time.time()
        records = [r for res in results for r in res.get("records", [])]
        acked = {seq: json.loads(b) for seq, _w, _l, status, b in records if 200 <= status < 300 and b}
        acked_ids = {seq: str(found["incidents"][0]["id"]) for seq, found in acked.items() if found.get("incidents")}
        say(f"storm done in {storm_done - started:.1f} s: {len(acked)} of {size['webhooks']} webhooks answered 2xx")

        # Settle: every acknowledged incident paged (or the bound), then the inbox quiet.
        assert stack.sim is not None
        deadline = time.monotonic() + size["settle"]
        last_count, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            inbox = _inbox(stack)
            paged = {i for m in inbox for i in CODE.findall(m.body)}
            count = len(inbox)
            if count != last_count:
                last_count, quiet_since = count, time.monotonic()
            quiet = time.monotonic() - quiet_since
            if quiet >= size["quiet"] and (set(acked_ids.values()) <= paged or quiet >= 2 * size["quiet"]):
                break  # (a bundle's text may not name them all: then twice the quiet time)
            time.sleep(0.5)
        settled_at = time.time()
        inbox = _inbox(stack)
        client = stack.redis
        all_ids = sorted(set(client.zrange(keys.INCIDENTS_ALL, 0, -1)) | set(acked_ids.values()), key=int)
        stored = _incidents(client, all_ids)
        outputs = {p.name: p.output(1500) for p in stack.procs}
    cluster_log = _tail(old.directory / "redis.log")

    # -- alerts: every fingerprint of a webhook answered 2xx is in a stored incident
    stored_fps = {fp for inc in stored.values() for fp in inc.alerts}
    acked_fps = {fp: seq for seq in acked for fp in fingerprints(template, seq)}
    lost_alerts = sorted(fp for fp in acked_fps if fp not in stored_fps)
    lost_webhooks = sorted({acked_fps[fp] for fp in lost_alerts})
    # -- pages: each message's incidents, from Herald's timelines (by provider id) and its text
    recorded: dict[str, set[tuple[str, int]]] = {}
    for inc in stored.values():
        for e in inc.timeline:
            if e.kind == "page" and e.details.get("provider_id") and e.details.get("outcome", "sent") == "sent":
                recorded.setdefault(e.details["provider_id"], set()).add((inc.id, int(e.details.get("round", 1))))
    carried: dict[tuple[str, int, str, str], list[str]] = {}
    unrecorded = []
    for m in inbox:
        pages = set(recorded.get(m.provider_id, set()))
        if not pages:  # sent, but no timeline has it: what its text names (one round here)
            unrecorded.append(m.provider_id)
            pages = {(i, 1) for i in CODE.findall(m.body)}
        for incident_id, round_ in pages:
            carried.setdefault((incident_id, round_, m.to, m.channel), []).append(m.provider_id)
    duplicates = {f"{k[0]}/{k[1]}/{k[3]}": v for k, v in carried.items() if len(v) > 1}
    should_page = set(acked_ids.values()) | {i for i in stored}  # every incident of this storm pages
    paged_ids = {k[0] for k in carried}
    lost_pages = sorted(should_page - paged_ids, key=int)
    in_timeline = {i for i, inc in stored.items() if any(e.kind == "page" and e.details.get("provider_id")
                                                          for e in inc.timeline)}
    # -- times
    answered = sorted((w + (lat or 0), w, status) for _s, w, lat, status, _b in records)
    # A webhook first sent after the kill: its 2xx needs the new master.
    first_ok_after = min((end for end, w, st in answered if 200 <= st < 300 and w >= killed_at), default=None)
    first_try: dict[int, float] = {}
    done_at: dict[int, float] = {}
    for seq, w, lat, status, _b in records:
        first_try[seq] = min(first_try.get(seq, w), w)
        if 200 <= status < 300:
            done_at[seq] = w + (lat or 0)
    waits = [done_at[seq] - first_try[seq] for seq in done_at]
    failed_attempts = [(end, st) for end, w, st in answered if not 200 <= st < 300]
    ok_times = [end for end, _w, st in answered if 200 <= st < 300]
    before = [t for t in ok_times if t < killed_at]
    after = [t for t in ok_times if first_ok_after is not None and t >= first_ok_after]
    page_times = sorted(m.time for m in inbox)
    pages_after_kill = [t for t in page_times if t >= killed_at]
    apw = size["alerts_per_webhook"]
    out.update({
        "webhooks": size["webhooks"], "webhooks_acked": len(acked),
        "webhook_attempts": len(records), "webhook_failed_attempts": len(failed_attempts),
        "webhook_statuses": _count(str(st) for _e, st in failed_attempts),
        "sender_retries": sum(r.get("retries", 0) for r in results),
        "alerts_acked": len(acked_fps), "alerts_lost": len(lost_alerts), "webhooks_lost": len(lost_webhooks),
        "lost_webhook_seqs": lost_webhooks[:20],
        "incidents_acked": len(set(acked_ids.values())), "incidents_stored": len(stored),
        "incidents_created_after_kill": sum(1 for i in stored.values() if i.created_at.timestamp() >= killed_at),
        "pages_sent": len(inbox), "pages_carried": len(carried), "pages_unrecorded": len(unrecorded), "unrecorded_provider_ids": unrecorded[:10],
        "duplicate_pages": sum(len(v) - 1 for v in duplicates.values()), "duplicates": dict(list(duplicates.items())[:20]),
        "lost_pages": len(lost_pages), "lost_page_incidents": lost_pages[:20],
        "incidents_paged_in_timeline": len(in_timeline),
        "replication_at_kill": lag,
        "promoted_s": promoted_at - killed_at,
        "first_2xx_after_kill_s": (first_ok_after - killed_at) if first_ok_after else None,
        "longest_webhook_wait_s": max(waits, default=None),
        "last_page_after_kill_s": (page_times[-1] - killed_at) if pages_after_kill else None,
        "storm_s": storm_done - started, "settled_s": settled_at - started,
        "alerts_per_s": len(acked_fps) / max(1e-9, (max(ok_times, default=started) - started)),
        "alerts_per_s_before_kill": len(before) * apw / max(1e-9, killed_at - started),
        "alerts_per_s_after_recovery": (len(after) * apw / max(1e-9, after[-1] - after[0])) if len(after) > 1 else None,
        "pages_per_s": (len(page_times) / max(1e-9, page_times[-1] - page_times[0])) if len(page_times) > 1 else None,
        "logs": outputs if (lost_alerts or duplicates or lost_pages) else {},
        "old_primary_log": cluster_log if (lost_alerts or duplicates or lost_pages) else "",
    })
    out["goal_met"] = out["alerts_lost"] == 0 and out["duplicate_pages"] == 0 and out["lost_pages"] == 0
    say(f"alerts lost {out['alerts_lost']}, pages {out['pages_sent']}, duplicates {out['duplicate_pages']}, "
        f"lost pages {out['lost_pages']}, unrecorded {out['pages_unrecorded']}")
    return out


def wait_cost(cluster: SentinelRedis, n: int) -> dict[str, Any]:
    """What ``WAIT 1`` would cost a commit: ``n`` writes of an incident-sized value
    answered by the primary alone, against the same writes each followed by ``WAIT 1``
    (returns once the replica has them: an acknowledged write that survives a failover)."""
    from bench.report import pct

    client = redis.Redis(host="127.0.0.1", port=cluster.primary.port)
    value = b"x" * 4000
    alone, waited, acked = [], [], 0
    try:
        for i in range(n):
            t0 = time.perf_counter()
            client.set(f"bench:wait:{i}", value)
            alone.append(time.perf_counter() - t0)
        for i in range(n):
            t0 = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            pipe.set(f"bench:wait:{i}", value)
            pipe.execute_command("WAIT", 1, 1000)
            acked += int(pipe.execute()[1])
            waited.append(time.perf_counter() - t0)
        client.delete(*[f"bench:wait:{i}" for i in range(n)])
    finally:
        client.close()
    return {"writes": n, "alone_p50_ms": pct(alone, 50) * 1000, "alone_p99_ms": pct(alone, 99) * 1000,
            "wait_p50_ms": pct(waited, 50) * 1000, "wait_p99_ms": pct(waited, 99) * 1000, "replica_acked": acked}


def _replication_lag(primary: redis.Redis, cluster: SentinelRedis) -> dict[str, Any]:
    """How far the replica was behind, read just before the kill: bytes of the replication
    stream the primary had written and the replica had not yet processed."""
    try:
        mine = int(primary.info("replication")["master_repl_offset"])
        replica = next(s for s in cluster.servers if s.port != cluster.primary.port)
        theirs = redis.Redis(host="127.0.0.1", port=replica.port, decode_responses=True)
        try:
            seen = int(theirs.info("replication")["slave_repl_offset"])
        finally:
            theirs.close()
        return {"primary_offset": mine, "replica_behind_bytes": max(0, mine - seen)}
    except (redis.RedisError, KeyError, ValueError, StopIteration):
        return {}


def _inbox(stack: Stack) -> list[Any]:
    assert stack.sim is not None
    return [m for m in list(stack.sim.messages) if m.direction == "outbound"]


def _incidents(client: redis.Redis, ids: list[str]) -> dict[str, Any]:
    from bench.stack import incidents

    return incidents(client, ids)


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    size = QUICK if quick else FULL
    out = run_storm(size, workdir / NAME)
    lost_note = "" if out["alerts_lost"] == 0 else f"LOST: webhooks {out['lost_webhook_seqs']}"
    rows = [
        row(NAME, f"alerts lost after a 2xx ({size['webhooks']} webhooks, {size['apis']} APIs, {size['workers']} "
                  f"workers, primary killed mid-storm)", out["alerts_lost"], f"of {out['alerts_acked']} acknowledged",
            goal="0", met=out["alerts_lost"] == 0,
            note=f"{out['webhooks_acked']} of {size['webhooks']} webhooks 2xx after {out['sender_retries']} re-sends"
                 + (f"; {lost_note}" if lost_note else "")),
        row(NAME, "SMS sent (simulator inbox)", out["pages_sent"], f"for {out['incidents_stored']} incidents",
            note=f"carrying {out['pages_carried']} pages (one person's due pages go out bundled); "
                 f"{out['pages_unrecorded']} not on any timeline"),
        row(NAME, "duplicate pages (incident+person+channel+round twice)", out["duplicate_pages"], "", goal="0",
            met=out["duplicate_pages"] == 0),
        row(NAME, "lost pages (acknowledged incident never paged)", out["lost_pages"], "", goal="0",
            met=out["lost_pages"] == 0),
        row(NAME, "kill → replica promoted", out["promoted_s"], "s",
            note=f"down-after-milliseconds 1000; replica {out['replication_at_kill'].get('replica_behind_bytes')} "
                 "bytes behind at the kill"),
        row(NAME, "kill → first 2xx of a webhook first sent after it", out["first_2xx_after_kill_s"], "s"),
        row(NAME, "longest a webhook took from its first attempt to its 2xx", out["longest_webhook_wait_s"], "s"),
        row(NAME, "kill → last page", out["last_page_after_kill_s"], "s"),
        row(NAME, "alerts acknowledged per second after recovery", out["alerts_per_s_after_recovery"], "alerts/s",
            baseline=out["alerts_per_s_before_kill"], baseline_name="before the kill",
            note=f"{out['alerts_per_s']:.0f} alerts/s over the whole storm"),
        row(NAME, "SMS per second (first to last)", out["pages_per_s"], "SMS/s"),
        row(NAME, "a write followed by WAIT 1 (the replica has it), p50", out["wait_cost"]["wait_p50_ms"], "ms",
            baseline=out["wait_cost"]["alone_p50_ms"], baseline_name="the write alone",
            note=f"p99 {out['wait_cost']['wait_p99_ms']:.2f} ms against {out['wait_cost']['alone_p99_ms']:.2f} ms; "
                 f"{out['wait_cost']['writes']} writes of 4 kB, before the storm"),
    ]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.scaleout [--quick]
    import tempfile

    result = run("--quick" in sys.argv, Path(tempfile.mkdtemp()))
    print(json.dumps({k: v for k, v in result.items() if k != "logs"}, indent=2, default=str))
