"""pdf2md: a PDF generated here with PyMuPDF becomes Markdown with its image beside it; bad PDFs get clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.clients import InputError, pdf_to_markdown
from papertrans.cli import main

from ._fixtures import PDF_LINES, PDF_TITLE, write_pdf

pytest.importorskip("pymupdf4llm")


def test_pdf_to_markdown_with_images(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "paper.pdf")
    out = tmp_path / "out"
    doc = pdf_to_markdown(pdf, image_dir=out / "paper_images", out_dir=out)
    assert doc.pages == 1
    assert f"# {PDF_TITLE}" in doc.markdown
    for line in PDF_LINES:
        assert line in doc.markdown
    assert len(doc.images) == 1 and doc.images[0].is_file()
    assert f"](paper_images/{doc.images[0].name})" in doc.markdown  # relative to the Markdown file


def test_cli_pdf2md(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = write_pdf(tmp_path / "paper.pdf")
    assert main(["pdf2md", str(pdf), "-o", str(tmp_path / "paper.md")]) == 0
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
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    pdf = make(tmp_path / "bad.pdf")  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        pdf_to_markdown(pdf)
    out = tmp_path / "bad.md"
    assert main(["pdf2md", str(pdf), "-o", str(out)]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] in (["bad.pdf"], [])  # no images folder, no temp file


def test_encrypted_pdf_with_password(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "locked.pdf", password="secret")
    assert PDF_LINES[1] in pdf_to_markdown(pdf, password="secret").markdown
    with pytest.raises(InputError, match="wrong --password"):
        pdf_to_markdown(pdf, password="nope")


def test_missing_extra_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pymupdf4llm", None)  # import now raises ImportError
    with pytest.raises(InputError, match=r"papertrans\[pdf\].*AGPL"):
        pdf_to_markdown(write_pdf(tmp_path / "p.pdf"))
