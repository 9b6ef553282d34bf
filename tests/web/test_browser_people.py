"""The console's People page in a real browser (Debian's Chromium via Playwright) against
real ``herald serve`` + ``herald worker`` processes and the provider simulator: a code sent
by email through SendGrid's SDK, read off the simulator and typed in; a test page by SMS."""
from __future__ import annotations

import re

import pytest

from tests.herald_env import API_TOKEN
from tests.web.browser_stack import ALICE, browser, shot, stack, stack_processes, watch_console  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser-people")]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def test_verify_a_contact_and_send_a_test_page_in_the_browser(stack, browser):
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        problems = watch_console(page)
        page.goto(stack.url + "/ui/people")
        assert "/ui/login" in page.url
        page.fill("#credential", API_TOKEN)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(stack.url + "/ui/people")
        bob = page.locator('#person-bob li.contact:has-text("bob@example.com")')
        assert bob.get_attribute("data-state") == "unverified"
        assert "no verified contact" in page.locator("#person-bob").inner_text()

        bob.get_by_role("button", name="Send a code").click()
        page.wait_for_selector("text=Code sent")
        [mail] = [m for m in stack.sim.messages_for(to="bob@example.com", channel="email")
                  if m.direction == "outbound"]
        code = re.search(r"code is (\d{6})", mail.text).group(1)
        bob = page.locator('#person-bob li.contact:has-text("bob@example.com")')
        bob.get_by_label("code").fill("000000" if code != "000000" else "111111")  # a wrong one first
        bob.get_by_role("button", name="Verify").click()
        page.wait_for_selector("text=Not verified — code: wrong or expired code")
        assert [p for p in problems if "400" in p] and all("400" in p for p in problems)  # the refusal is a 400
        problems.clear()
        bob = page.locator('#person-bob li.contact:has-text("bob@example.com")')
        assert bob.get_attribute("data-state") == "unverified"
        bob.get_by_label("code").fill(code)
        bob.get_by_role("button", name="Verify").click()
        page.wait_for_selector("text=Contact verified.")
        bob = page.locator('#person-bob li.contact:has-text("bob@example.com")')
        assert bob.get_attribute("data-state") == "verified"
        assert "no verified contact" not in page.locator("#person-bob").inner_text()
        shot(page, "people")

        page.locator("#person-alice").get_by_role("button", name="Send a test page").click()
        page.wait_for_selector("text=Test page sent.")
        texts = [m.body for m in stack.sim.messages_for(to=ALICE, channel="sms") if m.direction == "outbound"]
        assert any("test page from Herald" in body for body in texts), texts
        assert problems == []
    finally:
        context.close()
