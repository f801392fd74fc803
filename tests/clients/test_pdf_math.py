"""Formulas in real pdflatex PDFs: detected, protected from the model, back byte for byte after a translation.

The fixtures are LaTeX sources committed in ``pdf_fixtures/``, compiled once per session with pdflatex (installed by
scripts/ci_services.sh; without it these tests skip, except in CI where that is a failure).
"""

from __future__ import annotations

import asyncio
import difflib
import io
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from papertrans import exitcodes, protect
from papertrans.cli import main
from papertrans.clients import Client, InputError, math_spans, pdf_to_markdown

from .conftest import make_app

FIXTURES = Path(__file__).parent / "pdf_fixtures"
NAMES = ["inline", "display", "aligned", "matrix", "table", "twocolumn", "paper"]
# Characters that only mathematics uses; none may reach the model (the test's own list, not the converter's).
MATH_GLYPHS = set("∑∏∫∥‖←→⇒∇∂∈∉≤≥≠≈∼≡×·√∞⊤⊥∀∃⟨⟩") | {chr(c) for c in range(0x0391, 0x03CA) if chr(c).isalpha()}
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)((?:\\.|[^$\\])+?)\$")
_DISPLAY = re.compile(r"^\$\$\n.*?\n\$\$$", re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="session")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture compiled to PDF (pdflatex, twice-free: no cross references), cached for the session."""
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing: scripts/ci_services.sh installs texlive-latex-base")
        pytest.skip("pdflatex is not installed (scripts/ci_services.sh installs texlive-latex-base)")
    out = tmp_path_factory.mktemp("pdf_fixtures")
    result: dict[str, Path] = {}
    for name in NAMES:
        proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-output-directory", str(out),
                               str(FIXTURES / f"{name}.tex")], capture_output=True, text=True, timeout=120, cwd=out)
        assert proc.returncode == 0, proc.stdout[-2000:]
        result[name] = out / f"{name}.pdf"
    return result


def formulas(markdown: str) -> list[str]:
    """The formula spans of a converted document: ``$$`` blocks, then inline ``$…$`` outside them."""
    blocks = _DISPLAY.findall(markdown)
    rest = _DISPLAY.sub("", markdown)
    return blocks + [m.group(0) for m in _INLINE.finditer(rest)]


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{3,}", text)


def prose_of_source(name: str) -> list[str]:
    """The prose words of a fixture in source order, from its LaTeX body (math, environments, commands removed)."""
    tex = (FIXTURES / f"{name}.tex").read_text()
    body = tex.split(r"\begin{document}", 1)[1].split(r"\end{document}", 1)[0]
    for span in sorted(set(math_spans(tex)), key=len, reverse=True):
        body = body.replace(span, " ")
    body = re.sub(r"\\footnote\{[^{}]*\}", " ", body)  # a footnote moves to the foot of its column
    body = re.sub(r"\\(?:begin|end)\{[^}]*\}(?:\[[^\]]*\])?(?:\{[a-z|]*\})?", " ", body)
    return words(re.sub(r"\\[A-Za-z]+", " ", body))


def in_order_share(expected: list[str], got: list[str]) -> float:
    """Share of ``expected`` found in ``got`` in the same order (the longest common subsequence of words)."""
    matcher = difflib.SequenceMatcher(a=expected, b=got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(len(expected), 1)


@pytest.mark.parametrize("name", NAMES)
def test_formulas_are_detected_and_never_reach_the_model(pdfs: dict[str, Path], name: str, tmp_path: Path) -> None:
    doc = pdf_to_markdown(pdfs[name], image_dir=tmp_path / "img", out_dir=tmp_path)
    spans = formulas(doc.markdown)
    source_formulas = math_spans((FIXTURES / f"{name}.tex").read_text())
    assert len(spans) == len(source_formulas) == doc.formulas, (spans, source_formulas)
    pd = protect.protect(doc.markdown)
    assert pd.segments
    bodies = [s.strip("$").strip() for s in spans]
    for seg in pd.segments:
        leaked = sorted(set(seg.text) & MATH_GLYPHS)
        assert not leaked, (seg.text, leaked)
        for body in bodies:
            assert len(body) < 3 or body not in seg.text, (body, seg.text)  # "t" alone is also a letter of prose
    # display formulas come with their picture for readers
    displays = _DISPLAY.findall(doc.markdown)
    pictures = re.findall(r"\]\(([^)]+formula[^)]+)\)", doc.markdown)
    assert len(pictures) == len(displays)
    assert all((tmp_path / p).is_file() for p in pictures)


@pytest.mark.parametrize("name", NAMES)
def test_prose_is_all_there_in_reading_order(pdfs: dict[str, Path], name: str) -> None:
    markdown = pdf_to_markdown(pdfs[name]).markdown
    prose = words(re.sub(r"\$\$.*?\$\$|\$[^$]*\$|!\[[^\]]*\]\([^)]*\)", " ", markdown, flags=re.DOTALL))
    expected = prose_of_source(name)
    assert in_order_share(expected, prose) >= 0.97, (expected, prose)


def test_headings_and_two_columns(pdfs: dict[str, Path]) -> None:
    markdown = pdf_to_markdown(pdfs["twocolumn"]).markdown
    heads = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    assert heads == ["1 Introduction", "2 Method", "3 Experiments", "4 Conclusion"]
    # the left column is read before the right one, each top to bottom
    at = [markdown.index(s) for s in ("Early models were small", "We train a network", "We evaluate on three",
                                      "Scaling the model")]
    assert at == sorted(at)


@pytest.mark.parametrize(
    ("name", "latex"),
    [
        ("inline", r"$J(\theta) = \mathbb{E}_{\tau\sim\pi_{\theta}} [\sum_{t=0}^T \gamma^tr_t]$"),
        ("inline", r"$\theta \leftarrow \theta + \alpha\nabla_{\theta}J$"),
        ("display", r"\mathrm{softmax}(\frac{QK^{\top}}{\sqrt{d_k}})V \tag{1}"),
        ("display", r"\mathcal{L} = -\frac{1}{N} \sum_{i=1}^N \log p(y_i | x_i)"),
        ("aligned", "\\begin{aligned}\n\\mu &= \\frac{1}{H} \\sum_{i=1}^H a_i \\\\\n"),
        ("matrix", r"R(\phi) = \begin{pmatrix} \cos\phi & -\sin\phi \\ \sin\phi & \cos\phi \end{pmatrix}"),
        ("table", r"| Adam | $3 \times 10^{-4}$ | 0.31 |"),
    ],
)
def test_formulas_are_rebuilt_as_latex(pdfs: dict[str, Path], name: str, latex: str) -> None:
    """Scripts from sizes and baselines, fractions and radicals from their rules, matrices from big delimiters."""
    assert latex in pdf_to_markdown(pdfs[name]).markdown


def test_paper_title_lists_footnotes(pdfs: dict[str, Path]) -> None:
    markdown = pdf_to_markdown(pdfs["paper"]).markdown
    assert markdown.startswith("# Policy Optimisation with Learned Baselines\n")
    assert "noisy[^1]." in markdown and "\n[^1]: The variance grows linearly with the horizon $T$." in markdown
    assert "\n- a baseline $b_{\\phi}$ trained jointly with the policy;\n" in markdown
    assert "\n1. CartPole with $T = 500$ steps.\n" in markdown
    assert "\\tag{1}" in markdown and "\\min_{k\\leq K}" in markdown and r"\hat{g}_k" in markdown
    pd = protect.protect(markdown)
    kinds = {s.kind for s in pd.segments}
    assert {"heading", "paragraph", "list_item", "footnote", "table_cell"} <= kinds


def test_table_with_math_is_a_markdown_table(pdfs: dict[str, Path]) -> None:
    markdown = pdf_to_markdown(pdfs["table"]).markdown
    rows = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    assert len(rows) == 5 and rows[1].startswith("|---")
    assert [c.strip() for c in rows[0].strip("|").split("|")][0] == "Method"
    assert all(len(r.strip("|").split("|")) == 3 for r in rows)


def test_translation_through_the_server_keeps_every_formula(pdfs: dict[str, Path], live_server: str) -> None:
    with Client(live_server) as client:
        for name in NAMES:
            markdown = pdf_to_markdown(pdfs[name]).markdown
            result = client.translate(markdown)
            assert result.count("fallback") == 0, name
            assert result.markdown != markdown
            for span in formulas(markdown):
                assert result.markdown.count(span) == markdown.count(span), (name, span)


def _eprint(folder: Path) -> Path:
    """An arXiv-style e-print: a main file in a subfolder-free tarball, with an \\input'ed section."""
    body = (FIXTURES / "display.tex").read_text()
    main_tex = body.replace(r"\section{Attention}", r"\input{intro}" + "\n" + r"\section{Attention}")
    files = {"paper.tex": main_tex, "intro.tex": (FIXTURES / "inline.tex").read_text().split(r"\begin{document}")[1]
             .replace(r"\end{document}", ""), "macros.sty": "% no main file here\n"}
    path = folder / "2401.00001.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _source_formulas(folder: Path) -> list[str]:
    return [s for name in ("paper.tex", "intro.tex") for s in math_spans((folder / name).read_text())]


