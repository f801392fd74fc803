"""What stays as it is from the client's side (issue 21): ``papertrans translate`` keeps a paper's references and
byline by the server's settings; ``--translate-references`` / ``--translate-authors`` / ``--keep-captions`` and the
Python client's ``keep=`` choose otherwise for one request."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from papertrans import exitcodes
from papertrans.cli import main
from papertrans.clients import Client, job_key
from papertrans.server.engine.fake import FakeEngine

PAPER = Path(__file__).resolve().parents[1] / "data" / "papers" / "sparse-attention-paper.md"
Server = Callable[..., contextlib.AbstractContextManager[str]]


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config or environment leaks into the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("PAPERTRANS_SERVER", "PAPERTRANS_API_KEY", "PAPERTRANS_CONFIG", "PAPERTRANS_ADAPTER",
                "PAPERTRANS_GLOSSARY", "PAPERTRANS_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def _section(text: str) -> str:
    return text[text.index("## References") : text.index("## Appendix")]


def test_cli_keeps_references_unless_asked(server_with: Server, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = PAPER.read_text(encoding="utf-8")
    paper = tmp_path / "paper.md"
    paper.write_text(source, encoding="utf-8")
    engine = FakeEngine()
    with server_with(engine, translate={"max_retries": 0, "terminology": False, "cache": False}) as url:
        assert main(["translate", str(paper), "--server", url, "--json", "-q"]) == exitcodes.OK
        kept = (tmp_path / "paper.zh.md").read_text(encoding="utf-8")
        first = len(engine.requests)
        out = tmp_path / "refs.zh.md"
        args = ["translate", str(paper), "-o", str(out), "--server", url, "--json", "-q", "--translate-references"]
        assert main(args) == exitcodes.OK
        translated = out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert _section(source) in kept and "\n\nMei Lin<sup>1</sup>, Jonas Weber" in kept
    assert first == 20  # the segments outside the byline and the references
    assert len(engine.requests) - first == 24  # the references heading and its three entries as well
    assert _section(source) not in translated and "## 译：References" in translated
    assert "\n\nMei Lin<sup>1</sup>, Jonas Weber" in translated  # the byline is still kept


def test_python_client_keep(server_with: Server) -> None:
    source = PAPER.read_text(encoding="utf-8")
    with server_with(FakeEngine(), translate={"max_retries": 0, "terminology": False, "cache": False}) as url:
        with Client(url) as c:
            default = c.translate(source)
            chosen = c.translate(source, keep={"references": False, "authors": False, "captions": True})
            with pytest.raises(ValueError, match="keep: 'figures'"):
                c.translate(source, keep={"figures": True})
    assert default.stats.verbatim_blocks == 3 and _section(source) in default.markdown
    assert chosen.stats.verbatim_blocks == 3  # the three captions, nothing else
    assert _section(source) not in chosen.markdown and "\n\n译：Mei Lin<sup>1</sup>" in chosen.markdown
    assert "\nFigure 1: The sparsity pattern" in chosen.markdown


def test_job_key_counts_keep_only_when_given() -> None:
    plain = job_key("# T\n", None, None, "zh")
    assert job_key("# T\n", None, None, "zh", {}) == plain
    assert job_key("# T\n", None, None, "zh", {"references": False}) != plain
    # a request without keep has the key it had before the option (a resume state written then still matches)
    assert plain == hashlib.sha256(json.dumps(["# T\n", None, [], "zh"], ensure_ascii=False).encode()).hexdigest()
