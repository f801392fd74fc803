"""Cross-check the block scanner against mistune's parser on the corpus documents (tests/data): no segment lies inside what mistune
calls code, HTML or display math, and both find the same headings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mistune

from papertrans import protect


def _walk(tokens: list[dict[str, Any]], out: dict[str, list[str]]) -> None:
    for t in tokens:
        if t["type"] in ("block_code", "block_html", "block_math"):
            out["opaque"].append(t.get("raw", ""))
        if t["type"] == "heading":
            out["headings"].append(t.get("attrs", {}).get("level", 0))
        children = t.get("children")
        if isinstance(children, list):
            _walk(children, out)


def test_segments_agree_with_mistune(corpus_docs: list[Path]) -> None:
    md = mistune.create_markdown(renderer=None, plugins=["table", "math", "footnotes"])
    for path in corpus_docs:
        src = path.read_text(encoding="utf-8")
        tokens, _ = md.parse(src)
        found: dict[str, list[str]] = {"opaque": [], "headings": []}
        _walk(tokens, found)
        pd = protect.protect(src)
        assert found["opaque"], path.name
        for seg in pd.segments:
            if len(seg.source) > 15:
                assert not any(seg.source in raw for raw in found["opaque"]), (path.name, seg.source[:80])
        assert [s.level for s in pd.segments if s.kind == "heading"] == found["headings"], path.name
