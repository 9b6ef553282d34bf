"""Short leases on what a sender holds while it talks to a provider.

A page's send-log slot (and the person's rate-limit window) is claimed before the
provider call. If the sending process dies — SIGKILL, OOM, a host gone — nobody must
wait long for the claim to time out: the claim is taken for ``send_lease`` seconds only
and a thread renews it every third of that while the call runs. A live sender keeps
its claim however slow the provider is; a dead one loses it within one lease, after
which another worker sends the page again (the incident's claim in the due index
lapses within the same lease, and the repair pass offers it again).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType

import redis

from integrations.store import Store

log = logging.getLogger("herald.leases")


class LeaseKeeper:
    """``with LeaseKeeper(store, keys, value, lease):`` renews ``keys`` while inside."""

    def __init__(self, store: Store, keys: Sequence[str], value: str, lease_seconds: float) -> None:
        self.store, self.keys, self.value = store, list(keys), value
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="herald-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            try:
                held = self.store.renew_leases(self.keys, self.value, self.lease_ms)
            except redis.RedisError as exc:  # the next tick tries again; the lease is 3 ticks long
                log.warning("could not renew send leases: %s", type(exc).__name__)
                continue
            if held < len(self.keys):
                log.warning("send lease lost on %d of %d keys (Redis restarted or the call outlived it)",
                            len(self.keys) - held, len(self.keys))

    def __enter__(self) -> "LeaseKeeper":
        if self.keys:
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
