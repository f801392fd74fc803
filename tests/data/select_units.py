"""How ``d2l_en_zh.jsonl`` here was cut from the training corpus (run once by a maintainer; tests never run it).

    python tests/data/select_units.py ../shared/data/train/d2l_en_zh_train.jsonl > tests/data/d2l_en_zh.jsonl

Every unit with a rare markup feature (display math, citations, images, links, headings) or a non-paragraph type is
kept, then every third unit with inline math and every tenth of the rest, in file order: a small sample that still
exercises every kind of must-preserve item the masking tests check.
"""

from __future__ import annotations

import json
import sys

RARE = {"display_math", "citation", "image", "link", "heading"}


def keep(index: int, unit: dict[str, object]) -> bool:
    features = set(unit["features"])  # type: ignore[call-overload]
    if features & RARE or unit["unit_type"] != "paragraph":
        return True
    return index % 3 == 0 if "inline_math" in features else index % 10 == 0


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if line.strip() and keep(i, json.loads(line)):
                sys.stdout.write(line)
