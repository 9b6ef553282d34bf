"""Refused connections and requests of the API: counted, and summed up in the log.

Whatever cuts a connection or a request off (``service.api.server``'s head deadline and
connection limits, ``service.api.guards.BodyLimit``'s slow-body timeout) calls
``REFUSALS.count(reason, client)``. Each call adds to ``herald_http_refused_total{reason}``;
the log gets one ``herald.http`` warning per interval — how many, why, and the busiest
addresses — never a line, let alone a traceback, per connection: 20,000 slow clients must
not turn into 20,000 log lines.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter

from service.telemetry import metrics

log = logging.getLogger("herald.http")
#: Client addresses named in one summary line's tally (the rest are counted, not named).
MAX_CLIENTS_TALLIED = 1000


class Refusals:
    """Counts refused connections and requests; logs one summary line per ``interval``."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.reasons: Counter[str] = Counter()
        self.clients: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None

    def count(self, reason: str, client: str | None) -> None:
        metrics.HTTP_REFUSED.labels(reason=reason).inc()
        self.reasons[reason] += 1
        if client is not None and (client in self.clients or len(self.clients) < MAX_CLIENTS_TALLIED):
            self.clients[client] += 1
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside an event loop: nothing to wait with
                self.flush()
                return
            self._timer = loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        """Log what was counted since the last line (nothing when nothing was)."""
        if self._timer is not None:
            self._timer.cancel()  # (a no-op when it is the timer calling)
            self._timer = None
        total = sum(self.reasons.values())
        if not total:
            return
        reasons = ", ".join(f"{reason} {n}" for reason, n in self.reasons.most_common())
        top = self.clients.most_common(3)
        most = "; most from " + ", ".join(f"{client} ({n})" for client, n in top) if top else ""
        plural = "" if total == 1 else "s"
        log.warning("refused %d connection%s or request%s in the last %g s: %s%s", total, plural, plural,
                    self.interval, reasons, most, extra={"refused": dict(self.reasons), "clients": dict(top)})
        self.reasons.clear()
        self.clients.clear()


#: The API process's one tally, shared by the protocol and ``BodyLimit``.
REFUSALS = Refusals()


def client_key(client: tuple[str, int] | None) -> str | None:
    """The address a per-client cap counts by: IPv4 as is (also mapped into IPv6 by a
    dual-stack socket), IPv6 by its /64 (one host's share of addresses); None for a Unix
    socket."""
    if not client:
        return None
    host = client[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host
