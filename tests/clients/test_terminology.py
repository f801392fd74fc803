"""The document terminology on the client side: typed results (also from servers that send none), and
``papertrans translate --export-terms`` writing a glossary that ``--glossary`` reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans import exitcodes
from papertrans.cli import main
from papertrans.clients import TermResult, TranslateResult, load_glossary

BODY = {
    "translation_id": "t1",
    "markdown": "译",
    "segments": [],
    "stats": {
        "segments": 1,
        "chunks": 1,
        "tokens_in": 1,
        "tokens_out": 1,
        "seconds": 0.1,
        "fallbacks": 0,
        "retries": 0,
        "glossary_adherence": None,
        "term_consistency": 0.75,
    },
    "model": "fake",
    "adapter": None,
    "terminology": [
        {
            "term": "policy",
            "translation": "策略",
            "source": "term_base",
            "acronym": None,
            "occurrences": 4,
            "consistent": 3,
        },
        {
            "term": "replay memory",
            "translation": None,
            "source": "none",
            "acronym": None,
            "occurrences": 0,
            "consistent": None,
        },
    ],
}
PAPER = (
    "# Agents\n\nThe attention mechanism lets the agent choose a policy. The attention mechanism is cheap.\n\n"
    "A policy maps each state to an action.\n"
)


def test_results_carry_the_terminology() -> None:
    result = TranslateResult.from_json(BODY)
    assert result.terminology[0] == TermResult("policy", "策略", "term_base", None, 4, 3)
    assert result.terminology[1].translation is None and result.terminology[1].consistent is None
    assert result.stats.term_consistency == 0.75
    assert result.document_glossary() == [("policy", "策略")]
    older = {k: v for k, v in BODY.items() if k != "terminology"}
    older["stats"] = {k: v for k, v in BODY["stats"].items() if k != "term_consistency"}  # type: ignore[union-attr]
    old = TranslateResult.from_json(older)
    assert old.terminology == [] and old.stats.term_consistency is None


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json"])
def test_export_terms_reads_back_as_a_glossary(live_server: str, tmp_path: Path, suffix: str) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    terms = tmp_path / f"terms{suffix}"
    rc = main(["translate", str(paper), "--server", live_server, "--export-terms", str(terms), "--json"])
    assert rc == exitcodes.OK
    pairs = dict(load_glossary(terms))
    # the shipped term base's entries for the terms of this paper
    assert pairs["attention mechanism"] == "注意力机制" and pairs["policy"] == "策略" and pairs["agent"] == "智能体"
    again = main(
        [
            "translate",
            str(paper),
            "--server",
            live_server,
            "--glossary",
            str(terms),
            "--restart",
            "-o",
            str(tmp_path / "again.zh.md"),
            "--json",
        ]
    )
    assert again == exitcodes.OK


def test_export_terms_with_an_unknown_format_is_refused_before_translating(
    dead_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    assert main(["translate", str(paper), "--server", dead_url, "--export-terms", str(tmp_path / "t.xls")]) == (
        exitcodes.USAGE
    )
    assert "--export-terms" in capsys.readouterr().err
    assert not (tmp_path / "paper.zh.md").exists()
