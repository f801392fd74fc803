"""Reading a glossary file for ``papertrans translate --glossary``.

Formats: JSON (an object ``{"attention": "注意力"}`` or a list of ``{"source", "target"}`` / ``[source, target]``),
TOML (a table of ``source = "target"``), TBX (TBX-Basic v3 or v2 ``<martif>``: ``papertrans.contract.tbx``; a
term base's English and Chinese terms), and CSV / TSV / TXT (one ``source,target`` or ``source<TAB>target`` a
line; ``#`` starts a comment; a ``source,target`` header line is skipped).
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["load_glossary"]


def _pairs_from_json(data: Any, path: Path) -> list[tuple[str, str]]:
    if isinstance(data, dict):
        if "entries" in data and isinstance(data["entries"], list):
            return _pairs_from_json(data["entries"], path)
        return [(str(k), str(v)) for k, v in data.items()]
    if isinstance(data, list):
        out = []
        for entry in data:
            if isinstance(entry, dict) and "source" in entry and "target" in entry:
                out.append((str(entry["source"]), str(entry["target"])))
            elif isinstance(entry, (list, tuple)) and len(entry) == 2:
                out.append((str(entry[0]), str(entry[1])))
            else:
                raise InputError(f"{path}: glossary entry {entry!r} is not {{source, target}} nor a pair")
        return out
    raise InputError(f"{path}: a JSON glossary is an object or a list")


def _pairs_from_tbx(path: Path) -> list[tuple[str, str]]:
    from papertrans.contract.tbx import glossary_from_tbx
    from papertrans.contract.xmlsafe import FormatError

    try:
        glossary = glossary_from_tbx(path.read_bytes())
    except FormatError as exc:
        raise InputError(f"glossary {path}: {exc.code}: {exc.detail}") from exc
    return [(e.source, e.target) for e in glossary.entries]


def load_glossary(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise InputError(f"glossary {path}: no such file")
    if path.suffix.lower() == ".tbx":
        return _pairs_from_tbx(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"glossary {path}: not UTF-8 text") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            pairs = _pairs_from_json(json.loads(text), path)
        elif suffix == ".toml":
            pairs = [(str(k), str(v)) for k, v in tomllib.loads(text).items()]
        else:
            lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            delimiter = "\t" if suffix == ".tsv" or any("\t" in ln for ln in lines) else ","
            pairs = []
            for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter):
                if len(row) != 2:
                    raise InputError(f"glossary {path}: line {row!r} is not 'source{delimiter}target'")
                pairs.append((row[0].strip(), row[1].strip()))
            if pairs and pairs[0] == ("source", "target"):
                pairs = pairs[1:]
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"glossary {path}: {exc}") from exc
    bad = [p for p in pairs if not p[0] or not p[1]]
    if bad:
        raise InputError(f"glossary {path}: empty source or target in {bad[:3]}")
    if not pairs:
        raise InputError(f"glossary {path}: no entries")
    return pairs
