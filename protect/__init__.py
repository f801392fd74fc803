"""protect: placeholder-safe segmentation of Markdown+LaTeX papers, byte-exact restore, validation, chunking, glossary.

Pure library (standard library only at run time; no I/O except :meth:`Glossary.load`, no model)::

    pd = protect.protect(markdown, glossary)          # segments with placeholders
    result = pd.restore({s.id: translated for s in pd.segments}, bilingual=False)
    chunks = protect.chunk(pd, budget_tokens, count_tokens, overlap=1)
"""

from ._chunk import Chunk, ChunkItem, chunk, split_sentences
from ._document import ProtectedDocument, RestoreResult, protect
from ._glossary import Glossary, GlossaryEntry
from ._placeholder import DEFAULT_STYLE, STYLES, PlaceholderStyle
from ._segment import Segment
from ._validate import HARD_REASONS, SOFT_REASONS, SegmentReport, validate

__all__ = [
    "DEFAULT_STYLE",
    "HARD_REASONS",
    "SOFT_REASONS",
    "STYLES",
    "Chunk",
    "ChunkItem",
    "Glossary",
    "GlossaryEntry",
    "PlaceholderStyle",
    "ProtectedDocument",
    "RestoreResult",
    "Segment",
    "SegmentReport",
    "chunk",
    "protect",
    "restore",
    "split_sentences",
    "validate",
]


def restore(pd: ProtectedDocument, translations: dict[str, str], bilingual: bool = False) -> RestoreResult:
    """Same as ``pd.restore(translations, bilingual)``."""
    return pd.restore(translations, bilingual)
