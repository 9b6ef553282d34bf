"""Pure text builders for outbound pages: the SMS line, the voice TwiML and the email.

Alert labels, annotations, titles and summaries come from Alertmanager and are
attacker-controlled: every builder strips control/format characters (no newline or
terminal/bidi-override injection into an SMS or a mail header), the TwiML is built
with the twilio SDK (which XML-escapes text), and the HTML email escapes everything
and only links http(s) URLs.
"""
from __future__ import annotations

import html
import re
import unicodedata

from twilio.twiml.voice_response import VoiceResponse

from integrations.notifier import OutboundPage
from routing.integration import links_of
from routing.text import clean_text

SMS_SEGMENT = 160  # septets in one GSM-7 segment
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")  # cost two septets (escape + char)
# ASCII characters that are not single GSM-7 septets, mapped to ones that are.
_SMS_SUBST = str.maketrans({"`": "'", "[": "(", "]": ")", "{": "(", "}": ")",
                            "\\": "/", "|": "/", "~": "-", "^": ""})
_WS = re.compile(r"\s+")
_VOICE_PROMPT = "Press 4 to acknowledge, 6 to resolve, 8 to escalate, star to repeat"


def gsm7_septets(text: str) -> int | None:
    """Septets ``text`` needs in GSM-7, or None if it needs UCS-2 (70-char segments)."""
    total = 0
    for ch in text:
        if ch in _GSM_BASIC:
            total += 1
        elif ch in _GSM_EXTENSION:
            total += 2
        else:
            return None
    return total


