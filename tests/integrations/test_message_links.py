"""An alert's links (the ``links`` annotation, routing.integration) in pages: SMS keeps the
first within its one segment, email shows them all."""
from __future__ import annotations

from integrations.message_text import SMS_SEGMENT, email_content, gsm7_septets, sms_text
from routing.integration import Link, links_annotation
from tests.integrations.sim_fixture import make_page

DASHBOARD = "https://g.example/d/abc?orgId=1"
LINKS = (Link(DASHBOARD, "Dashboard"), Link("https://g.example/d/abc?viewPanel=4", "Panel"),
         Link("https://g.example/alerting/silence/new?m=x", "Silence"))


def page_with(links, **changes):
    return make_page(annotations={"description": "Disk is 95% full", "links": links_annotation(links)}, **changes)


def test_an_sms_carries_the_first_link_only():
    text = sms_text(page_with(LINKS))
    assert text == f"P1 DiskFull db1 {DASHBOARD} #12 ack: https://h/ack/TOKEN or reply 4 12"
    assert "viewPanel" not in text and "silence" not in text


def test_an_sms_drops_the_link_rather_than_outgrow_its_segment():
    long_link = Link("https://g.example/d/" + "a" * 120, "Dashboard")
    text = sms_text(page_with((long_link, *LINKS[1:])))
    assert "g.example" not in text and text == "P1 DiskFull db1 #12 ack: https://h/ack/TOKEN or reply 4 12"
    tight = sms_text(page_with(LINKS, summary="x" * 200))
    assert gsm7_septets(tight) <= SMS_SEGMENT and DASHBOARD in tight  # the summary is cut, not the link


def test_an_sms_skips_a_link_it_cannot_send():
    links = (Link("javascript:alert(1)", "bad"), Link("https://g.example/\u4e2d", "not GSM-7"), LINKS[0])
    assert DASHBOARD in sms_text(page_with(links)) and "javascript" not in sms_text(page_with(links))
    assert sms_text(make_page()) == "P1 DiskFull db1 #12 ack: https://h/ack/TOKEN or reply 4 12"  # no links, as before


def test_an_email_lists_every_link_and_not_the_raw_annotation():
    subject, text, html = email_content(page_with(LINKS, channel="email"))
    assert "Links:\n  Dashboard: https://g.example/d/abc?orgId=1\n  Panel: https://g.example/d/abc?viewPanel=4\n" \
           "  Silence: https://g.example/alerting/silence/new?m=x" in text
    assert '"href"' not in text and "links:" not in text  # the JSON annotation itself is not shown
    assert '<a href="https://g.example/d/abc?viewPanel=4">Panel</a>' in html
    assert html.count("<li>") == 3


def test_an_email_shows_a_link_it_will_not_make_clickable_as_text():
    _, text, html = email_content(page_with((Link("javascript:alert(1)", "Bad"),), channel="email"))
    assert "Bad: javascript:alert(1)" in text
    assert 'href="javascript' not in html and "<li>Bad: javascript:alert(1)</li>" in html
