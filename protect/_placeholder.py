"""Placeholder syntax: how a protected span looks to the model, and how it is recognised in the model's output.

Several forms are defined so that ``benchmarks/measure_placeholders.py`` can compare them on the embedded model; the
default is the form that measured best (see ``docs/placeholders.md``). Recognition tolerates whitespace inside a
placeholder (``⟦ 3 ⟧``), the way BabelDOC's placeholder regexes do, because small models often insert a space there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["DEFAULT_STYLE", "STYLES", "PlaceholderStyle", "find_style", "get_style"]


@dataclass(frozen=True)
class PlaceholderStyle:
    """One placeholder form ``<open><n><close>``.

    ``token`` finds placeholders in model output (whitespace-tolerant), ``loose`` finds debris that looks like a damaged
    placeholder (an opener or closer left over), and ``danger`` finds source text that a reader of the masked text could
    mistake for a placeholder; such source text is masked itself so it can never be confused with one.
    """

    name: str
    open: str
    close: str
    prefix: str = ""
    token: re.Pattern[str] = field(init=False, repr=False, compare=False)
    loose: re.Pattern[str] = field(init=False, repr=False, compare=False)
    danger: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        o, c, p = re.escape(self.open), re.escape(self.close), re.escape(self.prefix)
        flags = re.IGNORECASE if self.prefix else 0
        token = re.compile(rf"{o}\s*{p}\s*(\d+)\s*{c}", flags)
        if self.prefix:
            # e.g. "<m1>": an opener followed by the prefix letter is placeholder-like; a bare "<" is ordinary text.
            loose = re.compile(rf"{o}\s*{p}\s*\d*\s*(?:{c})?|{p}\s*\d+\s*{c}", flags)
            danger = re.compile(rf"{o}\s*{p}\s*\d+\s*{c}|{o}\s*{p}\s*\d+|{p}\s*\d+\s*{c}", flags)
        else:
            loose = re.compile(rf"{o}|{c}")
            # a whole placeholder-like token first, so that "⟦1⟧" in the source becomes one span, not "⟦", "1", "⟧"
            danger = re.compile(rf"{o}\s*\d*\s*{c}|{o}|{c}")
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "loose", loose)
        object.__setattr__(self, "danger", danger)

    def make(self, n: int) -> str:
        """The canonical placeholder number ``n``."""
        return f"{self.open}{self.prefix}{n}{self.close}"

    def canonical(self, match: re.Match[str]) -> str:
        """The canonical form of a (possibly whitespace-padded) match of ``token``."""
        return self.make(int(match.group(1)))


STYLES: dict[str, PlaceholderStyle] = {
    s.name: s
    for s in (
        PlaceholderStyle("brackets", "⟦", "⟧"),
        PlaceholderStyle("braces", "{{", "}}"),
        PlaceholderStyle("tag", "<", ">", prefix="m"),
        PlaceholderStyle("square", "[", "]", prefix="M"),
        PlaceholderStyle("at", "@@", "@@"),
    )
}

#: The default form: ⟦n⟧. In the Gemma 3 vocabulary ``⟦`` and ``⟧`` are single tokens that never merge with a
#: neighbour (``{{``/``}}`` do: ``}}{{``, ``({{``), so constrained decoding (server/engine/constrain.py) can allow and
#: force a placeholder token by token; measured in docs/placeholders.md (benchmarks/measure_placeholders.py).
DEFAULT_STYLE: PlaceholderStyle = STYLES["brackets"]


def get_style(style: PlaceholderStyle | str | None) -> PlaceholderStyle:
    """Resolve a style object or name (``None`` = the default)."""
    if style is None:
        return DEFAULT_STYLE
    if isinstance(style, PlaceholderStyle):
        return style
    try:
        return STYLES[style]
    except KeyError:
        raise ValueError(f"unknown placeholder style {style!r}; known: {sorted(STYLES)}") from None


def find_style(text: str) -> PlaceholderStyle:
    """The first known form whose placeholders occur in ``text``; the default form when none does."""
    for style in STYLES.values():
        if style.token.search(text):
            return style
    return DEFAULT_STYLE
