"""What Herald reports about its own state in Redis — for ``/readyz``, ``/metrics``, the
CLI and ``herald dev`` — and the cluster-wide metric totals (``keys.METRICS``): live
workers (``keys.WORKER_HEARTBEAT``), Redis's memory, open and stored incidents, overdue
work, the due index, and whether this Redis holds any Herald data at all."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from integrations import keys


@dataclass(frozen=True)
class Snapshot:
    """One round trip's worth of gauges (``StatusStore.snapshot``)."""

    incidents_open: int
    work_overdue: int
    workers_alive: int
    due_waiting: int
    incidents_stored: int
    totals: Mapping[str, str]


class StatusStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def ping(self) -> None:
        """Raise ``redis.RedisError`` unless Redis answers."""
        self.redis.ping()

    def workers_alive(self, since: float) -> int:
        """Workers whose last sweep was at or after ``since`` (epoch seconds)."""
        return int(self.redis.zcount(keys.WORKER_HEARTBEAT, since, "+inf"))

    def memory(self) -> tuple[int, int]:
        """Redis's ``used_memory`` and ``maxmemory`` (0: no limit), from ``INFO memory``."""
        info = self.redis.info("memory")
        return int(info["used_memory"]), int(info.get("maxmemory", 0))

    def holds_herald_data(self) -> bool:
        """Whether any key a Herald writes exists here (``keys.MARKERS``)."""
        return bool(self.redis.exists(*keys.MARKERS))

    def snapshot(self, now: float, *, overdue_after: float, alive_within: float) -> Snapshot:
        """Open incidents, work overdue by more than ``overdue_after`` s, workers that swept
        within ``alive_within`` s, the due index's entries due now, stored incidents and the metric
        totals: one pipelined round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.INCIDENTS_OPEN)
            pipe.zcount(keys.DUE, "-inf", now - overdue_after)
            pipe.zcount(keys.WORKER_HEARTBEAT, now - alive_within, "+inf")
            pipe.zcount(keys.DUE, "-inf", now)
            pipe.hgetall(keys.METRICS)
            pipe.zcard(keys.INCIDENTS_ALL)
            opened, overdue, alive, waiting, totals, stored = pipe.execute()
        totals = {(k.decode() if isinstance(k, bytes) else k): v for k, v in totals.items()}
        return Snapshot(opened, overdue, alive, waiting, stored, totals)

    def add_to_totals(self, increments: Iterable[tuple[str, float]]) -> None:
        """Add each (field, amount) to the cluster-wide metric totals (one round trip)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for field, amount in increments:
                pipe.hincrbyfloat(keys.METRICS, field, amount)
            pipe.execute()

    def worker_alive(self, name: str, at: float) -> None:
        """Stamp ``name`` as a live worker at ``at`` (after each repair pass)."""
        self.redis.zadd(keys.WORKER_HEARTBEAT, {name: at})

    def close(self) -> None:
        self.redis.close()
