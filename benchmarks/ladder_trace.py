"""Which checks cost retries, and which rung of the ladder repairs them: ``bench_quality.py --trace FILE``.

The segment translator logs each rung's verdict at DEBUG with its figures (``server/segments.py`` ``_trace``); this
module writes them to a JSON-lines file during a run and summarises a written file::

    .venv/bin/python benchmarks/ladder_trace.py FILE.jsonl

prints, per first-rung reason, how many segments had it, which rung was the first clean one (or none: kept as
``needs_review`` / fell back), and the rungs' output characters (a proxy for the engine time retries cost).
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["record_ladder", "summarise"]

_LOGGER = "papertrans.server.segments"


class _JsonLines(logging.Handler):
    """Appends each record's figures to a file, opened per record: the server's logging set-up (Litestar runs
    ``dictConfig``, which closes every handler it finds) must not close it under a running benchmark, and a handler
    must never raise into the request that logged (``handleError`` instead)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        self.path = path
        path.write_text("", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        figures = getattr(record, "ladder", None)
        if figures is None:
            return
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(figures, ensure_ascii=False) + "\n")
        except Exception:
            self.handleError(record)


@contextmanager
def record_ladder(path: Path) -> Iterator[None]:
    """Write every rung's figures to ``path`` while the block runs."""
    logger = logging.getLogger(_LOGGER)
    handler, level = _JsonLines(path), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def summarise(rows: list[dict[str, Any]]) -> str:
    by_segment: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_segment[(row["translation"], row["segment"])].append(row)
    first_reasons: Counter[str] = Counter()
    repaired_at: dict[str, Counter[str]] = defaultdict(Counter)
    chars: Counter[str] = Counter()
    rungs_taken: Counter[int] = Counter()
    for trail in by_segment.values():
        rungs_taken[len(trail)] += 1
        for row in trail:
            chars[row["rung"]] += row["output_chars"]
        first = trail[0]
        if first["clean"]:
            continue
        fixed = next((row["rung"] for row in trail if row["clean"]), "none")
        for reason in sorted(set(first["reasons"])) or ["(unclean)"]:
            first_reasons[reason] += 1
            repaired_at[reason][fixed] += 1
    lines = [
        f"segments {len(by_segment)}, rungs taken: " + ", ".join(f"{k}: {v}" for k, v in sorted(rungs_taken.items()))
    ]
    lines.append("output characters by rung: " + ", ".join(f"{k} {v}" for k, v in chars.most_common()))
    lines.append(f"{'first-rung reason':<28} segments  first clean rung")
    for reason, count in first_reasons.most_common():
        lines.append(f"{reason:<28} {count:>8}  " + ", ".join(f"{k} {v}" for k, v in repaired_at[reason].most_common()))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        print(summarise([json.loads(line) for line in fh if line.strip()]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
