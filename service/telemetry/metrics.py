"""Prometheus metrics for Herald, in their own registry (``REGISTRY``), all ``herald_*``.

Incident, page and escalation events happen in RQ's forked work horses as much as in the
API, so they are ``Shared``: counted in one Redis hash, one cluster-wide total that the
API exports — aggregate with ``max`` over API instances, never ``sum``. Webhook, sweep
and calendar metrics are each process's own. The API serves ``GET /metrics``
(``router``); a worker serves ``/metrics`` and ``/healthz`` on a port of its own
(``start_worker_metrics_server``). Redis gauges are read at scrape time (``observe``).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from rq import Queue

from integrations.status_store import StatusStore
from service.redis_clients import connect_url

log = logging.getLogger("herald.metrics")
REGISTRY = CollectorRegistry()
_SEP = "\x1f"
SEVERITIES = ("P0", "P1", "P2", "P3")
CHANNELS = ("voice", "sms", "email", "slack", "console")
PAGE_OUTCOMES = ("sent", "retry", "failed", "deferred")
REJECT_REASONS = ("unauthorized", "too_large", "invalid_payload", "storage_unavailable")
INBOUND_EVENT_KINDS = ("twilio-sms", "twilio-keypress", "twilio-status", "sendgrid-event", "slack-action", "slack-command")
#: Why the API cut a connection or a request off (service/api/server.py).
HTTP_REFUSAL_REASONS = ("header_timeout", "body_timeout", "client_limit", "connection_limit", "invalid_request",
                        "out_of_files")
#: A heartbeat younger than this counts a worker as alive; work overdue by more is "overdue".
ALIVE_WITHIN = 90.0
OVERDUE_AFTER = 60.0
_writer: StatusStore | None = None
_last_sweep = 0.0
_observed: list[Collector] = []


class Shared:
    """A counter (with ``buckets``: a histogram) totalled in Redis. ``labels(...).inc()`` /
    ``.observe(v)`` as in prometheus_client; a Redis error drops the event, never raises."""

    all: list["Shared"] = []

    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = (), presets: Sequence[tuple[str, ...]] = (),
                 buckets: Sequence[float] = ()) -> None:
        self.name, self.doc, self.labelnames = name, doc, tuple(labelnames)
        self.presets, self.buckets = list(presets) or ([()] if not labelnames else []), tuple(buckets)
        Shared.all.append(self)

    def labels(self, **labels: str) -> Any:
        values = tuple(str(labels[n]) for n in self.labelnames)
        return SimpleNamespace(inc=lambda amount=1.0: self.inc(amount, values),
                               observe=lambda value: self.observe(value, values))

    def inc(self, amount: float = 1.0, values: tuple[str, ...] = ()) -> None:
        _record(self.increments(amount, values))

    def observe(self, value: float, values: tuple[str, ...] = ()) -> None:
        _record(self.observations(value, values))

    def increments(self, amount: float = 1.0, values: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        """The hash fields and amounts ``inc`` adds."""
        return [(_SEP.join((self.name, *values)), amount)]

    def observations(self, value: float, values: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        """The hash fields and amounts ``observe`` adds."""
        le = floatToGoString(next((b for b in self.buckets if value <= b), math.inf))
        return [(_SEP.join((self.name, *values, le)), 1.0), (_SEP.join((self.name, *values, "sum")), value)]

    def family(self, data: dict[str, str]) -> Metric:
        series: dict[tuple[str, ...], dict[str, float]] = {values: {} for values in self.presets}
        width = len(self.labelnames)
        for field, raw in data.items():
            parts = field.split(_SEP)
            if parts[0] == self.name and len(parts) == 1 + width + (1 if self.buckets else 0):
                series.setdefault(tuple(parts[1:1 + width]), {})[parts[-1] if self.buckets else ""] = float(raw)
        kind = HistogramMetricFamily if self.buckets else CounterMetricFamily
        family = kind(self.name, self.doc, labels=self.labelnames)
        for values, got in sorted(series.items()):
            if not self.buckets:
                family.add_metric(list(values), got.get("", 0.0))
                continue
            running, cumulative = 0.0, []
            for le in (*self.buckets, math.inf):
                running += got.get(floatToGoString(le), 0.0)
                cumulative.append((floatToGoString(le), running))
            family.add_metric(list(values), cumulative, got.get("sum", 0.0))
        return family


def _record(increments: list[tuple[str, float]]) -> None:
    if _writer is None:
        return
    try:
        _writer.add_to_totals(increments)
    except redis.RedisError as exc:
        log.debug("metric not recorded: %s", type(exc).__name__)


_R = {"registry": REGISTRY}
WEBHOOKS = Counter("herald_webhooks_received", "Alertmanager webhooks received by this API instance.", **_R)
WEBHOOKS_REJECTED = Counter("herald_webhooks_rejected", "Alertmanager webhooks answered with an error.",
                            ["reason"], **_R)
REPLIES_REFUSED = Counter("herald_replies_refused", "SMS replies, keypresses and Slack actions refused: the person was not paged "
                          "for the incident, not on call for its policy, not a responder.", ["channel"], **_R)
EVENTS_REPLAYED = Counter("herald_provider_events_replayed", "Inbound provider events seen before (a replay or a "
                          "provider's retry), answered 200 and ignored.", ["kind"], **_R)
HTTP_REFUSED = Counter("herald_http_refused", "Connections and requests this API process cut off, by reason: a "
                       "request head or body too slow, a client over its connection cap, the connection limit "
                       "reached, a malformed request, an accept that found no free file.", ["reason"], **_R)
SIGNINS = Counter("herald_console_signins", "Personal sign-ins to the console by method (code, oidc) and outcome: "
                  "ok, wrong (a wrong code), refused (too many wrong codes, or the provider's answer did not "
                  "name a person here).", ["method", "outcome"], **_R)
HTTP_CONNECTIONS = Gauge("herald_http_connections", "Open HTTP connections of this API process, idle ones included.",
                         **_R)
_SEV = [(s,) for s in SEVERITIES]
INCIDENTS_OPENED = Shared("herald_incidents_opened", "Incidents opened.", ["severity"], _SEV)
INCIDENTS_ACKNOWLEDGED = Shared("herald_incidents_acknowledged", "Incidents acknowledged.", ["severity"], _SEV)
INCIDENTS_RESOLVED = Shared("herald_incidents_resolved", "Incidents resolved.", ["severity"], _SEV)
PAGES = Shared("herald_pages", "Page attempts by channel and outcome (sent, retry, failed, deferred).",
               ["channel", "outcome"], [(c, o) for c in CHANNELS for o in PAGE_OUTCOMES])
ESCALATIONS = Shared("herald_escalations", "Escalation rounds started, by the tier paged.", ["tier"])
TIME_TO_ACK = Shared("herald_time_to_acknowledge_seconds", "From incident opened to acknowledged.", ["severity"],
                     _SEV, buckets=(10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600))
ESCALATION_LATENESS = Shared("herald_escalation_lateness_seconds", "How long after its due time an escalation ran.",
                             buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
CALENDAR_LOADS = Counter("herald_calendar_loads", "Calendars loaded and parsed by this process.", ["schedule"], **_R)
CALENDAR_FAILURES = Counter("herald_calendar_load_failures", "Calendar loads that failed.", ["schedule"], **_R)
COVERAGE_GAP = Gauge("herald_coverage_gap_seconds", "Seconds until the next gap in coverage (0: in one; +Inf: "
                     "none ahead).", ["schedule", "tier"], **_R)
SWEEPS = Counter("herald_sweeps", "Sweeps run by this worker, by outcome (ok, error).", ["outcome"], **_R)
INCIDENTS_PURGED = Counter("herald_incidents_purged", "Resolved incidents this worker removed after their "
                           "retention (HERALD_RETENTION_DAYS).", **_R)
SWEEP_LAST = Gauge("herald_sweep_last_run_timestamp_seconds", "When this process last finished a sweep.", **_R)
for _reason in REJECT_REASONS:
    WEBHOOKS_REJECTED.labels(reason=_reason)
for _outcome in ("ok", "error"):
    SWEEPS.labels(outcome=_outcome)
for _channel in ("sms", "voice", "slack"):
    REPLIES_REFUSED.labels(channel=_channel)
for _kind in INBOUND_EVENT_KINDS:
    EVENTS_REPLAYED.labels(kind=_kind)
for _reason in HTTP_REFUSAL_REASONS:
    HTTP_REFUSED.labels(reason=_reason)


# -- helpers the core calls ---------------------------------------------------------------
def transition_counts(previous: Any, current: Any) -> list[tuple[str, float]]:
    """What one committed incident change adds to the shared counters, as (hash field,
    amount) pairs the store writes in the same atomic commit. ``previous``/``current``
    are ``routing.incident.Incident`` (or None)."""
    if current is None:
        return []
    out: list[tuple[str, float]] = []
    severity, fresh = current.severity, previous is None or previous.id != current.id
    before = None if fresh else previous.status
    if fresh and current.status == "triggered":
        out += INCIDENTS_OPENED.increments(1.0, (severity,))
    if before != "acknowledged" and current.status == "acknowledged" and current.acknowledged_at:
        out += INCIDENTS_ACKNOWLEDGED.increments(1.0, (severity,))
        out += TIME_TO_ACK.observations(max(0.0, (current.acknowledged_at - current.created_at).total_seconds()),
                                        (severity,))
    if before != "resolved" and current.status == "resolved":
        out += INCIDENTS_RESOLVED.increments(1.0, (severity,))
    if current.round > (0 if fresh else previous.round):
        for tier in sorted({p.tier for p in current.pages if p.round == current.round} or {"none"}):
            out += ESCALATIONS.increments(1.0, (tier,))
    return out


def observe_escalation_lateness(due: datetime, ran: datetime) -> None:
    ESCALATION_LATENESS.observe(max(0.0, (ran - due).total_seconds()))


def set_coverage_gap(schedule: str, tier: str, seconds: float | None) -> None:
    """``seconds`` until the next gap; ``None`` when there is none within the horizon."""
    COVERAGE_GAP.labels(schedule=schedule, tier=tier).set(math.inf if seconds is None else max(0.0, seconds))


def sweep_finished(ok: bool) -> None:
    """Call after every sweep, failed or not: it feeds the worker's ``/healthz``."""
    global _last_sweep
    _last_sweep = time.time()
    SWEEPS.labels(outcome="ok" if ok else "error").inc()
    SWEEP_LAST.set(_last_sweep)


