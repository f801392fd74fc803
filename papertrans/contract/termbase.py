"""The shipped EN→ZH term base of the field: machine learning, statistics, reinforcement learning, systems.

Two tab-separated lists ship as package data beside this module, in ``terms/`` (its README gives their sources and
licences): ``curated.tsv``, written by this project (reinforcement learning, statistics, systems and general ML
vocabulary), and ``d2l.tsv``, the terminology of the Chinese edition of *Dive into Deep Learning* (Apache-2.0) less
the entries too ambiguous in general prose. Where both name a term, the curated list wins.

The server uses it as the default layer of a document's terminology, under the user's glossary
(``server.terminology``; ``PAPERTRANS_TRANSLATE__TERM_BASE=false`` turns it off).
"""

from __future__ import annotations

import functools
from pathlib import Path

from papertrans import protect

__all__ = ["TERM_BASE_FILES", "term_base", "term_base_folder"]

#: The lists in precedence order: an entry of an earlier file wins over the same term in a later one.
TERM_BASE_FILES = ("curated.tsv", "d2l.tsv")


def term_base_folder() -> Path:
    """The folder of the shipped lists (package data)."""
    return Path(__file__).resolve().parent / "terms"


@functools.cache
def term_base() -> protect.Glossary:
    """The shipped term base as one glossary (read once; its ``version`` names its content)."""
    seen: dict[str, protect.GlossaryEntry] = {}
    for name in TERM_BASE_FILES:
        for entry in protect.Glossary.load(term_base_folder() / name).entries:
            seen.setdefault(entry.source.lower(), entry)
    return protect.Glossary(seen.values())
