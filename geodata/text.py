"""Text shown to people: one readable line, whatever it quotes."""

from __future__ import annotations

#: The most characters of one message, or of one value quoted in a message.
MESSAGE_CHARS = 300


def one_line(text: object, limit: int = MESSAGE_CHARS) -> str:
    """``text`` on one line (line breaks as spaces), cut to ``limit`` characters with an ellipsis.

    >>> one_line("a\\nb" + "x" * 300, 10)
    'a bxxxxxx…'
    """
    text = " ".join(str(text)[:limit * 2 + 2].split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