def _sms_safe(text: str) -> str:
    """Transliterate to ASCII (é -> e, emoji dropped) using only single-septet chars."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _WS.sub(" ", ascii_text.translate(_SMS_SUBST)).strip()


def _short_summary(page: OutboundPage) -> str:
    title, summary = clean_text(page.title), clean_text(page.summary)
    if not summary or summary == title:
        return title
    if not title or summary.startswith(title):
        return summary
    return f"{title} {summary}"


def _truncate(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    return text[: max(room - 3, 0)].rstrip() + "..."


def sms_text(page: OutboundPage) -> str:
    """``[DRILL ]P1 <summary> #<code> ack: <url> or reply 4 <code>``, fitted into one
    GSM-7 segment by truncating the summary ("..."); if the link itself is too long
    the reply hint is dropped, and only then may the text exceed one segment."""
    if page.kind == "notice":  # a handoff message: its text and a link, no severity, nothing to ack
        link = clean_text(page.ack_url).replace(" ", "%20")
        return _truncate(_sms_safe(clean_text(page.summary)), 300) + (f" {link}" if link else "")
    sev = _sms_safe(clean_text(page.severity, 8)) or "P?"
    code = _sms_safe(clean_text(page.code, 16))
    summary = _sms_safe(_short_summary(page))
    ack = clean_text(page.ack_url).replace(" ", "%20")
    prefix = ("DRILL " if page.drill else "") + sev + " "
    ref = f" #{code}" if code else ""
    reply = f"reply 4 {code}" if code else "reply 4"
    tails = [f"{ref} ack: {ack} or {reply}", f"{ref} ack: {ack}"] if ack else [f"{ref} {reply} to ack"]
    link = _first_link(page)
    if link:  # the alert's first link (a dashboard), kept only while the text still fits one segment
        tails = [f" {link}{tails[0]}", *tails]
    for tail in tails:
        fixed = gsm7_septets(prefix + tail)
        room = SMS_SEGMENT - (fixed if fixed is not None else SMS_SEGMENT)
        if len(summary) <= room or room >= 12:
            return prefix + _truncate(summary, room) + tail
    return prefix + _truncate(summary, 12) + tails[-1]


def _first_link(page: OutboundPage) -> str:
    """The first http(s) link of the alert (``routing.integration.links_of``), SMS-safe."""
    for link in links_of(page.annotations):
        href = clean_text(link.href).replace(" ", "%20")
        if _link_ok(href) and gsm7_septets(href) is not None:
            return href
    return ""


def voice_twiml(page: OutboundPage, gather_action_url: str) -> str:
    """TwiML for a paging call: the alert is read inside a one-digit <Gather> posting
    to ``gather_action_url``; with no key pressed it says so and <Redirect>s there
    (without ``Digits``) so Herald decides whether to repeat or hang up."""
    if page.kind == "notice":  # a message to listen to (a one-time code): read it, nothing to press
        resp = VoiceResponse()
        resp.say(clean_text(page.summary, 400) or clean_text(page.title, 200))
        return str(resp)
    sev = clean_text(page.severity, 8) or "unknown"
    intro = "This is a drill. " if page.drill else ""
    code = clean_text(page.code, 16)
    title, summary = clean_text(page.title, 200), clean_text(page.summary, 400)
    spoken = (f"{intro}Herald page, severity {sev}. "
              + (f"Incident {code}. " if code else "")
              + (f"{title}. {summary}" if summary and summary != title else f"{title}."))
    resp = VoiceResponse()
    gather = resp.gather(num_digits=1, action=gather_action_url, method="POST", timeout=8)
    gather.say(spoken.strip())
    gather.say(_VOICE_PROMPT)
    resp.say("No key was pressed. This page is not acknowledged.")
    resp.redirect(gather_action_url, method="POST")
    return str(resp)


def _link_ok(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def _multiline(text: object, limit: int = 2000) -> str:
    """Keep line breaks (annotation descriptions) but clean each line."""
    lines = str(text or "").replace("\r\n", "\n").split("\n")
    return "\n".join(clean_text(line) for line in lines).strip()[:limit]


def email_content(page: OutboundPage) -> tuple[str, str, str]:
    """(subject, text, html) for an email page. The subject is one clean line;
    the HTML escapes every value and links only http(s) URLs."""
    if page.kind == "notice":
        body, link = _multiline(page.summary), clean_text(page.ack_url)
        text = body + (f"\n\n{link}\n" if link else "\n")
        link_html = f"<p><a href=\"{html.escape(link)}\">Details</a></p>" if _link_ok(link) else ""
        return (clean_text(page.title, 250), text,
                f"<!doctype html><html><body><p style='white-space:pre-wrap'>{html.escape(body)}</p>"
                f"{link_html}</body></html>")
    sev, code = clean_text(page.severity, 8) or "P?", clean_text(page.code, 16)
    title = clean_text(page.title, 200)
    drill = "[DRILL] " if page.drill else ""
    subject = clean_text(f"{drill}[{sev}] #{code} {title}", 250)
    summary = _multiline(page.summary)
    labels = [(clean_text(k, 100), clean_text(v, 300)) for k, v in sorted(page.labels.items())]
    notes = [(clean_text(k, 100), _multiline(v)) for k, v in sorted(page.annotations.items()) if k != "links"]
    alert_links = [(clean_text(link.text, 100) or "Link", clean_text(link.href)) for link in links_of(page.annotations)]
    shown = {url for _, url in alert_links}
    links = [(name, clean_text(url)) for name, url in (
        ("Acknowledge", page.ack_url), ("Resolve", page.resolve_url),
        ("Source", page.generator_url)) if clean_text(url) and clean_text(url) not in shown]

    text_parts = [f"{'THIS IS A DRILL. ' if page.drill else ''}{sev} incident #{code}: {title}", "", summary, ""]
    if labels:
        text_parts += ["Labels:"] + [f"  {k}={v}" for k, v in labels] + [""]
    if notes:
        text_parts += ["Annotations:"] + [f"  {k}: " + v.replace("\n", "\n    ") for k, v in notes] + [""]
    if alert_links:
        text_parts += ["Links:"] + [f"  {name}: {url}" for name, url in alert_links] + [""]
    text_parts += [f"{name}: {url}" for name, url in links]
    text_parts += ["", f"Or reply to the SMS page with: 4 {code} (ack) / 6 {code} (resolve)"]
    text = "\n".join(text_parts).strip() + "\n"

    e = html.escape
    rows = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in labels)
    note_rows = "".join(f"<dt><b>{e(k)}</b></dt><dd style='white-space:pre-wrap'>{e(v)}</dd>" for k, v in notes)
    alert_link_rows = "".join(
        f"<li><a href=\"{e(url)}\">{e(name)}</a></li>" if _link_ok(url) else f"<li>{e(name)}: {e(url)}</li>"
        for name, url in alert_links)
    link_html = " | ".join(
        f"<a href=\"{e(url)}\">{e(name)}</a>" if _link_ok(url) else f"{e(name)}: {e(url)}"
        for name, url in links)
    html_body = (
        "<!doctype html><html><body>"
        + ("<p><b>THIS IS A DRILL</b></p>" if page.drill else "")
        + f"<h2>{e(sev)} incident #{e(code)}: {e(title)}</h2>"
        + f"<p style='white-space:pre-wrap'>{e(summary)}</p>"
        + (f"<table>{rows}</table>" if rows else "")
        + (f"<dl>{note_rows}</dl>" if note_rows else "")
        + (f"<ul>{alert_link_rows}</ul>" if alert_link_rows else "")
        + f"<p>{link_html}</p></body></html>"
    )
    return subject, text, html_body
