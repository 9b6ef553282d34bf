"""In-memory state of the provider simulator: recorded messages (the dev inbox),
pending failure injections and a log of the callbacks it posted.

Thread-safe: the simulator's event loop writes, tests and other threads read.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

FAIL_MODES = ("5xx", "4xx", "429", "timeout", "undelivered")
SIM_CHANNELS = ("sms", "voice", "email", "slack")
MAX_HANG_S = 30.0
MAX_LATENCY_S = 10.0
MAX_WEBHOOKS = 500


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits ("SM…", "CA…")."""
    return prefix + secrets.token_hex(16)


def new_sendgrid_id() -> str:
    """An X-Message-Id-shaped id (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)[:22]


@dataclass
class SimMessage:
    """One normalised message as a provider saw it (or, inbound, as a person sent it)."""

    channel: str  # "sms" | "voice" | "email" | "slack"
    to: str
    from_: str
    provider_id: str
    direction: str = "outbound"  # "outbound" (Herald -> person) | "inbound" (person -> Herald)
    body: str = ""
    twiml: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""
    status: str = "queued"
    status_callback: str = ""
    gather_url: str = ""
    account_sid: str = ""
    custom_args: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # other API params (MachineDetection…)
    transcript: list[str] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)  # Slack: the message's Block Kit blocks
    thread_ts: str = ""  # Slack: the ts of the message this one replies to in its thread
    slack_channel: str = ""  # Slack: the channel id (``to`` is the DM's email or the #channel)
    edits: int = 0  # Slack: times chat.update changed it
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; ``from_`` is spelled ``from``."""
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data


@dataclass
class Failure:
    """A pending injected failure for one channel."""

    mode: str
    remaining: int
    seconds: float = 15.0


class SimulatorState:
    """Everything the simulator remembers; share one between app and test code."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.messages: list[SimMessage] = []
        self.failures: dict[str, list[Failure]] = {c: [] for c in SIM_CHANNELS}
        self.callbacks: list[dict[str, Any]] = []
        self.generation = 0  # bumped by reset(): ends any hanging "timeout" request
        self.stopping = threading.Event()
        self.latency = 0.0  # seconds every Twilio/SendGrid API call takes (a setting: reset keeps it)
        self.in_flight = 0  # API calls being answered now
        self.max_in_flight = 0  # the most at once since the last reset
        self.webhooks: list[dict[str, Any]] = []  # Herald's outgoing webhooks received (POST /_sim/webhooks)

    def set_latency(self, seconds: float) -> None:
        """Make every provider API call take ``seconds`` (0..MAX_LATENCY_S) before it is answered."""
        if not 0 <= seconds <= MAX_LATENCY_S:
            raise ValueError(f"latency must be 0..{MAX_LATENCY_S:g} s")
        with self._cond:
            self.latency = float(seconds)

    def call_started(self) -> None:
        with self._cond:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def call_ended(self) -> None:
        with self._cond:
            self.in_flight -= 1

    def record(self, message: SimMessage) -> SimMessage:
        """Append to the inbox."""
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
        return message

    def messages_for(self, to: str | None = None, channel: str | None = None) -> list[SimMessage]:
        """Messages, oldest first, optionally only those to ``to`` / on ``channel``."""
        with self._cond:
            return [m for m in self.messages
                    if (to is None or m.to == to) and (channel is None or m.channel == channel)]

    def find(self, provider_id: str) -> SimMessage | None:
        """The outbound message or call with this SID / message id."""
        with self._cond:
            return next((m for m in reversed(self.messages)
                         if m.provider_id == provider_id and m.direction == "outbound"), None)

    def latest_to(self, to: str, channel: str) -> SimMessage | None:
        """The newest outbound message on ``channel`` to ``to``."""
        with self._cond:
            return next((m for m in reversed(self.messages) if m.to == to
                         and m.channel == channel and m.direction == "outbound"), None)

    def touch(self) -> None:
        """Wake whoever waits for a change that is not a message (a Slack user group set)."""
        with self._cond:
            self._cond.notify_all()

    def update(self, message: SimMessage, **changes: Any) -> None:
        """Change fields of a recorded message under the lock."""
        with self._cond:
            for key, value in changes.items():
                setattr(message, key, value)
            self._cond.notify_all()

    def inject(self, channel: str, mode: str, count: int, seconds: float = 15.0) -> None:
        """Make the next ``count`` requests on ``channel`` fail with ``mode``."""
        if channel not in SIM_CHANNELS or mode not in FAIL_MODES or count < 1:
            raise ValueError("bad failure injection")
        with self._cond:
            self.failures[channel].append(Failure(mode, count, min(max(seconds, 0.0), MAX_HANG_S)))

    def take_failure(self, channel: str) -> Failure | None:
        """Consume one pending failure for ``channel`` (FIFO), if any."""
        with self._cond:
            queue = self.failures.get(channel, [])
            if not queue:
                return None
            head = queue[0]
            head.remaining -= 1
            if head.remaining <= 0:
                queue.pop(0)
            return Failure(head.mode, 1, head.seconds)

    def log_callback(self, entry: dict[str, Any], generation: int | None = None) -> None:
        """Remember one callback the simulator posted (or failed to post).

        ``generation`` is the state's generation when the callback started: a callback still in
        flight across a ``reset()`` belongs to what was forgotten and is not logged."""
        with self._cond:
            if generation is not None and generation != self.generation:
                return
            self.callbacks.append({"time": time.time(), **entry})
            self._cond.notify_all()

    def record_webhook(self, entry: dict[str, Any]) -> None:
        """Remember one outgoing webhook Herald posted (the newest ``MAX_WEBHOOKS``)."""
        with self._cond:
            self.webhooks.append({"time": time.time(), **entry})
            del self.webhooks[:-MAX_WEBHOOKS]
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[["SimulatorState"], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(state)`` holds (re-checked on every change)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def reset(self) -> None:
        """Forget messages, failures, callbacks and the most calls seen at once; cut
        short hanging requests (the latency setting stays)."""
        with self._cond:
            self.messages.clear()
            self.callbacks.clear()
            self.webhooks.clear()
            for queue in self.failures.values():
                queue.clear()
            self.generation += 1
            self.max_in_flight = self.in_flight
            self._cond.notify_all()
