"""Which notifier carries each channel, from the settings."""
from __future__ import annotations

import logging

from integrations.console_notify import ConsoleNotifier
from integrations.pages import Notifier
from service.settings import Settings

log = logging.getLogger("herald")


def build_notifiers(settings: Settings) -> dict[str, Notifier]:
    """Without provider credentials every channel prints to the console, and says so."""
    notifiers: dict[str, Notifier] = {}
    for channel in ("sms", "voice", "email", "console"):
        notifiers[channel] = ConsoleNotifier(channel)
    log.info("no provider credentials configured: SMS, voice and email pages go to the console")
    return notifiers