# -- read at scrape time ----------------------------------------------------------------------
_UP = "1 when this process reached Redis at scrape time."


class RedisStateCollector(Collector):
    """``herald_redis_up``; open incidents, overdue work, live workers; the shared totals."""

    def __init__(self, status: StatusStore, clock: Any = time.time) -> None:
        self.status, self.clock = status, clock

    def collect(self) -> Iterator[Metric]:
        try:
            found = self.status.snapshot(self.clock(), overdue_after=OVERDUE_AFTER, alive_within=ALIVE_WITHIN)
        except redis.RedisError:
            yield GaugeMetricFamily("herald_redis_up", _UP, value=0)
            return
        opened, overdue, alive, waiting, stored = (found.incidents_open, found.work_overdue, found.workers_alive,
                                                   found.due_waiting, found.incidents_stored)
        yield GaugeMetricFamily("herald_redis_up", _UP, value=1)
        yield from _memory(self.status)
        yield GaugeMetricFamily("herald_incidents_open", "Incidents not yet resolved.", value=opened)
        yield GaugeMetricFamily("herald_incidents_stored", "Incidents in Redis, open and resolved (resolved ones "
                                "stay HERALD_RETENTION_DAYS).", value=stored)
        yield GaugeMetricFamily("herald_work_overdue", f"Incidents with pages or an escalation overdue by more "
                                f"than {OVERDUE_AFTER:g} s.", value=overdue)
        yield GaugeMetricFamily("herald_workers_alive", f"Workers that ran their repair pass within {ALIVE_WITHIN:g} s.", value=alive)
        yield GaugeMetricFamily("herald_due_waiting", "Entries of the due index due now and not yet claimed by a "
                                "worker's clock loop.", value=waiting)
        for metric in Shared.all:
            yield metric.family(dict(found.totals))


