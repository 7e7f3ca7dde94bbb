"""Text for people: shorten at a word with an ellipsis, never in the middle of a token."""

from __future__ import annotations

ELLIPSIS = "…"
DISPLAY_LIMIT = 300
_BREAKS_AFTER = frozenset(" ,")  # a space, or a comma between JSON members


def shorten_at_word(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """`text` on one line, at most `limit` characters: cut after the last space or comma that fits, then `…`.

    A text with nowhere to cut (one long token) is cut at the limit; the ellipsis says so.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    room = max(limit - len(ELLIPSIS) - 1, 1)
    cut = max((i + 1 for i in range(room) if flat[i] in _BREAKS_AFTER), default=0)
    kept = flat[:cut].rstrip(" ,;:") if cut else flat[:room]
    return f"{kept} {ELLIPSIS}"
