"""Which notifier carries each channel, from the settings.

With Twilio credentials, SMS and calls go through Twilio; with a SendGrid key, email
goes through SendGrid; with a Slack bot token and signing secret, "slack" pages go to the
person's Slack DM (found by email, cached in Redis). Any channel without its provider
prints to the console and says so at start-up.
"""
from __future__ import annotations

import logging

from collections.abc import Callable

from integrations.console_notify import ConsoleNotifier
from integrations.notifier import Notifier
from integrations.slack_client import SlackApi, SlackNotifier
from integrations.slack_store import SlackStore
from service.settings import Settings

log = logging.getLogger("herald")


def _cached_user_ids(api: SlackApi, store: SlackStore | None) -> Callable[[str], str | None]:
    """``users.lookupByEmail`` through the store's cache (a person not in Slack is asked again each time)."""
    def user_id(email: str) -> str | None:
        cached = store.user_id_of(email) if store is not None else None
        if cached:
            return cached
        found = api.user_id_by_email(email)
        if found and store is not None:
            store.remember_user_id(email, found)
        return found

    return user_id


def build_notifiers(settings: Settings, slack_api: SlackApi | None = None,
                    slack_store: SlackStore | None = None) -> dict[str, Notifier]:
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
    if slack_api is not None:
        notifiers["slack"] = SlackNotifier(slack_api, _cached_user_ids(slack_api, slack_store))
        log.info("slack pages go to each person's Slack DM%s",
                 f" (API base {settings.slack_api_base})" if settings.slack_api_base else "")
    else:
        notifiers["slack"] = ConsoleNotifier("slack")
    return notifiers
