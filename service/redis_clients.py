"""Redis clients from the settings: one URL, or Redis Sentinel for automatic failover.

With ``HERALD_REDIS_SENTINELS=host:port,host:port`` Herald asks the Sentinels for the
current master of ``HERALD_REDIS_SENTINEL_MASTER`` (default ``herald``) and follows it
through a failover: a connection that finds the old master gone, or demoted to a
read-only replica, asks the Sentinels again and retries. ``HERALD_REDIS_URL`` then only
contributes the database number, user name, password and ``rediss://`` (TLS) for the
master; ``HERALD_REDIS_SENTINEL_PASSWORD`` is the Sentinels' own password, if they have
one.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from service.settings import Settings


def sentinel_addresses(text: str) -> list[tuple[str, int]]:
    """``"a:26379, b:26379"`` -> [("a", 26379), ("b", 26379)]; ValueError names a bad entry."""
    addresses = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"HERALD_REDIS_SENTINELS: {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    if not addresses:
        raise ValueError("HERALD_REDIS_SENTINELS names no sentinel")
    return addresses


def _master_options(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    options: dict[str, Any] = {"db": int(parts.path.strip("/") or 0)}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    if parts.scheme == "rediss":
        options["ssl"] = True
    return options


def connect(settings: Settings, *, decode_responses: bool, socket_timeout: float,
            socket_connect_timeout: float = 2, **options: Any) -> redis.Redis:
    """A client for Herald's Redis (the Sentinel master when Sentinels are configured)."""
    if not settings.redis_sentinels:
        return redis.Redis.from_url(settings.redis_url, decode_responses=decode_responses,
                                    socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout,
                                    **options)
    sentinel_auth = ({"password": settings.redis_sentinel_password.get_secret_value()}
                     if settings.redis_sentinel_password else {})
    sentinel = Sentinel(sentinel_addresses(settings.redis_sentinels),
                        sentinel_kwargs={"socket_timeout": socket_connect_timeout,
                                         "socket_connect_timeout": socket_connect_timeout, **sentinel_auth},
                        socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout)
    return sentinel.master_for(settings.redis_sentinel_master, decode_responses=decode_responses,
                               **_master_options(settings.redis_url), **options)


def connect_async(settings: Settings, *, socket_timeout: float | None, socket_connect_timeout: float = 2,
                  **options: Any) -> "redis.asyncio.Redis":
    """The same as ``connect`` for the API's event loop (``redis.asyncio``), decoding."""
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel as AsyncSentinel

    if not settings.redis_sentinels:
        return aioredis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=socket_timeout,
                                       socket_connect_timeout=socket_connect_timeout, **options)
    sentinel_auth = ({"password": settings.redis_sentinel_password.get_secret_value()}
                     if settings.redis_sentinel_password else {})
    sentinel = AsyncSentinel(sentinel_addresses(settings.redis_sentinels),
                             sentinel_kwargs={"socket_timeout": socket_connect_timeout,
                                              "socket_connect_timeout": socket_connect_timeout, **sentinel_auth},
                             socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout)
    return sentinel.master_for(settings.redis_sentinel_master, decode_responses=True,
                               **_master_options(settings.redis_url), **options)


def connect_url(url: str, *, socket_timeout: float, socket_connect_timeout: float = 2, fail_fast: bool = False,
                **options: Any) -> redis.Redis:
    """A client for one Redis URL as it is (no Sentinel), for a process's side channels:
    the metrics' writer, ``herald dev``'s readiness probe of the Redis it started, the
    CLI's look at the Redis ``HERALD_REDIS_URL`` names. ``fail_fast``: no retries."""
    if fail_fast:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options["retry"] = Retry(NoBackoff(), 0)
    return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout,
                                **options)
