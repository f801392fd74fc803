"""What ``papertrans distill`` reads: English units, from Markdown files or the English side of parallel JSONL rows.

A unit is one document the pipeline translates at once: a Markdown file, or one JSONL row (``en``/``source``/
``text``; the rows of ``rl/corpus.py``, e.g. ``tests/data/d2l_en_zh.jsonl``). A row's Chinese side (``zh``/``target``),
when present, is aligned segment by segment the way training aligns parallel text (:func:`rl.corpus.aligned_reference`)
and is what the judge compares the teacher's translation with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from papertrans import protect
from papertrans.rl.corpus import aligned_reference
from papertrans.rl.datasets import DataError, load_rows

__all__ = ["MARKDOWN_SUFFIXES", "Unit", "read_units", "references"]

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx", ".txt")
_ENGLISH_KEYS = ("en", "source", "text")
_CHINESE_KEYS = ("zh", "target")


@dataclass(frozen=True)
class Unit:
    id: str
    text: str  # English Markdown
    reference: str | None = None  # the human Chinese translation of the whole unit, when the data has one


def _markdown(path: Path) -> Unit:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError("invalid_text", f"{path}: not UTF-8 text ({exc.reason})") from exc
    return Unit(path.stem, text)


def _rows(path: Path) -> list[Unit]:
    units = []
    for number, row in enumerate(load_rows(path), 1):  # load_rows names a bad line: invalid_json / invalid_row
        english = next((row[k] for k in _ENGLISH_KEYS if isinstance(row.get(k), str)), None)
        if english is None:
            raise DataError("missing_columns", f"{path}: row {number} has no English text ({'/'.join(_ENGLISH_KEYS)})")
        chinese = next((row[k] for k in _CHINESE_KEYS if isinstance(row.get(k), str)), None)
        units.append(Unit(str(row.get("id", f"row-{number}")), english, chinese))
    return units


def read_units(path: Path, *, max_units: int | None = None) -> list[Unit]:
    """The units of ``path``: a ``.jsonl`` file (one unit a row), a Markdown file, or a folder of Markdown files
    (sorted by name). Raises :class:`DataError` (``data_not_found``, ``invalid_json``, ``invalid_row``,
    ``missing_columns``, ``empty_dataset``, ...) before any teacher is contacted."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MARKDOWN_SUFFIXES)
        units = [_markdown(p) for p in files]
    elif not path.is_file():
        raise DataError("data_not_found", f"{path} does not exist")
    elif path.suffix.lower() == ".jsonl":
        units = _rows(path)
    elif path.suffix.lower() in MARKDOWN_SUFFIXES:
        units = [_markdown(path)]
    else:
        raise DataError(
            "unknown_format",
            f"{path}: expected .jsonl, a Markdown file ({', '.join(MARKDOWN_SUFFIXES)}) or a folder of them",
        )
    units = [u for u in units if u.text.strip()]
    if not units:
        raise DataError("empty_dataset", f"{path} holds no English text")
    return units[:max_units] if max_units is not None else units


def references(doc: protect.ProtectedDocument, unit: Unit) -> dict[str, str]:
    """The aligned human translation of each segment (masked with the English placeholders), by segment id; empty
    when the unit has none or its two sides do not protect into corresponding segments."""
    if unit.reference is None:
        return {}
    zh = protect.protect(unit.reference)
    if len(zh.segments) != len(doc.segments):
        return {}
    out: dict[str, str] = {}
    for seg, zh_seg in zip(doc.segments, zh.segments, strict=True):
        ref = aligned_reference(seg, zh_seg)
        if ref is not None and ref.strip():
            out[seg.id] = ref
    return out
