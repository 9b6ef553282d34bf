"""Environment settings (prefix ``HERALD_``), read once at start-up."""
from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    config: str = Field("deploy/examples/herald.yaml", description="Path of the YAML configuration file.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (redis:// or rediss://).")
    public_url: str = Field("http://127.0.0.1:8080", description="Base URL people reach Herald at; used in links.")
    alertmanager_token: SecretStr | None = Field(None, description="Bearer credential (or basic-auth password) Alertmanager sends.")
    alertmanager_username: str = Field("alertmanager", description="Basic-auth user name Alertmanager sends, if it uses basic_auth.")
    api_token: SecretStr | None = Field(None, description="Admin token for the API (Authorization: Bearer).")
    queue: str = Field("herald", description="RQ queue name.")
    sweep_interval: float = Field(15.0, gt=0, le=30, description="Seconds between sweeps for overdue work.")
    sweep_grace: float = Field(3.0, ge=0, le=30, description="How overdue work must be before the sweep takes it from the timers.")
    ack_token_ttl: int = Field(86400, gt=0, description="Seconds an acknowledgement link stays valid.")
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest request body accepted.")
    log_format: str = Field("plain", description="plain or json.")
