"""Text shown to people: one readable line, whatever it quotes."""

from __future__ import annotations

import re

#: The most characters of one message, or of one value quoted in a message.
MESSAGE_CHARS = 300
# Control characters (NUL, escapes, line breaks) never reach a terminal, a log line or a client as themselves.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: object, limit: int = MESSAGE_CHARS) -> str:
    """``text`` on one line (line breaks and other control characters as spaces), cut to ``limit`` characters
    with an ellipsis.

    >>> one_line("a\\nb" + "x" * 300, 10)
    'a bxxxxxx…'
    """
    text = " ".join(_CONTROL.sub(" ", str(text)[:limit * 2 + 2]).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
