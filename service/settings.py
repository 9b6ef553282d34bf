"""Environment settings (prefix ``HERALD_``), read once at start-up."""
from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    config: str = Field("deploy/examples/herald.yaml", description="Path of the YAML configuration file.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (redis:// or rediss://).")
    redis_sentinels: str | None = Field(None, description="Redis Sentinel addresses, host:port,host:port; with them Herald asks Sentinel for the master of redis_sentinel_master (redis_url then only gives the database, user, password and TLS).")
    redis_sentinel_master: str = Field("herald", description="The master name the Sentinels monitor.")
    redis_sentinel_password: SecretStr | None = Field(None, description="The Sentinels' own password (requirepass in sentinel.conf), if they have one.")
    public_url: str = Field("http://127.0.0.1:8080", description="Base URL people reach Herald at; used in links.")
    alertmanager_token: SecretStr | None = Field(None, description="Bearer credential (or basic-auth password) Alertmanager sends.")
    alertmanager_username: str = Field("alertmanager", description="Basic-auth user name Alertmanager sends, if it uses basic_auth.")
    api_token: SecretStr | None = Field(None, description="Admin token for the API (Authorization: Bearer).")
    api_tokens: SecretStr | None = Field(None, description="More API tokens with scopes: name:scope:token,... where scope is read, write or admin (see service/api/auth.py).")
    ack_attempts_per_ip: int = Field(20, ge=1, description="Wrong acknowledgement-link tokens one client address may try per minute; past that its wrong tokens get 429 (a right link always works).")
    ack_attempts_global: int = Field(600, ge=1, description="Wrong acknowledgement-link tokens all clients together may try per minute; past that every wrong token gets 429 (a right link always works).")
    queue: str = Field("herald", description="RQ queue name.")
    sweep_interval: float = Field(15.0, gt=0, le=30, description="Seconds between repair passes in each worker: they re-derive the due index from stored state.")
    sweep_grace: float = Field(3.0, ge=0, le=30, description="How overdue work with no entry in the due index must be before the repair pass re-derives it.")
    ack_token_ttl: int = Field(86400, gt=0, description="Seconds an acknowledgement link stays valid.")
    send_lease: float = Field(15.0, ge=1, le=300, description="Seconds a sender's claim on a page outlives the sender: renewed while the provider call runs, so a worker killed mid-send frees its pages within this time and another worker sends them. Also the lease on a claimed entry of the due index.")
    retention_days: int = Field(90, ge=1, description="Days a resolved incident is kept after it resolved; then the retention purge removes it with its indexes and adds it to its month's SLA report totals.")
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest request body accepted.")
    max_alerts_per_incident: int = Field(1000, ge=1, le=100_000, description="Firing alerts one incident tracks at most; alerts of its group beyond that are counted (untracked_alerts), not kept, and keep the incident open while they fire. Bounds the resolved episodes an incident remembers too.")
    http_header_timeout: float = Field(10.0, gt=0, le=300, description="Seconds a client has to send a whole request head, from opening the connection (or, on a kept-alive one, from the next request's first byte); later, the connection is closed without an answer.")
    http_body_timeout: float = Field(20.0, gt=0, le=600, description="Seconds a client has to send a request body, plus one second for every http_body_min_rate bytes received; a slower body gets 408 and the connection is closed.")
    http_body_min_rate: int = Field(500, ge=0, description="Bytes a second a request body must keep up after http_body_timeout (0: the whole body within http_body_timeout).")
    http_max_connections: int = Field(1000, ge=1, description="Open connections the API process keeps at most (never more than half its open-file limit); over it, the oldest idle connection is closed to make room, or the new one when none is idle.")
    http_max_connections_per_client: int = Field(50, ge=0, description="Open connections one client address (an IPv6 /64) keeps at most; over it, that client's oldest idle connection is closed, or the new one. 0: no cap (behind a reverse proxy that limits clients itself).")
    http_keepalive_timeout: int = Field(5, ge=1, le=300, description="Seconds an idle kept-alive connection stays open between requests (uvicorn's timeout_keep_alive).")
    http_refused_log_interval: float = Field(10.0, gt=0, le=3600, description="Seconds between the summary lines that log refused connections and requests (one line per interval, never one per connection).")
    log_format: str = Field("plain", description="plain (human) or json (one object a line, with request and incident ids).")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    console_password: SecretStr | None = Field(None, description="A password that logs in to the web console as admin (besides API tokens); at least 16 characters.")
    session_secret: SecretStr | None = Field(None, description="Key that signs web console session cookies (a session id; the sessions are in Redis) and fingerprints the credential of each session; default: derived from the first configured credential, so changing that token ends every session.")
    worker_metrics_port: int | None = Field(None, ge=0, le=65535, description="Port each worker serves /metrics and /healthz on (unset: none).")
    worker_metrics_addr: str = Field("0.0.0.0", description="Address the worker's metrics server binds.")

    twilio_account_sid: str | None = Field(None, description="Twilio account SID; with the auth token and from number, SMS and calls go through Twilio.")
    twilio_auth_token: SecretStr | None = Field(None, description="Twilio auth token; also verifies X-Twilio-Signature on Twilio's webhooks.")
    twilio_from: str | None = Field(None, description="The Twilio phone number pages come from (E.164).")
    twilio_api_base: str | None = Field(None, description="Send Twilio API calls here instead of api.twilio.com (the provider simulator); unset in production.")
    sendgrid_api_key: SecretStr | None = Field(None, description="SendGrid API key; with a from address, email goes through SendGrid.")
    sendgrid_from: str | None = Field(None, description="The address email pages come from.")
    sendgrid_api_base: str | None = Field(None, description="Send SendGrid API calls here instead of api.sendgrid.com (the provider simulator).")
    sendgrid_webhook_public_key: str | None = Field(None, description="SendGrid's event-webhook verification key (base64); unset means event webhooks are refused.")
    slack_bot_token: SecretStr | None = Field(None, description="Slack bot token (xoxb-…); with the signing secret, incidents are posted to Slack, buttons and /herald act, and a person's Slack DM can be a paging channel (docs/slack.md).")
    slack_signing_secret: SecretStr | None = Field(None, description="The Slack app's signing secret: verifies X-Slack-Signature on /webhooks/slack/*; unset means those requests are refused.")
    slack_api_base: str | None = Field(None, description="Send Slack Web API calls here instead of https://slack.com/api/ (the provider simulator); unset in production.")
    provider_timeout: float = Field(10.0, gt=0, le=60, description="Seconds before a provider API call counts as timed out (and is retried).")
    send_concurrency: int = Field(16, ge=1, le=256, description="Pages one worker sends at once per channel (SMS, voice, email): the people of a tier are paged side by side, each with their own claim, lease and rate window; 1 sends one after another.")
    rate_limit_sms: float = Field(60.0, ge=0, description="At most one SMS per person per this many seconds; pages inside the window are bundled (P0 pages are never held).")
    rate_limit_voice: float = Field(60.0, ge=0, description="At most one call per person per this many seconds; pages inside the window are bundled (P0 pages are never held).")
    rate_limit_email: float = Field(0.0, ge=0, description="At most one email per person per this many seconds (0: no limit).")
    rate_limit_slack: float = Field(0.0, ge=0, description="At most one Slack DM page per person per this many seconds (0: no limit).")

    def rate_window(self, channel: str) -> float:
        return {"sms": self.rate_limit_sms, "voice": self.rate_limit_voice,
                "email": self.rate_limit_email, "slack": self.rate_limit_slack}.get(channel, 0.0)

    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    def sendgrid_configured(self) -> bool:
        return bool(self.sendgrid_api_key and self.sendgrid_from)


def env_problems(error: ValidationError) -> list[str]:
    """One line per invalid ``HERALD_*`` variable of a failed ``Settings()``: the variable,
    what was wrong, and the value given (never a secret's)."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        name = f"HERALD_{field.upper()}"
        secret = Settings.model_fields.get(field) is not None and "SecretStr" in str(
            Settings.model_fields[field].annotation)
        given = "" if secret or item.get("input") is None else f" (given {str(item['input'])[:80]!r})"
        lines.append(f"{name}: {item['msg']}{given}")
    return lines
