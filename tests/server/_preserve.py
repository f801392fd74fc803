"""What must come back byte for byte: math, code, URLs and references, found in the source independently of protect."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["assert_document_intact", "must_preserve"]

_PATTERNS = [
    re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", re.DOTALL | re.MULTILINE),  # fenced code blocks
    re.compile(r"\$\$.+?\$\$", re.DOTALL),  # display math
    re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\\n])+?\$"),  # inline math
    re.compile(r"\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL),
    re.compile(r"(?<!`)`[^`\n]+`(?!`)"),  # code spans (and role targets)
    re.compile(r":[a-z]+:`[^`]+`"),  # d2l roles
    re.compile(r"\\(?:cite|ref|eqref|label)\{[^}]*\}"),
    re.compile(r"\]\(([^)\s]+)"),  # link and image URLs
    re.compile(r"https?://[^\s)>\]]+"),
]


def must_preserve(markdown: str) -> list[str]:
    items: list[str] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(markdown):
            items.append(m.group(1) if pattern.groups and pattern.pattern.startswith(r"\]") else m.group(0))
    return items


def assert_document_intact(source: str, body: dict[str, Any]) -> None:
    """Every protected item is in the output at least as often as in the source; every segment is accounted for."""
    out = body["markdown"]
    for item in set(must_preserve(source)):
        assert out.count(item) >= source.count(item), f"lost or altered: {item[:80]!r}"
    segments = body["segments"]
    assert len(segments) == body["stats"]["segments"] > 0
    assert len({s["id"] for s in segments}) == len(segments)
    for seg in segments:
        assert seg["status"] in ("ok", "retried", "needs_review", "fallback"), seg
        if seg["status"] in ("fallback", "needs_review"):
            assert seg["reasons"], seg
        if seg["status"] == "fallback":
            assert seg["translation"] == seg["source"]
        flat_out = " ".join(out.split())  # restore re-lays line breaks (container prefixes); compare the words
        assert " ".join(seg["translation"].split()) in flat_out, f"segment {seg['id']} is missing from the document"
