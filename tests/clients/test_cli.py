"""``papertrans translate / feedback / compare`` end to end against a live server on the fake engine, and the
bad-input paths: clear message, documented exit code, no half-written output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans import exitcodes
from papertrans.cli import main
from papertrans.clients import STATE_FILE, Client, JobState, TranslateResult, job_key, math_spans

from ._fixtures import PDF_LINES, project_sources, write_latex_project, write_pdf

PAPER = (
    "# A Paper\n\nThe attention mechanism lets the model focus on relevant tokens, "
    "with $\\alpha_{t,i} = \\mathrm{softmax}(e_{t,i})$.\n\n$$\nc_t = \\sum_i \\alpha_{t,i} h_i\n$$\n\n"
    "See [the code](https://example.org/code) and :cite:`Bahdanau.2014`.\n"
)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config or environment leaks into the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("PAPERTRANS_SERVER", "PAPERTRANS_API_KEY", "PAPERTRANS_CONFIG", "PAPERTRANS_ADAPTER",
                "PAPERTRANS_GLOSSARY", "PAPERTRANS_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def _summary(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name == STATE_FILE)


def test_translate_markdown(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    glossary = tmp_path / "terms.csv"
    glossary.write_text("attention,注意力\n", encoding="utf-8")
    rc = main(["translate", str(paper), "--server", live_server, "--glossary", str(glossary), "--json"])
    assert rc == exitcodes.OK
    summary = _summary(capsys)
    out = tmp_path / "paper.zh.md"  # the default output name
    text = out.read_text(encoding="utf-8")
    for kept in ("$\\alpha_{t,i} = \\mathrm{softmax}(e_{t,i})$", "c_t = \\sum_i \\alpha_{t,i} h_i",
                 "(https://example.org/code)", ":cite:`Bahdanau.2014`"):
        assert kept in text
    assert text != PAPER
    segments = summary["segments"]
    assert isinstance(segments, dict) and segments["total"] == sum(
        segments[s] for s in ("ok", "retried", "fallback", "needs_review", "memory", "cached"))
    assert summary["glossary_adherence"] is not None
    assert summary["translation_id"] and summary["tokens"]
    assert _leftovers(tmp_path) == []  # the resume state is gone once the output is written


def test_translate_human_summary_and_bilingual(live_server: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    out = tmp_path / "bi.md"
    assert main(["translate", str(paper), "-o", str(out), "--bilingual", "--server", live_server]) == exitcodes.OK
    printed = capsys.readouterr().out
    assert "segments" in printed and "glossary adherence" in printed and "tokens" in printed
    text = out.read_text(encoding="utf-8")
    assert "The attention mechanism lets the model" in text  # the source is kept beside the translation


def test_translate_latex_project(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_tex = write_latex_project(tmp_path / "proj")
    out = tmp_path / "paper.zh.md"
    assert main(["translate", str(main_tex), "-o", str(out), "--server", live_server, "--json"]) == exitcodes.OK
    text = out.read_text(encoding="utf-8")
    formulas = math_spans(project_sources(main_tex.parent))
    assert formulas and [f for f in formulas if f not in text] == []
    assert "](proj/figures/arch.png)" in text  # image links work from the output's folder
    assert "\\cite{hochreiter1997}" in text and "\\eqref{eq:attn}" in text


def test_translate_pdf(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pymupdf4llm")
    pdf = write_pdf(tmp_path / "paper.pdf")
    assert main(["translate", str(pdf), "--server", live_server, "--json",
                 "--save-source", str(tmp_path / "paper.en.md")]) == exitcodes.OK
    text = (tmp_path / "paper.zh.md").read_text(encoding="utf-8")
    image = next((tmp_path / "paper_images").iterdir())
    assert f"(paper_images/{image.name})" in text
    assert PDF_LINES[1] in (tmp_path / "paper.en.md").read_text()
    assert text != (tmp_path / "paper.en.md").read_text()


def test_translate_resumes_an_interrupted_job(live_server: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    out = tmp_path / "paper.zh.md"
    # A previous run submitted the job and was interrupted before writing: only the state file is left.
    with Client(live_server) as client:
        job_id = client.submit_job(PAPER)
    JobState(tmp_path).put(job_key(PAPER, None, None, "zh"), live_server, job_id, out)
    assert main(["translate", str(paper), "--server", live_server, "--json"]) == exitcodes.OK
    captured = capsys.readouterr()
    assert f"resuming job {job_id}" in captured.err
    assert json.loads(captured.out)["job_id"] == job_id
    assert out.is_file() and _leftovers(tmp_path) == []


def test_stale_state_starts_a_new_job(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    JobState(tmp_path).put(job_key(PAPER, None, None, "zh"), live_server, "f" * 32, tmp_path / "paper.zh.md")
    assert main(["translate", str(paper), "--server", live_server, "-q"]) == exitcodes.OK
    assert "unknown to the server; starting a new one" in capsys.readouterr().err


def test_strict_with_fallbacks_exits_4(server_with: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from papertrans import protect
    from papertrans.server.engine.fake import FakeEngine

    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    opener = protect.DEFAULT_STYLE.open  # the placeholder form in use (docs/placeholders.md)
    engine = FakeEngine(break_when=lambda source, attempt: "$" in source or opener in source)
    with server_with(engine) as url:  # type: ignore[operator]
        rc = main(["translate", str(paper), "--server", url, "--strict", "--json", "--poll"])
    assert rc == exitcodes.INCOMPLETE
    summary = _summary(capsys)
    assert summary["segments"]["fallback"] >= 1  # type: ignore[index]
    assert summary["fallback_reasons"]
    # Completed with fallbacks: the output is written (the source text is kept where the model failed).
    assert "$\\alpha_{t,i} = \\mathrm{softmax}(e_{t,i})$" in (tmp_path / "paper.zh.md").read_text()


def test_job_failed(server_with: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from papertrans.server.engine.fake import FakeEngine

    class Broken(FakeEngine):
        def count_tokens(self, text: str) -> int:
            raise RuntimeError("tokenizer exploded")

    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    with server_with(Broken()) as url:  # type: ignore[operator]
        rc = main(["translate", str(paper), "--server", url])
    assert rc == exitcodes.FAILED
    assert "failed" in capsys.readouterr().err
    assert not (tmp_path / "paper.zh.md").exists() and _leftovers(tmp_path) == []


def test_server_down(dead_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    assert main(["translate", str(paper), "--server", dead_url, "--timeout", "3"]) == exitcodes.UNAVAILABLE
    err = capsys.readouterr().err
    assert "unavailable" in err and dead_url in err
    assert not (tmp_path / "paper.zh.md").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.md", None, "no such file"),
        ("fake.pdf", lambda p: p.write_text("not a pdf"), "not a PDF"),
        ("locked.pdf", lambda p: write_pdf(p, password="pw"), "encrypted"),
        ("scan.pdf", lambda p: write_pdf(p, text=False), "no text layer"),
        ("empty.md", lambda p: p.write_text("  \n"), "empty"),
        ("paper.docx", lambda p: p.write_text("x"), "unsupported input type"),
    ],
)
def test_bad_input(dead_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, make: object,
                   message: str) -> None:
    path = tmp_path / name
    if make is not None:
        make(path)  # type: ignore[operator]
    # Input errors are found before the server is contacted (the URL is dead on purpose).
    assert main(["translate", str(path), "--server", dead_url]) == exitcodes.USAGE
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.zh.md")) and _leftovers(tmp_path) == []


def test_usage_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["translate"])
    assert exc.value.code == exitcodes.USAGE


@pytest.mark.parametrize("command", ["pdf2md", "tex2md", "translate", "feedback", "compare"])
def test_help_has_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"papertrans {command}" in out and "exit codes" in out


def test_feedback_and_compare(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(live_server) as client:
        result = client.translate(PAPER)
    tid = result.translation_id or ""
    seg = next(s for s in result.segments if "\\alpha" in s.source)
    monkeypatch.setenv("PAPERTRANS_SERVER", live_server)  # the environment is the second source of settings
    assert main(["feedback", tid, seg.id, "up"]) == exitcodes.OK
    assert "feedback recorded" in capsys.readouterr().err
    correction = seg.translation + " 修改"
    assert main(["feedback", tid, seg.id, "down", "--correction", correction, "--comment", "better"]) == exitcodes.OK
    capsys.readouterr()
    assert main(["feedback", tid, seg.id, "down", "--correction", "丢了公式"]) == exitcodes.USAGE
    assert "422" in capsys.readouterr().err
    assert main(["feedback", "no-such-id", "s0", "up"]) == exitcodes.USAGE
    with Client(live_server) as client:
        stored = client.translation(tid)
    feedback = [f for s in stored["segments"] if s["segment_id"] == seg.id for f in s.get("feedback", [])]
    assert {f["rating"] for f in feedback} == {"up", "down"}
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("x\nb\n"))  # one invalid answer, then "b"
    assert main(["compare", tid, seg.id, "--a", "current", "--b", "base"]) == exitcodes.OK
    captured = capsys.readouterr()
    assert "choice 'b' recorded" in captured.err
    assert main(["compare", tid, seg.id, "--choice", "s"]) == exitcodes.OK
    assert "choice 'same' recorded" in capsys.readouterr().err


def test_interrupt_keeps_the_job_for_resume(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")

    def interrupted(self: Client, job_id: str, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Client, "wait_job", interrupted)
        assert main(["translate", str(paper), "--server", live_server]) == exitcodes.INTERRUPTED
    assert "run the same command again to resume" in capsys.readouterr().err
    assert not (tmp_path / "paper.zh.md").exists()
    job_id = JobState(tmp_path).get(job_key(PAPER, None, None, "zh"), live_server)
    assert job_id is not None
    assert main(["translate", str(paper), "--server", live_server, "-q"]) == exitcodes.OK
    assert f"resuming job {job_id}" in capsys.readouterr().err
    assert (tmp_path / "paper.zh.md").is_file() and _leftovers(tmp_path) == []


def _flagged_result(*fallback: str) -> TranslateResult:
    """A finished job's result with two ``needs_review`` segments (and ``fallback`` ones for the ids given)."""
    segments = [
        {"id": "s0", "source": "A.", "translation": "甲。", "status": "ok", "reasons": []},
        {"id": "s1", "source": "B. C.", "translation": "乙。", "status": "needs_review", "reasons": ["omission"]},
        {"id": "s2", "source": "**D** E.", "translation": "丁 戊。", "status": "needs_review",
         "reasons": ["markup_changed", "omission"]},
        *({"id": sid, "source": "F $x$.", "translation": "F $x$.", "status": "fallback",
           "reasons": ["placeholder_missing"]} for sid in fallback),
    ]
    stats = {"segments": len(segments), "chunks": 1, "tokens_in": 10, "tokens_out": 8, "seconds": 0.5,
             "fallbacks": len(fallback), "needs_review": 2, "retries": 2, "glossary_adherence": None}
    return TranslateResult.from_json({"translation_id": "t1", "markdown": "甲。\n\n乙。\n", "segments": segments,
                                      "stats": stats, "model": "fake", "adapter": None})


