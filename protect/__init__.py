"""protect: placeholder-safe segmentation of Markdown+LaTeX papers, byte-exact restore, validation, chunking, glossary.

Pure library (standard library only at run time; no I/O except :meth:`Glossary.load`, no model)::

    pd = protect.protect(markdown, glossary)          # segments with placeholders
    pd = protect.protect(markdown, verbatim=protect.Verbatim())  # references and byline kept as they are
    protect.unmask(text, seg.placeholders)            # any text: placeholders -> original spans
    protect.mask(correction, seg.placeholders)        # any text: original spans -> placeholders (or InventoryMismatch)
    protect.check_inventory(text, seg.placeholders)   # missing / duplicated / invented placeholders
    protect.validate(seg, text)                       # hard / soft reasons, faithfulness checks included
    protect.separate_formulas(text, seg.placeholders, seg.style)  # a space between formulas written touching
    protect.extract_terms([s.text for s in pd.segments])  # candidate terms of a document (its terminology)
    protect.balance_markup(seg.text, text, seg.style)  # drop an unpaired ** / * the source does not have
    result = pd.restore({s.id: translated for s in pd.segments}, bilingual=False)
    chunks = protect.chunk(pd, budget_tokens, count_tokens, overlap=1)
"""

from ._chunk import Chunk, ChunkItem, chunk, split_sentences
from ._document import ProtectedDocument, RestoreResult, protect
from ._echo import PromptText
from ._glossary import Glossary, GlossaryEntry
from ._inventory import InventoryCheck, InventoryMismatch, check_inventory, mask, unmask
from ._markup import balance_markup
from ._placeholder import DEFAULT_STYLE, STYLES, PlaceholderStyle, find_style
from ._segment import Segment
from ._terms import (
    TermCandidate,
    TermUse,
    acronym_expansions,
    enforce_terms,
    extract_terms,
    outermost,
    term_uses,
)
from ._touching import separate_formulas, touching_formulas
from ._validate import FAITHFULNESS_REASONS, HARD_REASONS, RETRY_REASONS, SOFT_REASONS, SegmentReport, validate
from ._verbatim import Verbatim, VerbatimBlock
from .faithful import Faithfulness, faithfulness, place_numbers

__all__ = [
    "DEFAULT_STYLE",
    "FAITHFULNESS_REASONS",
    "HARD_REASONS",
    "RETRY_REASONS",
    "SOFT_REASONS",
    "STYLES",
    "Chunk",
    "ChunkItem",
    "Faithfulness",
    "Glossary",
    "GlossaryEntry",
    "InventoryCheck",
    "InventoryMismatch",
    "PlaceholderStyle",
    "PromptText",
    "ProtectedDocument",
    "RestoreResult",
    "Segment",
    "SegmentReport",
    "TermCandidate",
    "TermUse",
    "Verbatim",
    "VerbatimBlock",
    "acronym_expansions",
    "balance_markup",
    "check_inventory",
    "chunk",
    "enforce_terms",
    "extract_terms",
    "faithfulness",
    "find_style",
    "mask",
    "outermost",
    "place_numbers",
    "protect",
    "restore",
    "separate_formulas",
    "split_sentences",
    "term_uses",
    "touching_formulas",
    "unmask",
    "validate",
]


def restore(pd: ProtectedDocument, translations: dict[str, str], bilingual: bool = False) -> RestoreResult:
    """Same as ``pd.restore(translations, bilingual)``."""
    return pd.restore(translations, bilingual)
