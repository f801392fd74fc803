"""A segment: one translatable block as the model sees it, with what restore needs to splice it back."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._glossary import GlossaryEntry
from ._placeholder import DEFAULT_STYLE, PlaceholderStyle

__all__ = ["Segment"]


@dataclass(frozen=True, eq=False)
class Segment:
    """One translatable block.

    ``text`` is what the model sees: the block's content with every protected span replaced by a placeholder;
    ``placeholders`` maps each placeholder to the original bytes it stands for (in order of appearance).
    """

    id: str
    text: str
    placeholders: dict[str, str]
    kind: str  # paragraph | heading | list_item | quote | table_cell | alt | caption | footnote
    heading_path: list[str]
    glossary: list[GlossaryEntry] = field(default_factory=list)
    level: int = 0  # heading level; 0 for everything else
    heading: str = ""  # for a heading: its text as it appears in the heading paths of the segments below it
    source: str = ""  # the original bytes of the whole block region (container prefixes included)
    style: PlaceholderStyle = field(default=DEFAULT_STYLE, repr=False)
    # -- private: where the segment lives in the document and how a translation is laid out there ------------------
    start: int = field(default=0, repr=False)
    end: int = field(default=0, repr=False)
    cont: str = field(default="\n", repr=False)  # a translation's line break (line break + container prefix)
    single_line: bool = field(default=False, repr=False)
    unit: tuple[int, int] = field(default=(0, 0), repr=False)
