"""The console's People page (/ui/people): states shown (STOP visible), a test page, a code
sent and entered; read-only logins see no addresses and no buttons; CSRF is checked."""
from __future__ import annotations

import re

from tests.web.conftest import READ_TOKEN, csrf_of, login

ALICE = "+15550100001"


def _row(html: str, person: str) -> str:
    start = html.index(f'id="person-{person}"')
    return html[start:html.index("</tr>", start)]


def test_the_page_shows_each_contact_state_and_stop(admin):
    admin.app.state.herald.paging.set_opted_out(ALICE, True)  # what a STOP reply leaves
    text = admin.get("/ui/people").text
    alice = _row(text, "alice")
    assert f'data-state="opted_out">phone {ALICE}' in alice
    assert 'data-state="unverified">email alice@example.com' in alice
    assert "no verified contact — a coverage problem" in alice  # on call now (primary L1)
    assert 'action="/ui/people/alice/test-page"' in alice


def test_send_a_code_then_verify_it_in_the_console(admin, capsys):
    html = admin.get("/ui/people").text
    contact = re.search(r'data-contact="(c[0-9a-f]{12})" data-state="unverified">email bob@example.com',
                        html).group(1)
    r = admin.post(f"/ui/people/bob/contacts/{contact}/code", data={"csrf": csrf_of(html)})
    assert r.status_code == 200 and "Code sent" in r.text
    code = re.findall(r"NOTICE \[email\] -> Bob Brown: Your Herald verification code is (\d{6})",
                      capsys.readouterr().out)[-1]
    wrong = "000000" if code != "000000" else "111111"
    r = admin.post(f"/ui/people/bob/contacts/{contact}/confirm", data={"csrf": csrf_of(html), "code": wrong})
    assert r.status_code == 400 and "Not verified — code: wrong or expired code" in r.text
    r = admin.post(f"/ui/people/bob/contacts/{contact}/confirm", data={"csrf": csrf_of(html), "code": code})
    assert r.status_code == 200 and "Contact verified." in r.text
    assert 'data-state="verified">email bob@example.com' in _row(r.text, "bob")
    assert "no verified contact" not in _row(r.text, "bob")


def test_send_me_a_test_page_button(admin, capsys):
    html = admin.get("/ui/people").text
    assert admin.post("/ui/people/erin/test-page", data={"csrf": "forged"}).status_code == 403
    assert "test page" not in capsys.readouterr().out  # nothing sent without the session's CSRF token
    r = admin.post("/ui/people/erin/test-page", data={"csrf": csrf_of(html)})
    assert r.status_code == 200 and "Test page sent." in r.text
    out = capsys.readouterr().out
    assert "NOTICE [sms] -> Erin Engel: This is a test page from Herald" in out
    assert "NOTICE [email] -> Erin Engel: This is a test page from Herald" in out


def test_read_only_sees_states_not_addresses_and_may_not_send(client):
    login(client, READ_TOKEN)
    text = client.get("/ui/people").text
    assert ALICE not in text and "alice@example.com" not in text and 'data-state="unverified">phone' in text
    assert "Send a test page" not in text
    r = client.post("/ui/people/alice/test-page", data={"csrf": csrf_of(text)})
    assert r.status_code == 403
