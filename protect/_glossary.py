"""Glossary: term → translation pairs, matched in (masked) source text and checked in translations.

Matching is on word boundaries, case-insensitive unless an entry says otherwise, and tolerates simple English
inflection of the last word (attention → attentions, query → queries, embed → embedded/embedding), because papers use
terms in the plural as often as in the singular.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Glossary", "GlossaryEntry"]

_TRUE = frozenset({"1", "true", "yes", "y", "t", "cs", "case", "case_sensitive", "sensitive"})
_FALSE = frozenset({"", "0", "false", "no", "n", "f", "ci", "insensitive"})
_HEADER_SOURCE = frozenset({"source", "src", "term", "en", "english", "source_term"})


@dataclass(frozen=True)
class GlossaryEntry:
    """One term: ``source`` (English) must be rendered as ``target``."""

    source: str
    target: str
    case_sensitive: bool = False


def _inflected(word: str) -> str:
    """A regex for ``word`` and its simple English inflections (plural, -ed, -ing, possessive)."""
    w = re.escape(word)
    if not word[-1:].isalpha():
        return w
    forms = [w + r"(?:s|es|ed|d|ing|'s|s')?"]
    if len(word) > 2 and word[-1] in "yY" and word[-2].lower() not in "aeiou":
        forms.append(re.escape(word[:-1]) + r"(?:ies|ied)")
    if len(word) > 2 and word[-1].lower() not in "aeiouwxy" and word[-2].lower() in "aeiou":
        forms.append(w + re.escape(word[-1]) + "(?:ed|ing|er|ers)")  # embed → embedded, embedding
    if len(word) > 2 and word[-1] in "eE":
        forms.append(re.escape(word[:-1]) + "ing")
    return "(?:" + "|".join(forms) + ")"


def _pattern(entry: GlossaryEntry) -> re.Pattern[str]:
    words = entry.source.split()
    body = r"\s+".join([*(re.escape(w) for w in words[:-1]), _inflected(words[-1])])
    return re.compile(rf"(?<![\w-]){body}(?![\w-])", 0 if entry.case_sensitive else re.IGNORECASE)


def _key(entry: GlossaryEntry) -> str:
    """A substring every match of the entry contains (its first word without the letter inflection may change):
    a cheap test that spares the regex for most segments of a large glossary."""
    word = entry.source.split()[0]
    key = word[: max(1, min(4, len(word) - 1))]
    return key if entry.case_sensitive else key.lower()


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"glossary: cannot read case sensitivity {value!r} (use true/false)")


@dataclass(frozen=True)
class Glossary:
    """An immutable list of :class:`GlossaryEntry`; ``version`` is a hash of its content."""

    entries: tuple[GlossaryEntry, ...]
    version: str = field(init=False)
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __init__(self, entries: Iterable[GlossaryEntry]) -> None:
        seen: dict[tuple[str, bool], GlossaryEntry] = {}
        for e in entries:
            source, target = e.source.strip(), e.target.strip()
            if not source or not target:
                raise ValueError(f"glossary: empty term in {e.source!r} -> {e.target!r}")
            e = GlossaryEntry(source, target, e.case_sensitive)
            key = (source if e.case_sensitive else source.lower(), e.case_sensitive)
            if key in seen and seen[key].target != target:
                raise ValueError(f"glossary: {source!r} has two targets ({seen[key].target!r}, {target!r})")
            seen[key] = e
        ordered = tuple(seen.values())
        blob = json.dumps([[e.source, e.target, e.case_sensitive] for e in ordered], ensure_ascii=False)
        object.__setattr__(self, "entries", ordered)
        object.__setattr__(self, "version", hashlib.sha256(blob.encode()).hexdigest()[:16])
        object.__setattr__(self, "_patterns", tuple(_pattern(e) for e in ordered))
        object.__setattr__(self, "_keys", tuple(_key(e) for e in ordered))

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def from_pairs(cls, pairs: Iterable[GlossaryEntry | Sequence[Any]]) -> Glossary:
        """From ``(source, target)`` or ``(source, target, case_sensitive)`` tuples (or entries)."""
        out: list[GlossaryEntry] = []
        for p in pairs:
            if isinstance(p, GlossaryEntry):
                out.append(p)
                continue
            if isinstance(p, str) or len(p) not in (2, 3):
                raise ValueError(f"glossary: expected (source, target[, case_sensitive]), got {p!r}")
            if not isinstance(p[0], str) or not isinstance(p[1], str):
                raise TypeError(f"glossary: terms must be strings, got {p!r}")
            out.append(GlossaryEntry(p[0], p[1], _flag(p[2]) if len(p) == 3 else False))
        return cls(out)

    @classmethod
    def loads(cls, text: str, fmt: str) -> Glossary:
        """Parse glossary text in format ``csv``, ``tsv`` or ``json``."""
        fmt = fmt.lower().lstrip(".")
        if fmt == "json":
            return cls.from_pairs(_json_rows(json.loads(text)))
        if fmt not in ("csv", "tsv", "tab", "txt"):
            raise ValueError(f"glossary: unknown format {fmt!r} (csv, tsv, json)")
        reader = csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t")
        rows = [r for r in reader if any(c.strip() for c in r)]
        if rows and rows[0][0].strip().lower() in _HEADER_SOURCE:
            rows = rows[1:]
        return cls.from_pairs([r[:3] if len(r) > 2 and r[2].strip() else r[:2] for r in rows])

    @classmethod
    def load(cls, path: str | Path) -> Glossary:
        """Load a CSV, TSV or JSON file (format by extension; header row optional)."""
        p = Path(path)
        return cls.loads(p.read_text(encoding="utf-8-sig"), p.suffix or "csv")

    def find(self, text: str) -> list[GlossaryEntry]:
        """Entries whose source term occurs in ``text``, in glossary order."""
        low = text.lower()
        return [
            e
            for e, pat, key in zip(self.entries, self._patterns, self._keys, strict=True)
            if key in (text if e.case_sensitive else low) and pat.search(text)
        ]

    def missing(self, source_text: str, translation: str) -> list[GlossaryEntry]:
        """Entries found in ``source_text`` whose target does not appear in ``translation``."""
        low = translation.lower()
        return [e for e in self.find(source_text) if (e.target if e.case_sensitive else e.target.lower()) not in
                (translation if e.case_sensitive else low)]


def _json_rows(data: Any) -> list[Sequence[Any]]:
    if isinstance(data, dict) and "entries" in data:
        data = data["entries"]
    if isinstance(data, dict):
        return [(k, v) for k, v in data.items()]
    if not isinstance(data, list):
        raise ValueError("glossary: JSON must be a list of entries or an object {source: target}")
    rows: list[Sequence[Any]] = []
    for item in data:
        if isinstance(item, dict):
            try:
                rows.append((item["source"], item["target"], item.get("case_sensitive", False)))
            except KeyError as exc:
                raise ValueError(f"glossary: entry {item!r} lacks {exc}") from None
        elif isinstance(item, (list, tuple)):
            rows.append(item)
        else:
            raise ValueError(f"glossary: cannot read entry {item!r}")
    return rows
