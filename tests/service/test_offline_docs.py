"""``/docs`` and ``/redoc`` load nothing from outside Herald (air-gapped sites), and the
OpenAPI document declares how each route authenticates, so Swagger UI's *Authorize*
and *Try it out* send a token that works. (The real browser: tests/web/test_docs_browser.py.)"""
from __future__ import annotations

import base64
import re

import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


def assets(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_reference_loads_only_from_herald(client, page):
    r = client.get(page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    found = assets(r.text)
    assert any(a.endswith(".js") for a in found), found
    for url in found:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
        kind = asset.headers["content-type"]
        if url.endswith(".js"):
            assert "javascript" in kind, (url, kind)
        elif url.endswith(".css"):
            assert "text/css" in kind, (url, kind)
    assert "cdn" not in r.text.lower() and "fonts.googleapis" not in r.text


def test_an_unknown_asset_is_404(client):
    assert client.get("/static-offline-docs/nothing-here.js").status_code == 404


def header_for(scheme: dict, credential: str, user: str = "alertmanager") -> dict[str, str]:
    """What Swagger UI sends for an HTTP security scheme, built from the scheme alone."""
    assert scheme["type"] == "http", scheme
    if scheme["scheme"] == "bearer":
        return {"Authorization": f"Bearer {credential}"}
    assert scheme["scheme"] == "basic"
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{credential}".encode()).decode()}


def test_try_it_out_with_the_declared_scheme_and_a_token_works(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    operation = spec["paths"]["/api/v1/incidents"]["get"]
    [[name]] = [list(requirement) for requirement in operation["security"]]
    r = client.get("/api/v1/incidents", headers=header_for(schemes[name], API_TOKEN))
    assert r.status_code == 200, r.text
    wrong = client.get("/api/v1/incidents", headers=header_for(schemes[name], "not-the-api-token-123"))
    assert wrong.status_code == 401


def test_every_route_declares_the_credential_it_takes(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            names = {name for requirement in operation.get("security", []) for name in requirement}
            if not path.startswith("/api/v1/"):
                assert not names, f"{method.upper()} {path} is open, or checks a signature or its link's token"
                continue
            url = re.sub(r"\{[^}]+\}", "x1", path)
            assert names, f"{method.upper()} {path} declares no security scheme"
            for name in names:
                if name.startswith("integration"):  # an integration's own key: no API token opens it
                    r = client.request(method.upper(), url, headers=header_for(schemes[name], API_TOKEN))
                    assert r.status_code == 401 and "integration key" in r.json()["detail"], r.text
                    continue
                credential = AM_TOKEN if name.startswith("alertmanager") else API_TOKEN
                r = client.request(method.upper(), url, headers=header_for(schemes[name], credential))
                assert r.status_code != 401, f"{method.upper()} {path} refused its {name}: {r.text}"
                checked += 1
    assert checked >= 30
    alertmanager = spec["paths"]["/api/v1/alertmanager"]["post"]["security"]
    assert alertmanager == [{"alertmanagerToken": []}, {"alertmanagerBasic": []}]
    assert {} in spec["paths"]["/api/v1/schedules/{name}.ics"]["get"]["security"]  # or its feed token
