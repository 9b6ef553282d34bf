"""The console in a real browser (Debian's Chromium via Playwright) against real
``herald serve`` + ``herald worker`` processes and the provider simulator."""
from __future__ import annotations

import pytest

from tests.herald_env import API_TOKEN
from tests.processes import wait_for
from tests.web.browser_stack import ACK_URL, ALICE, browser, shot, stack, stack_processes, watch_console  # noqa: F401

# One worker runs the three (pytest-xdist --dist loadgroup), so they share one stack and browser.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser-stack")]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _fits(page, selector: str) -> None:
    """No horizontal scroll, and ``selector`` is on screen without scrolling sideways."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "horizontal scroll"
    box = page.locator(selector).bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_ack_link_from_a_real_sms_on_a_phone(stack, browser):
    incident_id = stack.fire("ack-link")
    [sms] = wait_for(lambda: stack.texts(ALICE, incident_id), 15, "the SMS to alice", stack.worker)
    url = ACK_URL.search(sms.body).group(1)
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        problems = watch_console(page)
        page.goto(url)
        ack = page.get_by_role("button", name="Acknowledge")
        assert ack.is_visible() and page.get_by_role("button", name="Resolve").is_visible()
        _fits(page, "#ack")
        assert ack.bounding_box()["y"] + ack.bounding_box()["height"] <= 844, "the button is above the fold"
        assert "Alice" in page.locator("#paged").inner_text()
        shot(page, "ack-phone")
        assert stack.incident(incident_id)["status"] == "triggered"  # GET never acts
        ack.click()
        page.wait_for_selector("#result")
        assert "acknowledged" in page.locator("#result").inner_text()
        shot(page, "ack-phone-done")
        assert problems == []
    finally:
        context.close()
    incident = stack.incident(incident_id)
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == "alice"
    assert incident["timeline"][-1]["details"] == {"by": "alice", "via": "link"}


def _login(page, url: str, person: str = "Alice Adams") -> None:
    page.goto(url + "/ui/")
    assert "/ui/login" in page.url
    page.fill("#credential", API_TOKEN)
    page.select_option("#person", label=person)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/ui/")


def test_log_in_see_who_is_on_call_and_hand_over(stack, browser):
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        problems = watch_console(page)
        _login(page, stack.url)
        primary = page.locator('section[data-schedule="primary"] [data-tier="L1"] .oncall')
        assert primary.inner_text() == "Alice Adams"
        shot(page, "now")
        page.get_by_role("link", name="Schedules").click()
        page.select_option("#h-target", "primary|L1")
        page.select_option("#h-to", label="Dave Dietz")
        page.fill("#h-hours", "6")
        page.fill("#h-note", "db1 disk is being watched; ticket OPS-12")
        page.get_by_role("button", name="Save handoff").click()
        page.wait_for_selector("text=Handoff saved")
        grid = page.locator('.cal[data-schedule="primary"][data-tier="L1"] .seg.handoff')
        assert grid.count() >= 1 and "Dave Dietz" in grid.first.inner_text()
        assert "OPS-12" in page.locator("#handoffs").inner_text()
        shot(page, "schedules")
        page.get_by_role("link", name="Now").click()
        assert "Dave Dietz" in primary.inner_text()
        assert problems == []
    finally:
        context.close()
    l1 = [e for e in stack.oncall()["oncall"] if e["schedule"] == "primary" and e["tier"] == "L1"]
    assert [e["person"] for e in l1] == ["dave"] and l1[0]["source"] == "handoff"


def test_incident_page_dev_inbox_reply_and_reports(stack, browser):
    incident_id = stack.fire("inbox-reply")
    wait_for(lambda: stack.texts(ALICE, incident_id), 15, "the SMS to alice", stack.worker)
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        problems = watch_console(page)
        _login(page, stack.url)
        page.goto(f"{stack.url}/ui/incidents")
        page.get_by_role("link", name=f"#{incident_id} Disk almost full on db1").click()
        page.wait_for_selector("#timeline")
        assert "Page sent: sms to Alice Adams" in page.locator("#timeline").inner_text()
        _fits(page, "#actions")
        page.fill("#note", "checking the <disk>")
        page.get_by_role("button", name="Add note").click()
        page.wait_for_selector("text=Note added.")
        assert "checking the <disk>" in page.locator("#timeline").inner_text()
        shot(page, "incident-phone")
        page.get_by_role("link", name="Dev inbox").click()
        alice = page.locator('section[data-person="alice"]')
        alice.get_by_role("button", name=f"Acknowledge #{incident_id}").first.click()
        page.wait_for_selector("text=Reply sent")
        wait_for(lambda: stack.incident(incident_id)["status"] == "acknowledged", 10, "the ack by SMS reply")
        assert stack.incident(incident_id)["timeline"][-1]["details"] == {"by": "alice", "via": "sms"}
        page.reload()
        assert "acknowledged" in page.locator('section[data-person="alice"]').inner_text()
        shot(page, "inbox-phone")
        page.goto(f"{stack.url}/ui/reports")
        assert page.locator("#sla-chart rect.fill").count() == 1
        shot(page, "reports-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{stack.url}/ui/incidents/{incident_id}")
        shot(page, "incident")
        assert problems == []
    finally:
        context.close()
