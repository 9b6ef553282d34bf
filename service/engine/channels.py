"""Which notifier carries each channel, from the settings.

With Twilio credentials, SMS and calls go through Twilio; with a SendGrid key, email
goes through SendGrid; any channel without its provider prints to the console and
says so at start-up.
"""
from __future__ import annotations

import logging

from integrations.console_notify import ConsoleNotifier
from integrations.notifier import Notifier
from service.settings import Settings

log = logging.getLogger("herald")


def build_notifiers(settings: Settings) -> dict[str, Notifier]:
    notifiers: dict[str, Notifier] = {"console": ConsoleNotifier("console")}
    if settings.twilio_configured():
        from integrations.twilio_notify import TwilioNotifier

        assert settings.twilio_auth_token is not None
        for channel in ("sms", "voice"):
            notifiers[channel] = TwilioNotifier(
                settings.twilio_account_sid or "", settings.twilio_auth_token.get_secret_value(),
                settings.twilio_from or "", settings.twilio_api_base, settings.public_url, channel=channel,
                timeout=settings.provider_timeout, pool_size=settings.send_concurrency)
        where = f" (API base {settings.twilio_api_base})" if settings.twilio_api_base else ""
        log.info("SMS and voice pages go through Twilio%s", where)
    else:
        notifiers["sms"], notifiers["voice"] = ConsoleNotifier("sms"), ConsoleNotifier("voice")
        log.warning("no Twilio credentials: SMS and voice pages go to the console")
    if settings.sendgrid_configured():
        from integrations.sendgrid_notify import SendGridNotifier

        assert settings.sendgrid_api_key is not None
        notifiers["email"] = SendGridNotifier(settings.sendgrid_api_key.get_secret_value(), settings.sendgrid_from or "",
                                              settings.sendgrid_api_base, timeout=settings.provider_timeout)
        log.info("email pages go through SendGrid")
    else:
        notifiers["email"] = ConsoleNotifier("email")
        log.warning("no SendGrid key: email pages go to the console")
    return notifiers