def test_eprint_tarball_translates_with_every_formula_exact(live_server: str, tmp_path: Path) -> None:
    archive = _eprint(tmp_path)
    out = tmp_path / "out" / "paper.zh.md"
    assert main(["translate", str(archive), "-o", str(out), "--server", live_server, "-q"]) == exitcodes.OK
    text = out.read_text(encoding="utf-8")
    spans = _source_formulas(tmp_path / "out" / "2401.00001_source")
    assert len(spans) == 10
    for span in spans:
        assert span in text, span


def test_source_wins_over_the_pdf(pdfs: dict[str, Path], live_server: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    archive = _eprint(tmp_path)
    out = tmp_path / "paper.zh.md"
    rc = main(["translate", str(pdfs["display"]), "--source", str(archive), "-o", str(out), "--server", live_server,
               "-q"])
    assert rc == exitcodes.OK
    assert "instead of the PDF" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert r"\mathrm{softmax}\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V" in text  # the authors' LaTeX, not a PDF guess


class _EprintHandler(BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self) -> None:  # http.server's name
        ok = self.path.endswith("/2401.00001")
        self.send_response(200 if ok else 404)
        self.end_headers()
        if ok:
            self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def eprint_mirror(tmp_path: Path) -> Iterator[str]:
    _EprintHandler.payload = _eprint(tmp_path).read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EprintHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/e-print"
    finally:
        server.shutdown()


def test_arxiv_id_is_fetched_when_the_network_allows(live_server: str, tmp_path: Path, eprint_mirror: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERTRANS_ARXIV_EPRINT_URL", eprint_mirror)
    monkeypatch.chdir(tmp_path)
    assert main(["translate", "arxiv:2401.00001", "--server", live_server, "-q"]) == exitcodes.OK
    text = (tmp_path / "arxiv-2401.00001.zh.md").read_text(encoding="utf-8")
    assert r"\nabla_\theta J(\theta)" in text


def test_arxiv_id_without_network_is_a_clear_error(live_server: str, tmp_path: Path, dead_url: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAPERTRANS_ARXIV_EPRINT_URL", dead_url)
    monkeypatch.chdir(tmp_path)
    rc = main(["translate", "arxiv:2401.00001", "--server", live_server, "-q"])
    assert rc != exitcodes.OK
    assert "cannot fetch arxiv:2401.00001" in capsys.readouterr().err
    assert main(["translate", "arxiv:not-an-id", "--server", live_server, "-q"]) != exitcodes.OK


def test_eprint_with_unsafe_member_is_refused(tmp_path: Path) -> None:
    from papertrans.clients.convert import extract_eprint

    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.tex")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InputError, match="unsafe"):
        extract_eprint(path, tmp_path / "dest")
    assert not (tmp_path / "escape.tex").exists()


def test_math_ocr_backend_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pdfs: dict[str, Path]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(InputError, match="not installed.*never downloads"):
        pdf_to_markdown(pdfs["inline"], backend="nougat")
    # an installed tool (here a stand-in script with the same command line) is used, with the hub kept offline
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "nougat"
    tool.write_text('#!/bin/sh\n[ "$HF_HUB_OFFLINE" = 1 ] || exit 3\nout="$3"\nprintf \'OCR says $x^2$\\n\' > '
                    '"$out/paper.mmd"\n')
    tool.chmod(0o755)
    with pytest.raises(InputError, match="PAPERTRANS_NOUGAT_CHECKPOINT"):
        pdf_to_markdown(pdfs["inline"], backend="nougat")
    monkeypatch.setenv("PAPERTRANS_NOUGAT_CHECKPOINT", str(tmp_path))
    assert pdf_to_markdown(pdfs["inline"], backend="nougat").markdown == "OCR says $x^2$\n"


def test_word_processor_math_in_italic_text_fonts(tmp_path: Path) -> None:
    """No TeX fonts: single italic letters beside operators, and raised small digits, still make a formula."""
    pymupdf = pytest.importorskip("pymupdf")
    doc = pymupdf.open()
    page = doc.new_page()
    x = 72.0
    for text, font, size, dy in [("The loss is minimised when ", "tiro", 11, 0), ("x", "tiit", 11, 0),
                                 (" = ", "tiro", 11, 0), ("y", "tiit", 11, 0), ("2", "tiro", 7, -4),
                                 (" + 1 holds, and ", "tiro", 11, 0), ("a", "tiit", 11, 0),
                                 (" is a letter.", "tiro", 11, 0)]:
        page.insert_text((x, 100 + dy), text, fontname=font, fontsize=size)
        x += pymupdf.get_text_length(text, fontname=font, fontsize=size)
    doc.save(tmp_path / "word.pdf")
    markdown = pdf_to_markdown(tmp_path / "word.pdf").markdown
    assert markdown == "The loss is minimised when $x = y^2 + 1$ holds, and a is a letter.\n"


def test_logos_and_dot_leaders_are_prose(pdfs: dict[str, Path], tmp_path: Path) -> None:
    """The raised A of the LaTeX logo and the math-mode dots of a leader are typography, not formulas."""
    tex = tmp_path / "lead.tex"
    tex.write_text("\\documentclass{article}\\pagestyle{empty}\\begin{document}\n"
                   "\\LaTeX{} and \\TeX{} are typesetting systems.\n\n"
                   "Introduction\\leaders\\hbox{$\\mkern4.5mu.\\mkern4.5mu$}\\hfill 5\n\\end{document}\n")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    markdown = pdf_to_markdown(tmp_path / "lead.pdf").markdown
    assert "$" not in markdown
    assert markdown.startswith("LATEX and TEX are typesetting systems.\n\nIntroduction . . . .")


def test_text_over_a_full_page_background_is_kept(tmp_path: Path) -> None:
    """A slide's background picture covers the page; its text is still the content."""
    pymupdf = pytest.importorskip("pymupdf")
    doc = pymupdf.open()
    page = doc.new_page(width=640, height=480)
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 48), False)
    pix.set_rect(pix.irect, (200, 220, 255))
    page.insert_image(page.rect, pixmap=pix)
    page.insert_text((60, 100), "Slides keep their words over a background.", fontname="helv", fontsize=20)
    doc.save(tmp_path / "slide.pdf")
    assert "Slides keep their words over a background." in pdf_to_markdown(tmp_path / "slide.pdf").markdown


@pytest.mark.engine
async def test_pdf_formulas_on_the_real_engine(real_engine: Any, pdfs: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The same promise on the embedded model: whatever it writes, every formula of the PDF comes back exact."""
    from .test_engine import _serve

    markdown = pdf_to_markdown(pdfs["inline"]).markdown
    async with _serve(make_app(tmp_path / "server", real_engine)) as url:
        out = tmp_path / "inline.zh.md"
        rc = await asyncio.to_thread(main, ["translate", str(pdfs["inline"]), "-o", str(out), "--server", url, "-q"])
    capsys.readouterr()
    assert rc == exitcodes.OK
    text = out.read_text(encoding="utf-8")
    assert [span for span in formulas(markdown) if span not in text] == []
