"""Personal sign-in, rule editing and contact verification in a real browser (Debian's
Chromium via Playwright) against real ``herald serve`` + ``herald worker`` processes, the
codes arriving at the provider simulator as real SMS and email."""
from __future__ import annotations

import re

import pytest

from tests.processes import wait_for
from tests.web.browser_stack import ALICE, browser, shot, stack, stack_processes, watch_console  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser-signin")]
CODE = re.compile(r"\b(\d{6})\b")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def last_code(stack, to: str, channel: str, seen: int = 0) -> tuple[str, int]:
    """The newest code sent to ``to`` by ``channel`` after the first ``seen`` messages."""
    def arrived():
        found = [m for m in stack.sim.messages_for(to=to, channel=channel) if m.direction == "outbound"]
        return found if len(found) > seen else None

    messages = wait_for(arrived, 15, f"a code by {channel} to {to}", stack.worker)
    latest = messages[-1]
    return CODE.findall(latest.body or latest.text)[-1], len(messages)


def sign_in(page, stack) -> None:
    page.goto(stack.url + "/ui/me")
    assert "/ui/login" in page.url  # not signed in: to the login page, which points to personal sign-in
    page.get_by_role("link", name="personal sign-in page").click()
    page.fill("#who", "alice")
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_selector("#code")
    code, _ = last_code(stack, ALICE, "sms")
    page.fill("#code", code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(stack.url + "/ui/me")


def test_sign_in_with_a_code_by_sms(stack, browser):
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        problems = watch_console(page)
        sign_in(page, stack)
        assert "Alice Adams" in page.locator("h1").inner_text()
        assert "alice · responder" in page.locator("header .me").inner_text()
        assert page.get_by_role("link", name="alice · responder").get_attribute("href") == "/ui/me"
        shot(page, "signin-my-page")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(stack.url + "/ui/login")
        page.goto(stack.url + "/ui/me")
        assert "/ui/login" in page.url
        assert problems == []
    finally:
        context.close()


def test_a_wrong_code_is_shown_as_such(stack, browser):
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        page.goto(stack.url + "/ui/signin")
        page.fill("#who", "alice")
        page.get_by_role("button", name="Send me a code").click()
        page.wait_for_selector("#code")
        code, _ = last_code(stack, ALICE, "sms")
        page.fill("#code", f"{(int(code) + 1) % 10**6:06d}")
        page.get_by_role("button", name="Sign in").click()
        assert "not right" in page.locator("[role=alert]").inner_text()
        assert page.url.endswith("/ui/signin/code")
    finally:
        context.close()


def test_editing_my_rules(stack, browser):
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        problems = watch_console(page)
        sign_in(page, stack)
        page.check("#high-voice")
        page.fill("#high-voice-delay", "0")
        page.check("#high-email")
        page.fill("#high-email-delay", "5")
        page.check("#low-email")
        page.fill("#low-email-delay", "30")
        page.get_by_role("button", name="Save my rules").click()
        assert "rules are saved" in page.locator("[role=status]").inner_text()
        page.reload()
        assert page.is_checked("#high-voice") and page.is_checked("#high-email") and page.is_checked("#low-email")
        assert not page.is_checked("#high-sms") and not page.is_checked("#low-voice")
        assert page.input_value("#high-email-delay") == "5" and page.input_value("#low-email-delay") == "30"
        assert problems == []
        page.fill("#high-email-delay", "later")
        page.get_by_role("button", name="Save my rules").click()
        assert "high.email.delay_minutes" in page.locator("[role=alert]").inner_text()
        assert len(problems) == 1 and "400" in problems.pop()  # the browser notes the refusal's status
        page.goto(stack.url + "/ui/me")
        assert page.input_value("#high-email-delay") == "5"  # the refused change wrote nothing
        for box in ("#high-voice", "#high-email", "#low-email"):
            page.uncheck(box)
        page.get_by_role("button", name="Save my rules").click()
        page.reload()
        assert not page.is_checked("#high-voice")
        shot(page, "signin-rules")
        assert problems == []
    finally:
        context.close()


def test_adding_and_verifying_an_email(stack, browser):
    address = "alice.new@example.com"
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        problems = watch_console(page)
        sign_in(page, stack)
        page.select_option("#kind", "email")
        page.fill("#address", address)
        page.get_by_role("button", name="Add and send a code").click()
        row = page.locator("tr", has_text=address)
        assert "unverified" in row.inner_text() and "not paged until verified" in row.inner_text()
        code, _ = last_code(stack, address, "email")
        row.locator("input[name=code]").fill(code)
        row.get_by_role("button", name="Verify", exact=True).click()
        assert "Verified" in page.locator("[role=status]").inner_text()
        assert "verified" in page.locator("tr", has_text=address).locator(".state").inner_text()
        shot(page, "signin-verified")
        assert problems == []
    finally:
        context.close()
