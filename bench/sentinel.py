"""Redis with Sentinel on loopback for benchmarks: a primary, replicas (``replicaof``) and
three Sentinels (``redis-server --sentinel``), each a redis-server of its own on a free
port, started with ``service.dev.local_redis`` (the real clock, no LD_PRELOAD).

``kill_primary`` is the harsh failover: SIGKILL to the current primary's process, the
way its host dies; the Sentinels notice after ``down_after_ms`` and promote a replica."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from service.dev.local_redis import LocalRedis, free_port, real_clock_env, redis_binary, start_redis

MASTER = "herald"


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_connect_timeout=1,
                       socket_timeout=5)


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class SentinelRedis:
    """A primary, ``replicas`` replicas and ``sentinels`` Sentinels (quorum: a majority)."""

    def __init__(self, workdir: Path, *, replicas: int = 1, sentinels: int = 3, down_after_ms: int = 1000,
                 failover_timeout_ms: int = 3000, appendonly: bool = True,
                 primary_config: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.servers: list[LocalRedis] = []
        self.sentinels: list[LocalRedis] = []
        self.killed: list[LocalRedis] = []
        self.primary_config = primary_config or {}
        try:
            self.primary = start_redis(workdir / "primary", appendonly=appendonly)
            self.servers.append(self.primary)
            self._configure(self.primary.port)
            for n in range(replicas):
                replica = start_redis(workdir / f"replica{n + 1}", appendonly=appendonly)
                self.servers.append(replica)
                self._configure(replica.port)  # the same settings once it is promoted
                control = _client(replica.port)
                control.replicaof("127.0.0.1", self.primary.port)
                control.close()
            for server in self.servers[1:]:
                _wait(lambda s=server: _client(s.port).info("replication").get("master_link_status") == "up", 30,
                      f"replica on {server.port} in sync")
            quorum = sentinels // 2 + 1
            for n in range(sentinels):
                self.sentinels.append(self._start_sentinel(workdir / f"sentinel{n + 1}", quorum, down_after_ms,
                                                           failover_timeout_ms))
            for s in self.sentinels:  # each sees the replicas and the other Sentinels (hello messages)
                _wait(lambda s=s: len(_client(s.port).sentinel_slaves(MASTER)) == replicas
                      and len(_client(s.port).sentinel_sentinels(MASTER)) == sentinels - 1, 30,
                      f"sentinel on {s.port} to see every replica and sentinel")
        except BaseException:
            self.stop()
            raise

    def _configure(self, port: int) -> None:
        control = _client(port)
        try:
            control.config_set("repl-diskless-sync-delay", 0)  # the first sync at once, not after 5 s
            for key, value in self.primary_config.items():
                control.config_set(key, value)
        finally:
            control.close()

    def _start_sentinel(self, directory: Path, quorum: int, down_after_ms: int, failover_timeout_ms: int) -> LocalRedis:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server on PATH")
        directory = directory.resolve()
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = directory / "sentinel.conf"  # Sentinel rewrites its own file: it must be writable
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {directory}\nlogfile {directory / 'sentinel.log'}\n"
                        f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} {quorum}\n"
                        f"sentinel down-after-milliseconds {MASTER} {down_after_ms}\n"
                        f"sentinel failover-timeout {MASTER} {failover_timeout_ms}\n"
                        f"sentinel parallel-syncs {MASTER} 1\n")
        process = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=real_clock_env())
        server = LocalRedis(process, port, directory)
        _wait(lambda: _client(port).ping(), 10, f"the sentinel on {port}")
        return server

    @property
    def addresses(self) -> str:
        """``HERALD_REDIS_SENTINELS``."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def client(self) -> redis.Redis:
        """A decoding client of the current master (it follows a failover)."""
        sentinel = Sentinel([("127.0.0.1", s.port) for s in self.sentinels],
                            sentinel_kwargs={"socket_timeout": 1, "socket_connect_timeout": 1},
                            socket_timeout=5, socket_connect_timeout=1)
        return sentinel.master_for(MASTER, decode_responses=True)

    def master_port(self) -> int | None:
        """The master's port as the first Sentinel that answers names it."""
        for s in self.sentinels:
            try:
                return int(_client(s.port).sentinel_get_master_addr_by_name(MASTER)[1])
            except (redis.RedisError, TypeError):
                continue
        return None

    def current(self) -> LocalRedis:
        port = self.master_port()
        return next(s for s in self.servers if s.port == port)

    def kill_primary(self) -> LocalRedis:
        """SIGKILL the current master's redis-server; the one killed."""
        server = self.current()
        server.process.kill()
        server.process.wait(timeout=10)
        self.killed.append(server)
        return server

    def wait_promoted(self, old_port: int, timeout: float = 30.0) -> int:
        """Block until the Sentinels name a master other than ``old_port`` that answers as one."""
        found: list[int] = []

        def promoted() -> bool:
            port = self.master_port()
            if port is None or port == old_port:
                return False
            if _client(port).info("replication").get("role") != "master":
                return False
            found.append(port)
            return True

        _wait(promoted, timeout, "a replica promoted")
        return found[-1]

    def stop(self) -> None:
        for server in [*self.sentinels, *reversed(self.servers)]:
            server.stop()
