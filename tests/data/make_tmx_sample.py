"""How ``d2l_sample.tmx`` here was made from ``d2l_en_zh.jsonl`` (training data; run once, tests never run it).

    .venv/bin/python tests/data/make_tmx_sample.py tests/data/d2l_en_zh.jsonl > tests/data/d2l_sample.tmx

The first 12 units whose English is one plain paragraph with at least one protected span (math, a code span, a
d2l role, a link) and whose Chinese carries each of those spans exactly once, in file order; the unit id goes into a
``<prop type="x-unit-id">``. Placeholders are written as ``<ph x="N">protected text</ph>``, as the server's export
writes them.
"""

from __future__ import annotations

import json
import sys

from papertrans import protect
from papertrans.contract.tmx import TmUnit, from_masked, write_tmx

WANTED = 12


def unit(row: dict[str, str]) -> TmUnit | None:
    segments = protect.protect(row["en"].strip()).segments
    if len(segments) != 1 or not segments[0].placeholders:
        return None
    seg = segments[0]
    if protect.unmask(seg.text, seg.placeholders) != row["en"].strip():
        return None
    try:
        target = protect.mask(row["zh"].strip(), seg.placeholders)
    except protect.InventoryMismatch:
        return None
    return TmUnit(
        from_masked(seg.text, seg.placeholders),
        from_masked(target, seg.placeholders),
        "en",
        "zh-CN",
        None,
        (("x-unit-id", row["id"]),),
    )


if __name__ == "__main__":
    units: list[TmUnit] = []
    with open(sys.argv[1], encoding="utf-8") as fh:
        for line in fh:
            got = unit(json.loads(line)) if line.strip() else None
            if got is not None and len(units) < WANTED:
                units.append(got)
    sys.stdout.buffer.write(write_tmx(units, tool_version="sample"))
