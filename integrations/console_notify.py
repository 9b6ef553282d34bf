"""The console notifier: prints each page as one line. It stands in for a channel
whose provider is not configured, so a development set-up pages somewhere visible."""
from __future__ import annotations

import logging
import sys
from typing import TextIO

from integrations.notifier import OutboundPage, SendResult

log = logging.getLogger("herald.console")


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)


class ConsoleNotifier:
    def __init__(self, channel: str = "console", stream: TextIO | None = None) -> None:
        self.channel = channel
        self.stream = stream

    def send(self, page: OutboundPage) -> SendResult:
        if page.kind == "notice":
            print(f"NOTICE [{page.channel}] -> {page.person_name}: {_clean(page.summary)}", file=self.stream or sys.stdout,
                  flush=True)
            return SendResult("sent", provider_id=f"console-{page.incident_id}-{page.person_id}")
        drill = "DRILL " if page.drill else ""
        line = (f"PAGE [{page.channel}] {drill}{page.severity} #{page.code} {_clean(page.title)} -> "
                f"{page.person_name} ({page.tier}, round {page.round}) ack: {page.ack_url}")
        stream = self.stream or sys.stdout
        print(line, file=stream, flush=True)
        return SendResult("sent",
                          provider_id=f"console-{page.incident_id}-{page.round}-{page.person_id}-{page.channel}")