def _memory(status: StatusStore) -> Iterator[Metric]:
    """Used and maximum bytes; absent when INFO is refused (a Redis user without it)."""
    try:
        used, limit = status.memory()
    except redis.RedisError:
        return
    yield GaugeMetricFamily("herald_redis_memory_used_bytes", "Redis used_memory (INFO memory).", value=used)
    yield GaugeMetricFamily("herald_redis_memory_max_bytes", "Redis maxmemory (0: no limit set; with noeviction "
                            "Redis refuses writes once used reaches it).", value=limit)


class QueueCollector(Collector):
    """``herald_rq_jobs{queue,state}`` for one ``rq.Queue`` (no registry cleanup on scrape)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        q, family = self.queue, GaugeMetricFamily("herald_rq_jobs", "RQ jobs by state.", labels=["queue", "state"])
        try:
            counts = {"queued": q.count, **{state: registry.get_job_count(cleanup=False) for state, registry in (
                ("scheduled", q.scheduled_job_registry), ("started", q.started_job_registry),
                ("deferred", q.deferred_job_registry), ("failed", q.failed_job_registry))}}
        except redis.RedisError:
            return  # herald_redis_up says why
        for state, count in counts.items():
            family.add_metric([q.name, state], count)
        yield family


class CalendarCollector(Collector):
    """Per schedule: a rotation in force, the source failing, shifts, skipped events, an
    upload awaited, last good answer."""

    DOCS = {"loaded": "1 when a rotation is in force.", "shifts": "Shifts in the loaded window.",
            "error": "1 while the source fails (the last good copy is in force).",
            "skipped_events": "Events of the copy in force skipped as unusable (the rest is in force).",
            "awaiting_upload": "1 while a schedule that takes uploads waits for its first one (no error).",
            "last_success_timestamp_seconds": "When the source last answered with a good copy."}

    def __init__(self, book: Any) -> None:
        self.book = book

    def collect(self) -> Iterator[Metric]:
        out = {k: GaugeMetricFamily(f"herald_calendar_{k}", doc, labels=["schedule"]) for k, doc in self.DOCS.items()}
        for name, status in list(self.book.status.items()):
            out["loaded"].add_metric([name], 1 if self.book.rotation(name) is not None else 0)
            out["error"].add_metric([name], 1 if status.error else 0)
            out["shifts"].add_metric([name], status.shifts)
            problems = getattr(status, "problems", ())
            out["skipped_events"].add_metric([name], sum(1 for p in problems if p.kind == "skipped_event"))
            awaiting = (getattr(status, "source", None) == "upload" and getattr(status, "sha256", None) is None
                        and not status.error)
            out["awaiting_upload"].add_metric([name], 1 if awaiting else 0)
            answered = getattr(status, "checked_at", None) or status.loaded_at
            if answered is not None:
                out["last_success_timestamp_seconds"].add_metric([name], answered.timestamp())
        yield from out.values()


class PeopleCollector(Collector):
    """Contacts by kind and state; people with no verified contact, and those on call now
    (``gauges``: service.engine.people.gauges of the running Herald, read at scrape time)."""

    def __init__(self, gauges: Any) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        try:
            found = self.gauges()
        except redis.RedisError:
            return  # herald_redis_up says why
        family = GaugeMetricFamily("herald_contacts", "People's contacts by kind and state (unverified, verified, "
                                   "failing, opted_out).", labels=["kind", "state"])
        for (kind, state), count in sorted(found["contacts"].items()):
            family.add_metric([kind, state], count)
        yield family
        yield GaugeMetricFamily("herald_people_unverified", "People with no verified contact (seeded contacts are "
                                "still paged).", value=found["unverified"])
        yield GaugeMetricFamily("herald_oncall_unverified", "People on call now with no verified contact: a "
                                "coverage problem.", value=found["oncall_unverified"])


def observe(*, redis_url: str | None = None, export: bool = True, queue_name: str | None = None,
            calendars: Any = None, people: Any = None) -> None:
    """Record ``Shared`` events in ``redis_url``; with ``export``, export them, the Redis gauges
    and RQ's ``queue_name``; report ``calendars`` and ``people`` (a callable answering the
    people gauges). API: all; worker: ``export=False``."""
    global _writer
    # Fail fast (no retries, 1-2 s timeouts): neither a scrape nor a job may hang on metrics.
    client = connect_url(redis_url, socket_timeout=2, socket_connect_timeout=1, fail_fast=True) if redis_url else None
    old, _writer = _writer, StatusStore(client) if client is not None else None
    for collector in _observed:
        REGISTRY.unregister(collector)
    _observed.clear()
    if _writer is not None and export:
        _observed.append(RedisStateCollector(_writer))
        if queue_name:
            _observed.append(QueueCollector(Queue(queue_name, connection=client)))
    if calendars is not None:
        _observed.append(CalendarCollector(calendars))
    if people is not None and export:
        _observed.append(PeopleCollector(people))
    for collector in _observed:
        REGISTRY.register(collector)  # no describe(): registered without a clash check or a scrape
    if old is not None:
        old.close()


# -- exposition ----------------------------------------------------------------------------------
router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:  # sync: the collectors block on Redis, so this runs in the threadpool
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


def start_worker_metrics_server(port: int, addr: str = "0.0.0.0", *,
                                max_sweep_age: float = 120.0) -> ThreadingWSGIServer:
    """Serve ``/metrics`` and ``/healthz`` on a daemon thread (port 0: any free one);
    ``/healthz`` is 503 once no sweep finished for ``max_sweep_age`` s (counted from start)."""
    started, exposition = time.time(), make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/healthz":
            return exposition(environ, start_response)
        age = time.time() - max(started, _last_sweep)
        ok = age <= max_sweep_age
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
        return [f"{'ok' if ok else 'sweep stalled'}: last sweep {age:.0f}s ago\n".encode()]

    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="herald-metrics", daemon=True).start()
    return server
