"""Text from outside (alert fields, SMS replies) made safe to show and to parse: one line
of printable characters. Shared by the messages Herald sends and the replies it reads."""
from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")


def clean_text(text: object, limit: int | None = None) -> str:
    """One line of printable text: control, format (bidi, zero-width) and separator
    characters removed, whitespace collapsed, optionally cut to ``limit`` chars."""
    raw = "" if text is None else str(text)
    kept = []
    for ch in raw:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r\v\f" or cat in ("Zl", "Zp"):
            kept.append(" ")
        elif cat not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(ch)
    out = _WS.sub(" ", "".join(kept)).strip()
    return out[:limit].rstrip() if limit is not None else out