def _serve_result(patch: pytest.MonkeyPatch, result: TranslateResult) -> None:
    """The client gets ``result`` for its job without a server (the subject is the summary, not the pipeline)."""
    patch.setattr(Client, "submit_job", lambda self, markdown, **kwargs: "job-1")
    patch.setattr(Client, "wait_job", lambda self, job_id, **kwargs: result)


def test_summary_counts_and_lists_needs_review(dead_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    _serve_result(monkeypatch, _flagged_result())
    # needs_review is a warning: --strict still exits 0 when nothing fell back
    assert main(["translate", str(paper), "--server", dead_url, "--json", "--strict", "-q"]) == exitcodes.OK
    summary = _summary(capsys)
    assert summary["segments"] == {
        "total": 3, "ok": 1, "retried": 0, "fallback": 0, "needs_review": 2, "memory": 0, "cached": 0
    }
    assert summary["needs_review_reasons"] == {"omission": 2, "markup_changed": 1}
    assert summary["needs_review_segments"] == [{"id": "s1", "reasons": ["omission"]},
                                                {"id": "s2", "reasons": ["markup_changed", "omission"]}]
    assert summary["fallback_segments"] == [] and summary["fallback_reasons"] == {}
    assert (tmp_path / "paper.zh.md").read_text(encoding="utf-8") == "甲。\n\n乙。\n"  # the output as served

    assert main(["translate", str(paper), "--server", dead_url, "-q"]) == exitcodes.OK
    printed = " ".join(capsys.readouterr().out.split())
    assert "3 total: 1 ok, 0 retried, 0 fallback, 2 needs review" in printed
    listed = "needs review markup_changed ×1, omission ×2 (check: s1 (omission), s2 (markup_changed, omission))"
    assert listed in printed


def test_strict_fails_on_fallbacks_not_on_needs_review(dead_url: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    _serve_result(monkeypatch, _flagged_result("s3"))
    assert main(["translate", str(paper), "--server", dead_url, "--strict", "-q"]) == exitcodes.INCOMPLETE
    captured = capsys.readouterr()
    assert "--strict: 1 segment(s) fell back to the source text" in " ".join(captured.err.split())
    printed = " ".join(captured.out.split())
    assert "1 fallback, 2 needs review" in printed and "source text kept in: s3" in printed
