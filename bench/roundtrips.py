"""Count Redis round trips and commands made by one call, in this process.

Every redis-py request — one command, or a whole pipeline / MULTI…EXEC — goes out in
one ``Connection.send_packed_command``; counting those calls on the calling thread
counts round trips (threads of the same process, such as the calendar refresher,
are not counted). Commands are counted in ``send_command`` (one command) and
``pack_commands`` (a pipeline).
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection


class Tally:
    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: Counter[str] = Counter()


@contextmanager
def counting() -> Iterator[Tally]:
    tally = Tally()
    me = threading.get_ident()
    send, one, packs = (AbstractConnection.send_packed_command, AbstractConnection.send_command,
                        AbstractConnection.pack_commands)

    def send_packed(self: Any, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == me:
            tally.round_trips += 1
        return send(self, command, check_health)

    def send_one(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me and args:
            tally.commands[str(args[0]).upper()] += 1
        return one(self, *args, **kwargs)

    def pack_many(self: Any, commands: Any) -> Any:
        commands = list(commands)
        if threading.get_ident() == me:
            for c in commands:
                tally.commands[str(c[0]).upper()] += 1
        return packs(self, commands)

    AbstractConnection.send_packed_command = send_packed  # type: ignore[method-assign]
    AbstractConnection.send_command = send_one  # type: ignore[method-assign]
    AbstractConnection.pack_commands = pack_many  # type: ignore[method-assign]
    try:
        yield tally
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
        AbstractConnection.send_command = one  # type: ignore[method-assign]
        AbstractConnection.pack_commands = packs  # type: ignore[method-assign]


def measure(call: Callable[[], Any], repeat: int = 5) -> dict[str, Any]:
    """Average round trips and commands per call of ``call`` over ``repeat`` calls."""
    with counting() as tally:
        for _ in range(repeat):
            call()
    return {"round_trips": tally.round_trips / repeat,
            "commands": sum(tally.commands.values()) / repeat,
            "by_command": {k: v / repeat for k, v in tally.commands.most_common()}}
