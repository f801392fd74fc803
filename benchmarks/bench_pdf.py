"""Benchmark PDF → Markdown over the LaTeX fixtures compiled with pdflatex (a script, not a timed test).

For each backend and fixture it prints: formulas detected ÷ formulas in the LaTeX source, prose characters kept (the
source's prose words found in order in the output, by characters), whether any math glyph reached a segment that
protect hands to the model, and pages per second; then the totals per backend.

    .venv/bin/python benchmarks/bench_pdf.py [--fixtures DIR] [--repeat N] [--backend NAME ...]
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from papertrans import protect
from papertrans.clients.convert import math_spans, pdf_to_markdown

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "clients" / "pdf_fixtures"
MATH_GLYPHS = set("∑∏∫∥‖←→⇒∇∂∈∉≤≥≠≈∼≡×·√∞⊤⊥∀∃⟨⟩") | {chr(c) for c in range(0x0391, 0x03CA) if chr(c).isalpha()}
_FORMULA = re.compile(r"\$\$.*?\$\$|(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?\$", re.DOTALL)


def compile_all(folder: Path, out: Path) -> dict[str, Path]:
    exe = shutil.which("pdflatex")
    if exe is None:
        raise SystemExit("pdflatex is not installed (apt-get install texlive-latex-base)")
    pdfs = {}
    for tex in sorted(folder.glob("*.tex")):
        subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-output-directory", str(out), str(tex)],
                       check=True, capture_output=True, cwd=out)
        pdfs[tex.stem] = out / f"{tex.stem}.pdf"
    return pdfs


def source_prose(tex: str) -> list[str]:
    body = tex.split(r"\begin{document}", 1)[1].split(r"\end{document}", 1)[0]
    for span in sorted(set(math_spans(tex)), key=len, reverse=True):
        body = body.replace(span, " ")
    body = re.sub(r"\\footnote\{[^{}]*\}", " ", body)  # a footnote moves to the foot of its column
    body = re.sub(r"\\(?:begin|end)\{[^}]*\}(?:\[[^\]]*\])?(?:\{[a-z|]*\})?", " ", body)
    return re.findall(r"[A-Za-z]+", re.sub(r"\\[A-Za-z]+", " ", body))


def kept_chars(expected: list[str], got: list[str]) -> tuple[int, int]:
    """(characters of ``expected`` words found in order in ``got`` (longest common subsequence), all characters)."""
    matcher = difflib.SequenceMatcher(a=expected, b=got, autojunk=False)
    found = sum(len(w) for block in matcher.get_matching_blocks() for w in expected[block.a : block.a + block.size])
    return found, sum(len(w) for w in expected)


def leaked(markdown: str) -> int:
    return sum(len(set(s.text) & MATH_GLYPHS) for s in protect.protect(markdown).segments)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--repeat", type=int, default=3, help="conversions per fixture for the speed figure")
    ap.add_argument("--backend", action="append", help="backends to run (default: pdfplumber, and pymupdf4llm "
                                                        "when installed)")
    args = ap.parse_args()
    backends = args.backend or ["pdfplumber"] + (["pymupdf4llm"] if importlib.util.find_spec("pymupdf4llm") else [])
    with tempfile.TemporaryDirectory() as tmp:
        pdfs = compile_all(args.fixtures, Path(tmp))
        header = f"{'backend':<12} {'fixture':<10} {'formulas':>9} {'prose kept':>11} {'glyphs leaked':>14}"
        print(header + f" {'pages/s':>8}")
        for backend in backends:
            tot_found = tot_src = tot_kept = tot_chars = tot_leak = 0
            tot_pages = 0
            tot_time = 0.0
            for name, pdf in pdfs.items():
                tex = (args.fixtures / f"{name}.tex").read_text()
                start = time.perf_counter()
                for _ in range(args.repeat):
                    doc = pdf_to_markdown(pdf, backend=backend)
                elapsed = (time.perf_counter() - start) / args.repeat
                found = len(_FORMULA.findall(doc.markdown))
                src = len(math_spans(tex))
                prose = re.findall(r"[A-Za-z]+", _FORMULA.sub(" ", re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", doc.markdown)))
                kept, chars = kept_chars(source_prose(tex), prose)
                leak = leaked(doc.markdown)
                tot_found, tot_src, tot_kept, tot_chars, tot_leak = (
                    tot_found + found, tot_src + src, tot_kept + kept, tot_chars + chars, tot_leak + leak)
                tot_pages += doc.pages
                tot_time += elapsed
                print(f"{backend:<12} {name:<10} {found:>4}/{src:<4} {kept / chars:>10.1%} {leak:>14} "
                      f"{doc.pages / elapsed:>8.1f}")
            print(f"{backend:<12} {'ALL':<10} {tot_found:>4}/{tot_src:<4} {tot_kept / tot_chars:>10.1%} "
                  f"{tot_leak:>14} {tot_pages / tot_time:>8.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
