"""``/docs`` in a real browser (Debian's Chromium via Playwright) with every request
that leaves 127.0.0.1 refused, as on an air-gapped site: Swagger UI renders, takes an
API token through *Authorize*, and *Try it out* on ``GET /api/v1/incidents`` answers
200 — then, with a wrong token, 401."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests.herald_env import API_TOKEN, env_for, write_config
from tests.processes import serve
from tests.web.browser_stack import browser, shot, watch_console  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path, redis_url):
    proc, url = serve(env_for(write_config(tmp_path / "conf"), redis_url))
    try:
        yield url
    finally:
        proc.stop()


@contextmanager
def offline_page(browser) -> Iterator[tuple[object, list[str]]]:  # noqa: F811 (the fixture)
    """A page whose every request to anywhere but 127.0.0.1 is refused, and noted in the
    list it comes with unless it is an image (ReDoc's footer shows Redocly's logo from
    their site: without it the page still works); closed on the way out."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []

    def route(request_route) -> None:
        host = urlsplit(request_route.request.url).hostname
        if host == "127.0.0.1":
            request_route.continue_()
        else:
            if request_route.request.resource_type != "image":
                outside.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    try:
        yield page, outside
    finally:
        context.close()


def open_swagger_ui(page, api: str) -> None:
    page.goto(api + "/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="Herald").wait_for()


def try_incidents(page, token: str) -> str:
    """Authorize with ``token``, Try it out on GET /api/v1/incidents; the status shown."""
    page.locator("button.authorize").first.click()
    scheme = page.locator(".auth-container").filter(has_text="apiToken")
    scheme.locator("input").fill(token)
    scheme.locator("button.authorize").click()  # "Authorize" (labelled "Apply credentials")
    page.locator(".modal-ux button.btn-done").first.click()  # "Close"
    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/v1/incidents"]'))
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    return status.inner_text().split()[0]  # "401" may be followed by "Undocumented"


def test_swagger_ui_works_offline_and_sends_the_token(api, browser):  # noqa: F811
    with offline_page(browser) as (page, outside):
        problems = watch_console(page)
        open_swagger_ui(page, api)
        assert try_incidents(page, API_TOKEN) == "200"
        shot(page, "docs-try-it-out")
        assert outside == [] and problems == [], (outside, problems)


def test_redoc_renders_offline(api, browser):  # noqa: F811
    with offline_page(browser) as (page, outside):
        page.goto(api + "/redoc")
        page.get_by_text("Alert routing and paging for Prometheus Alertmanager.").first.wait_for()
        assert outside == [], outside


def test_a_wrong_token_gets_401_in_try_it_out(api, browser):  # noqa: F811
    with offline_page(browser) as (page, _outside):
        open_swagger_ui(page, api)
        assert try_incidents(page, "not-the-api-token-123") == "401"
