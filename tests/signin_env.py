"""Personal sign-in for the tests: an in-process Herald (real Redis) whose SMS and email
go to the console notifier writing into a buffer the test reads the codes from, and
helpers that ask for a code and type it in, as a person would."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from integrations.console_notify import ConsoleNotifier
from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import env_for, write_config

CONSOLE_URL = "https://herald.test"  # the public URL: the session cookie is Secure
ROLES = "roles:\n  alice: admin\n  bob: manager\n"  # erin and dave: responders (the default)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CODE = re.compile(r"\b(\d{6})\b")


class Outbox:
    """What the console notifiers wrote, per channel."""

    def __init__(self) -> None:
        self.streams = {channel: io.StringIO() for channel in ("sms", "voice", "email", "console")}

    def notifiers(self) -> dict[str, ConsoleNotifier]:
        return {channel: ConsoleNotifier(channel, stream) for channel, stream in self.streams.items()}

    def last_code(self, channel: str) -> str:
        codes = CODE.findall(self.streams[channel].getvalue())
        assert codes, f"no code was sent by {channel}: {self.streams[channel].getvalue()!r}"
        return codes[-1]

    def count(self, channel: str) -> int:
        return len(CODE.findall(self.streams[channel].getvalue()))


def signin_settings(tmp_path, redis_url, monkeypatch, extra: str = ROLES) -> Settings:
    for key, value in env_for(write_config(tmp_path / "conf", extra=extra), redis_url, CONSOLE_URL).items():
        monkeypatch.setenv(key, value)
    return Settings()


@contextmanager
def running(settings: Settings) -> Iterator[tuple[Herald, Outbox]]:
    outbox = Outbox()
    herald = Herald.from_settings(settings, notifiers=outbox.notifiers())
    try:
        yield herald, outbox
    finally:
        herald.close()


@contextmanager
def browser(settings: Settings, herald: Herald, address: str = "192.0.2.10") -> Iterator[TestClient]:
    with TestClient(create_app(settings, herald), base_url=CONSOLE_URL, client=(address, 40000)) as c:
        yield c


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def ask_code(c: TestClient, who: str, via: str = "phone"):
    form = c.get("/ui/signin")
    assert form.status_code == 200, form.text
    return c.post("/ui/signin", data={"who": who, "via": via, "csrf": csrf_of(form.text), "next": "/ui/me"})


def type_code(c: TestClient, code: str, page_html: str):
    return c.post("/ui/signin/code", data={"code": code, "csrf": csrf_of(page_html)}, follow_redirects=False)


def sign_in(c: TestClient, outbox: Outbox, who: str, via: str = "phone"):
    """Ask for a code and type it in; the answer (a 303 to my page when it worked)."""
    asked = ask_code(c, who, via)
    assert asked.status_code == 200, asked.text
    return type_code(c, outbox.last_code("sms" if via == "phone" else "email"), asked.text)
