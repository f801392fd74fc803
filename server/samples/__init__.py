"""A small sample paper bundled with the server (written for this project), for demos and smoke tests."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLE_PAPER", "sample_paper"]

SAMPLE_PAPER = Path(__file__).with_name("attention.md")


def sample_paper() -> str:
    """The bundled sample paper's Markdown."""
    return SAMPLE_PAPER.read_text(encoding="utf-8")
