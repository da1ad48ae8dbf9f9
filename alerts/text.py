"""Which characters of input text are unsafe to show or send, and how to make text inert."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: Bidirectional formatting characters (Unicode UAX #9): they reorder what is shown around them, so
#: `MRN\u202e0021` displays as "MRN1200". Never meaningful in an id, a ward or a bed.
BIDI_CONTROLS: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Shown instead of an unsafe character: visible, so a reader sees that something was there.
REPLACEMENT: Final = "\ufffd"
ELLIPSIS: Final = "\u2026"


def is_unsafe(char: str) -> bool:
    """Control characters (CR, LF, tab, C1...), line/paragraph separators, bidi controls, surrogates."""
    if char in BIDI_CONTROLS:
        return True
    return unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs")


#: The characters `is_unsafe` accepts, as one character class (Unicode's Cc is exactly C0, DEL and C1; Zl and
#: Zp are U+2028 and U+2029; Cs the surrogates): one scan in C instead of a category look-up per character.
#: tests/unit/alerts/test_text.py checks it against `is_unsafe` over every code point.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff" + "".join(sorted(BIDI_CONTROLS)) + "]"
)


def first_unsafe(text: str) -> tuple[int, str] | None:
    """(position, `U+XXXX`) of the first unsafe character, or None."""
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return found.start(), f"U+{ord(found.group()):04X}"


def inert(text: str, limit: int | None = None) -> str:
    """One line of plain text: unsafe characters replaced by U+FFFD, cut to `limit` with an ellipsis."""
    cleaned = _UNSAFE.sub(REPLACEMENT, text)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)] + ELLIPSIS
    return cleaned


def slack_escape(text: str) -> str:
    """Slack mrkdwn: `&`, `<` and `>` are the only control characters (links, mentions, entities)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
