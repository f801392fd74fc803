"""The Markdown text a LaTeX document is assembled into: token marks and the text helpers that shape blocks.

Formulas and references stand in the text as opaque tokens (``\\x00<n>\\x00`` inline, ``\\x01<n>\\x01`` display, no
whitespace inside) until the very end, so nothing here can touch one.
"""

from __future__ import annotations

import re

__all__ = ["DISPLAY", "INLINE", "TOKEN", "fence", "finish_paragraph", "join_blocks", "wrap"]

INLINE = "\x00"
DISPLAY = "\x01"
TOKEN = re.compile("([\x00\x01])(\\d+)\\1")
_NEEDS_ESCAPE = re.compile(r"^(#|>|[-+*](\s|$)|\d+[.)](\s|$)|=+\s*$)")


def wrap(text: str, mark: str) -> str:
    text = text.strip()
    return f"{mark}{text}{mark}" if text else ""


def fence(text: str, lang: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def finish_paragraph(text: str) -> str:
    """Collapse a paragraph's whitespace (tokens hold the formulas, so this never touches one); display formulas go
    on their own lines inside the paragraph."""
    text = " ".join(text.split())
    text = re.sub(r" ?(\x01\d+\x01) ?", r"\n\1\n", text).strip("\n")
    if _NEEDS_ESCAPE.match(text):
        text = "\\" + text
    return text


def join_blocks(blocks: list[str]) -> str:
    return "\n\n".join(b for b in blocks if b.strip())
