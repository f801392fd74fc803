"""Formulas written touching: ``⟦1⟧⟦2⟧`` restores to ``$a$$b$``, and in Markdown that ``$$`` opens display math.

Protect merges spans that touch in the source into one placeholder, so two placeholders of a segment are never
adjacent in its masked text; a translation that writes two of them with nothing between creates a contact the source
did not have. Where the bytes at the contact would fuse into another delimiter (``$`` + ``$``, a backtick against a
backtick: ``` `a``b` ```), :func:`separate_formulas` puts a space between them: the reader sees the same formulas and
Markdown sees two.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._placeholder import PlaceholderStyle

__all__ = ["separate_formulas", "touching_formulas"]

_FUSING = frozenset("$`")


def touching_formulas(
    text: str, placeholders: Mapping[str, str], style: PlaceholderStyle, source: str = ""
) -> list[tuple[int, str, str]]:
    """``(offset, left, right)`` for each pair of placeholders that ``text`` writes touching and whose original bytes
    would fuse at the contact (``offset`` is where the right one starts). A pair that touches in ``source`` as well
    (the masked source) is left alone."""
    found: list[tuple[int, str, str]] = []
    prev_end, prev = -1, ""
    for m in style.token.finditer(text):
        ph = style.canonical(m)
        if m.start() == prev_end and prev in placeholders and ph in placeholders:
            left, right = placeholders[prev], placeholders[ph]
            if left and right and left[-1] == right[0] and left[-1] in _FUSING and prev + ph not in source:
                found.append((m.start(), prev, ph))
        prev_end, prev = m.end(), ph
    return found


def separate_formulas(text: str, placeholders: Mapping[str, str], style: PlaceholderStyle, source: str = "") -> str:
    """``text`` (masked) with a space between each pair that :func:`touching_formulas` finds."""
    cuts = [offset for offset, _, _ in touching_formulas(text, placeholders, style, source)]
    if not cuts:
        return text
    parts, last = [], 0
    for offset in cuts:
        parts.append(text[last:offset])
        parts.append(" ")
        last = offset
    parts.append(text[last:])
    return "".join(parts)
