import xml.etree.ElementTree as ET

from integrations.message_text import clean_text, email_content, gsm7_septets, sms_text, voice_twiml
from tests.integrations.sim_fixture import make_page

GATHER = "https://h/webhooks/twilio/voice/gather?incident=inc-1&person=p-ann"
HOSTILE = "db1\r\nBcc: evil@x\x1b[31m\u202egnp.exe\u200b</Say><Dial>+15557654321</Dial><Say>"


# --- clean_text / gsm7 ---------------------------------------------------------

def test_clean_text_collapses_whitespace():
    assert clean_text("  a\tb\n\nc  ") == "a b c"


def test_clean_text_limit_and_none():
    assert clean_text(None) == ""
    assert clean_text("abcdef ghi", 7) == "abcdef"


def test_clean_text_strips_control_and_bidi():
    assert clean_text("x\x00\x1b[0m\u202e\u200by\u2028z") == "x[0my z"


def test_gsm7_septets_basic():
    assert gsm7_septets("Hello @ 100%") == 12


def test_gsm7_septets_extension_chars_cost_two():
    assert gsm7_septets("{x}") == 5


def test_gsm7_septets_non_gsm_is_none():
    assert gsm7_septets("fire \U0001F525") is None


# --- sms_text ------------------------------------------------------------------

def test_sms_text_format():
    assert sms_text(make_page()) == "P1 DiskFull db1 #12 ack: https://h/ack/TOKEN or reply 4 12"


def test_sms_text_drill_prefix():
    assert sms_text(make_page(drill=True)).startswith("DRILL P1 DiskFull db1 #12")


def test_sms_text_truncates_long_summary_into_one_segment():
    text = sms_text(make_page(summary="very long summary " * 30))
    assert gsm7_septets(text) is not None and gsm7_septets(text) <= 160
    assert "... #12 ack: https://h/ack/TOKEN or reply 4 12" in text
    assert "\u2026" not in text


def test_sms_text_transliterates_to_gsm7():
    text = sms_text(make_page(title="Café {db} ~ \U0001F525 |x|", summary=""))
    assert text.startswith("P1 Cafe (db) - /x/ #12")
    assert gsm7_septets(text) == len(text)


def test_sms_text_overlong_link_drops_hint_then_exceeds():
    url = "https://h/ack/" + "T" * 140
    text = sms_text(make_page(ack_url=url, summary="x" * 50))
    assert text.endswith(f"#12 ack: {url}") and "reply 4" not in text
    assert "DiskFull" in text and len(text) > 160  # only when it cannot fit


def test_sms_text_without_ack_link():
    assert sms_text(make_page(ack_url="")) == "P1 DiskFull db1 #12 reply 4 12 to ack"


def test_sms_text_no_injection_from_alert_text():
    text = sms_text(make_page(summary=HOSTILE, title="Disk\nFull\x07"))
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\x07" not in text
    assert "\u202e" not in text and "\u200b" not in text
    assert text.endswith("#12 ack: https://h/ack/TOKEN or reply 4 12")


# --- voice_twiml ---------------------------------------------------------------

def _parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def test_voice_twiml_structure():
    root = _parse(voice_twiml(make_page(), GATHER))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1" and gather.get("action") == GATHER
    says = [s.text for s in gather.findall("Say")]
    assert "severity P1" in says[0] and "DiskFull" in says[0] and "db1" in says[0]
    assert says[1] == "Press 4 to acknowledge, 6 to resolve, 8 to escalate, star to repeat"
    assert root.find("Say") is not None and root.find("Redirect").text == GATHER


def test_voice_twiml_drill_and_long_text():
    root = _parse(voice_twiml(make_page(drill=True, summary="s" * 5000), GATHER))
    spoken = root.find("Gather/Say").text
    assert spoken.startswith("This is a drill.") and len(spoken) < 800


def test_voice_twiml_escapes_say_injection():
    xml = voice_twiml(make_page(title="</Say><Dial>+15551234567</Dial><Say>", summary=HOSTILE), GATHER)
    root = _parse(xml)
    assert root.find(".//Dial") is None and "<Dial>" not in xml
    assert "</Say><Dial>" in root.find("Gather/Say").text  # kept as spoken text, escaped


# --- email_content ---------------------------------------------------------------

def test_email_content_parts():
    subject, text, html = email_content(make_page())
    assert subject == "[P1] #12 DiskFull"
    assert "alertname=DiskFull" in text and "description: Disk is 95% full" in text
    assert "Acknowledge: https://h/ack/TOKEN" in text and "Resolve: https://h/resolve/TOKEN" in text
    assert '<a href="https://h/ack/TOKEN">Acknowledge</a>' in html
    assert '<a href="http://prom:9090/graph?g0.expr=up">Source</a>' in html


def test_email_content_drill_and_minimal_page():
    subject, text, html = email_content(make_page(drill=True, labels={}, annotations={},
                                                  generator_url="", resolve_url=""))
    assert subject == "[DRILL] [P1] #12 DiskFull"
    assert text.startswith("THIS IS A DRILL.") and "Labels:" not in text and "Resolve" not in text
    assert "THIS IS A DRILL" in html and "<table>" not in html


def test_email_content_escapes_and_blocks_header_injection():
    subject, text, html = email_content(make_page(
        title="Disk\r\nBcc: evil@x.example", summary="<script>alert(1)</script>",
        labels={"<b>k</b>": "\"><img src=x onerror=alert(1)>"},
        generator_url="javascript:alert(1)"))
    assert "\r" not in subject and "\n" not in subject
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "<b>k</b>" not in html
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html  # shown, not linked


def test_notice_is_plain_text_with_a_link_and_no_ack_prompt():
    from integrations.notifier import OutboundPage

    notice = OutboundPage(incident_id="handoff-h1", code="", round=0, tier="", person_id="erin", person_name="Erin",
                          channel="sms", address="+15550100004", severity="", title="Herald handoff: backup L2",
                          summary="Handoff from Bob:\nyou are on call <now>", ack_url="https://h/api/v1/handoffs/h1",
                          kind="notice")
    text = sms_text(notice)
    assert text == "Handoff from Bob: you are on call <now> https://h/api/v1/handoffs/h1"
    assert "reply 4" not in text and "P?" not in text
    subject, body, html_body = email_content(notice)
    assert subject == "Herald handoff: backup L2" and "https://h/api/v1/handoffs/h1" in body
    assert "&lt;now&gt;" in html_body and "<now>" not in html_body
