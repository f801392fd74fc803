"""Training data: loading the export files (JSONL in TRL's standard formats) and checking them before any training.

Every check here runs before a model is loaded, so bad input fails in a second with a machine-readable code instead
of after minutes of model loading. Rows follow ``docs/CONTRACTS.md`` (export formats): SFT ``prompt/completion``,
KTO ``prompt/completion/label``, DPO ``prompt/chosen/rejected``, prompt sets ``prompt``; optional ``meta``,
``reference``, ``placeholders``, ``glossary``, ``source``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import DataError

__all__ = [
    "METHODS",
    "MIN_EXAMPLES",
    "REQUIRED_COLUMNS",
    "DataError",
    "data_hash",
    "load_rows",
    "reward_columns",
    "validate_rows",
    "write_rows",
]

METHODS = ("sft", "kto", "dpo", "online-dpo", "grpo")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sft": ("prompt", "completion"),
    "kto": ("prompt", "completion", "label"),
    "dpo": ("prompt", "chosen", "rejected"),
    "online-dpo": ("prompt",),
    "grpo": ("prompt",),
}

# KTO estimates its KL term from mismatched pairs inside a batch, so it needs at least two rows; GRPO and online DPO
# compare samples of one prompt, so one prompt is enough.
MIN_EXAMPLES: dict[str, int] = {"sft": 1, "kto": 2, "dpo": 1, "online-dpo": 1, "grpo": 1}


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file; blank lines are skipped, anything else must be a JSON object."""
    if not path.is_file():
        raise DataError("data_not_found", f"{path} does not exist or is not a file")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError("invalid_json", f"{path}:{number}: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise DataError("invalid_row", f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL (UTF-8, one object per line); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def data_hash(path: Path) -> str:
    """sha256 of the file's bytes: recorded in the adapter metadata so a run can be traced to its data."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _validate_row(method: str, index: int, row: dict[str, Any]) -> None:
    required = REQUIRED_COLUMNS[method]
    missing = [c for c in required if c not in row]
    if missing:
        present = ", ".join(sorted(row)) or "none"
        raise DataError(
            "missing_columns",
            f"row {index}: {method} needs columns {', '.join(required)}; missing {', '.join(missing)} "
            f"(present: {present})",
        )
    for column in required:
        value = row[column]
        if column == "label":
            if not isinstance(value, bool):
                raise DataError("invalid_label", f"row {index}: 'label' must be true or false, got {value!r}")
        elif not isinstance(value, str) or not value.strip():
            raise DataError("empty_field", f"row {index}: {column!r} must be a non-empty string")
    if method == "dpo" and row["chosen"] == row["rejected"]:
        raise DataError("identical_pair", f"row {index}: 'chosen' equals 'rejected'; the pair teaches nothing")


def validate_rows(method: str, rows: Sequence[dict[str, Any]], *, min_examples: int | None = None) -> None:
    """Raise :class:`DataError` unless ``rows`` can train ``method``."""
    if method not in REQUIRED_COLUMNS:
        raise DataError("unknown_method", f"{method!r}; choose one of {', '.join(METHODS)}")
    if not rows:
        raise DataError("empty_dataset", "the dataset has no rows")
    for index, row in enumerate(rows):
        _validate_row(method, index, row)
    needed = max(MIN_EXAMPLES[method], min_examples or 0)
    if len(rows) < needed:
        raise DataError("too_few_examples", f"{method} needs at least {needed} rows, got {len(rows)}")
    if method == "kto":
        labels = {row["label"] for row in rows}
        if len(labels) < 2:
            only = "desirable (thumbs up)" if True in labels else "undesirable (thumbs down)"
            raise DataError("one_sided_kto", f"KTO needs both desirable and undesirable rows; all rows are {only}")


def reward_columns(row: dict[str, Any]) -> dict[str, Any]:
    """The extra columns a row carries for the reward functions, with empty defaults so a dataset has one schema."""
    out: dict[str, Any] = {}
    out["reference"] = row.get("reference") or ""
    out["placeholders"] = list(row.get("placeholders") or [])
    out["glossary"] = [list(pair) for pair in (row.get("glossary") or [])]
    out["source"] = row.get("source") or ""
    return out

