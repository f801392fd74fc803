"""pdf2md: a PDF generated here with PyMuPDF becomes Markdown with its image beside it; bad PDFs get clear errors.

Each runs on both backends: pdfplumber (the default, permissive) and pymupdf4llm (the optional AGPL extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.cli import main
from papertrans.clients import InputError, pdf_to_markdown

from ._fixtures import PDF_LINES, PDF_TITLE, write_pdf

pytest.importorskip("pymupdf")  # the fixtures are written with PyMuPDF


@pytest.fixture(params=["pdfplumber", "pymupdf4llm"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "pymupdf4llm":
        pytest.importorskip("pymupdf4llm")
    return str(request.param)


def test_pdf_to_markdown_with_images(tmp_path: Path, backend: str) -> None:
    pdf = write_pdf(tmp_path / "paper.pdf")
    out = tmp_path / "out"
    doc = pdf_to_markdown(pdf, image_dir=out / "paper_images", out_dir=out, backend=backend)
    assert doc.pages == 1
    assert f"# {PDF_TITLE}" in doc.markdown
    for line in PDF_LINES:
        assert line in doc.markdown
    assert len(doc.images) == 1 and doc.images[0].is_file()
    assert f"](paper_images/{doc.images[0].name})" in doc.markdown  # relative to the Markdown file


def test_cli_pdf2md(tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str) -> None:
    pdf = write_pdf(tmp_path / "paper.pdf")
    assert main(["pdf2md", str(pdf), "-o", str(tmp_path / "paper.md"), "--backend", backend]) == 0
    text = (tmp_path / "paper.md").read_text()
    assert PDF_LINES[0] in text
    image = next((tmp_path / "paper_images").iterdir())
    assert f"(paper_images/{image.name})" in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_text("just text, not a PDF"), p)[1], "not a PDF"),
        (lambda p: (p.write_bytes(b"%PDF-1.7\n garbage"), p)[1], "not a readable PDF"),
        (lambda p: write_pdf(p, password="secret"), "encrypted"),
        (lambda p: write_pdf(p, text=False), "no text layer"),
    ],
    ids=["missing", "not-a-pdf", "damaged", "encrypted", "image-only"],
)
def test_bad_pdfs_fail_clearly_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str, backend: str
) -> None:
    pdf = make(tmp_path / "bad.pdf")  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        pdf_to_markdown(pdf, backend=backend)
    out = tmp_path / "bad.md"
    assert main(["pdf2md", str(pdf), "-o", str(out), "--backend", backend]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] in (["bad.pdf"], [])  # no images folder, no temp file


def test_encrypted_pdf_with_password(tmp_path: Path, backend: str) -> None:
    pdf = write_pdf(tmp_path / "locked.pdf", password="secret")
    assert PDF_LINES[1] in pdf_to_markdown(pdf, password="secret", backend=backend).markdown
    with pytest.raises(InputError, match="wrong --password"):
        pdf_to_markdown(pdf, password="nope", backend=backend)


def test_missing_extra_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pymupdf4llm", None)  # import now raises ImportError
    with pytest.raises(InputError, match=r"papertrans\[pdf\].*AGPL"):
        pdf_to_markdown(write_pdf(tmp_path / "p.pdf"), backend="pymupdf4llm")
    # the default backend does not need it
    assert PDF_LINES[0] in pdf_to_markdown(write_pdf(tmp_path / "q.pdf")).markdown
