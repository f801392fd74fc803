"""tex2md: a multi-file LaTeX project becomes Markdown that protect understands, every formula byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.clients import InputError, latex_to_markdown, math_spans, tex_to_markdown
from papertrans.clients.convert import read_project, strip_comments

from ._fixtures import project_sources, write_latex_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_latex_project(tmp_path / "proj")


def test_every_formula_survives_byte_for_byte(project: Path) -> None:
    formulas = math_spans(project_sources(project.parent))
    assert len(formulas) >= 15  # inline $, \(..\), \[..\], $$..$$, equation, align, in captions/footnotes/tables
    markdown = tex_to_markdown(project).markdown
    missing = [f for f in formulas if f not in markdown]
    assert missing == []


def test_structure(project: Path) -> None:
    md = tex_to_markdown(project).markdown
    lines = md.splitlines()
    assert lines[0] == "# Attention Is All You Need"
    assert "Ashish Vaswani, Noam Shazeer" in lines
    assert "## Abstract" in lines
    assert "## Introduction \\label{sec:intro}" in lines  # the label stays with its heading
    assert "### Multi-head attention" in lines
    assert "## Results \\label{sec:results}" in lines
    assert "*Transformer*" in md and "**BLEU**" in md
    assert "50% less time" in md  # \% is a percent sign, not a comment
    assert "a comment" not in md and "commented out" not in md
    assert "- Self-attention relates positions $i$ and $j$ directly." in lines
    assert any(line.startswith("  1. the encoder maps") for line in lines)  # nested enumerate
    assert "| Transformer | 28.4 | $2.3 \\cdot 10^{19}$ |" in lines
    assert "![figure](figures/arch.png)" in lines
    assert "Figure: The Transformer architecture with $N=6$ layers. \\label{fig:arch}" in lines
    assert "Table: BLEU scores on WMT 2014. \\label{tab:res}" in lines
    assert "[^1]: Other values of $h$ are studied in Section \\ref{sec:results}." in lines


def test_references_and_links_verbatim(project: Path) -> None:
    md = tex_to_markdown(project).markdown
    for ref in ("\\cite{bahdanau2014}", "\\cite{hochreiter1997}", "\\ref{tab:res}", "\\eqref{eq:attn}",
                "\\url{https://arxiv.org/abs/1706.03762}", "\\href{https://github.com/tensorflow/tensor2tensor}{the code}"):
        assert ref in md


def test_protect_masks_every_formula_and_reference(project: Path) -> None:
    protect = pytest.importorskip("protect")
    md = tex_to_markdown(project).markdown
    doc = protect.protect(md)
    seen = "\n".join(seg.text for seg in doc.segments)
    for formula in math_spans(project_sources(project.parent)):
        assert formula not in seen  # the model never sees a formula: it is a placeholder
    for marker in ("\\cite", "\\ref", "\\eqref", "\\label", "\\url", "https://"):
        assert marker not in seen
    assert doc.restore({}).text == md  # nothing translated: the document comes back byte for byte


def test_inputs_relative_cycle_safe_and_commented_out(project: Path) -> None:
    source = read_project(project)
    names = [p.name for p in source.files]
    assert names == ["main.tex", "intro.tex", "method.tex"]
    assert any("cycle" in w for w in source.warnings)
    assert not any("missing" in w for w in source.warnings)  # the commented-out \input was not followed


def test_missing_include_is_a_warning_and_missing_main_an_error(tmp_path: Path) -> None:
    main = tmp_path / "main.tex"
    main.write_text("Text $x$.\n\\input{nowhere}\n")
    doc = tex_to_markdown(main)
    assert "$x$" in doc.markdown
    assert any("nowhere" in w for w in doc.warnings)
    with pytest.raises(InputError, match="no such file"):
        tex_to_markdown(tmp_path / "absent.tex")


def test_image_paths_relative_to_output_folder(project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    md = tex_to_markdown(project, out_dir=out_dir).markdown
    assert "](../proj/figures/arch.png)" in md


def test_complex_table_kept_as_latex_and_pipes_in_math() -> None:
    src = (
        "\\begin{tabular}{ll}\n\\multicolumn{2}{c}{Head} \\\\\na & $|x|$ \\\\\n\\end{tabular}\n\n"
        "\\begin{tabular}{ll}\nA & B \\\\\na & $|x|$ \\\\\n\\end{tabular}\n"
    )
    md = latex_to_markdown(src).markdown
    assert md.count("```latex") == 2  # a \multicolumn, and a | that would split a GFM cell
    assert "$|x|$" in md


def test_comments_verbatim_and_escapes() -> None:
    text = "a % c\n% whole line\nb 50\\% x \\\\% gone\n\\begin{verbatim}\n% kept\n\\end{verbatim}\n"
    assert strip_comments(text) == "a \nb 50\\% x \\\\\n\\begin{verbatim}\n% kept\n\\end{verbatim}\n"
    md = latex_to_markdown("\\begin{verbatim}\nx = $1 % 2\n\\end{verbatim}\n").markdown
    assert "```\nx = $1 % 2\n```" in md


def test_display_math_inside_list_item_keeps_bytes() -> None:
    src = "\\begin{itemize}\n\\item we get\n\\begin{align}\na &= b \\\\\n  c &= d\n\\end{align}\n\\end{itemize}\n"
    md = latex_to_markdown(src).markdown
    assert "\\begin{align}\na &= b \\\\\n  c &= d\n\\end{align}" in md
    assert md.startswith("- we get")


@pytest.mark.parametrize(
    "source",
    [
        r"Unbalanced { brace and $x$ here.",
        r"\def\foo{bar} \newcommand{\vect}[1]{\mathbf{#1}} Use $\vect{x}$ and \foo.",
        r"\begin{description}\item[Key $k$] value $v$ \item[] empty\end{description}",
        (r"\begin{figure}\begin{subfigure}{0.5\textwidth}\includegraphics{a.png}\caption{A $a$ \cite{x}}"
        r"\end{subfigure}\caption{Both $y$.}\label{f}\end{figure}"),
        r"\begin{theorem}[Main $m$]Let $x>0$. Then \[x^2>0.\]\end{theorem}\begin{proof}Trivial.\end{proof}",
        r"Text with \textbf{bold \emph{nested $z$}} and {\bf old $o$} {\em style}.",
        r"\begin{enumerate}\item one\item two\begin{itemize}\item deep $d$\end{itemize}\end{enumerate}",
        r"Math at end \begin{align*} a&=b\end{align*}",
        r"\paragraph{Setup $s$.} We train for $T$ steps~\citep[p.~3]{k}.",
        r"\begin{quote}Quoted $q$ and \begin{equation}E=mc^2\end{equation}\end{quote}",
        r"\begin{table}\caption{T $t$}\begin{tabular}{c}\multicolumn{1}{c}{$m$}\\\end{tabular}\end{table}",
    ],
)
def test_formulas_survive_odd_constructs(source: str) -> None:
    md = latex_to_markdown(source).markdown
    formulas = math_spans(source)
    assert formulas and [f for f in formulas if f not in md] == []
