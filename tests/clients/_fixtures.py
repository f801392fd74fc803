"""Inputs built inside the tests: a small multi-file LaTeX project and PDFs made with PyMuPDF."""

from __future__ import annotations

from pathlib import Path

MAIN_TEX = r"""\documentclass{article}
\usepackage{amsmath,graphicx}
\newcommand{\R}{\mathbb{R}}
\title{Attention Is All You Need}
\author{Ashish Vaswani \and Noam Shazeer}
\begin{document}
\maketitle
\begin{abstract}
The dominant sequence transduction models are based on recurrent networks~\cite{bahdanau2014}. % a comment
We propose the \emph{Transformer}, costing $O(n^2 \cdot d)$ per layer and 50\% less time.
\end{abstract}
\input{sections/intro}
\include{sections/method.tex}
\section{Results}\label{sec:results}
Table~\ref{tab:res} shows the \textbf{BLEU} scores. See \url{https://arxiv.org/abs/1706.03762} and \href{https://github.com/tensorflow/tensor2tensor}{the code}.
\begin{table}[t]
\centering
\caption{BLEU scores on WMT 2014.}\label{tab:res}
\begin{tabular}{lcc}
\toprule
Model & EN-DE & Cost $\mathcal{O}(n)$ \\
\midrule
Transformer & 28.4 & $2.3 \cdot 10^{19}$ \\
ByteNet & 23.75 & -- \\
\bottomrule
\end{tabular}
\end{table}
\begin{itemize}
  \item Self-attention relates positions $i$ and $j$ directly.
  \item Layers are stacked:
  \begin{enumerate}
    \item the encoder maps $(x_1, \dots, x_n)$ to $\mathbf{z}$;
    \item the decoder generates $y_t$ given \[ p(y_t \mid y_{<t}, \mathbf{z}) \]
  \end{enumerate}
\end{itemize}
% \input{sections/missing}  commented out: must not be followed
\end{document}
"""

INTRO_TEX = r"""\section{Introduction}
\label{sec:intro}
Recurrent models compute $h_t = f(h_{t-1}, x_t)$ step by step \cite{hochreiter1997}.
Scaled dot-product attention is
\begin{equation}
  \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right) V
  \label{eq:attn}
\end{equation}
where $d_k$ is the key dimension, see Eq.~\eqref{eq:attn}.
\input{sections/intro} % a cycle: must be skipped, not followed forever
"""

METHOD_TEX = r"""\section{Method}
\subsection{Multi-head attention}
We use $h = 8$ heads\footnote{Other values of $h$ are studied in Section~\ref{sec:results}.}:
\begin{align}
\mathrm{MultiHead}(Q,K,V) &= \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h) W^O \\
\text{where}~\mathrm{head}_i &= \mathrm{Attention}(QW_i^Q, KW_i^K, VW_i^V)
\end{align}
\begin{figure}[h]
\centering
\includegraphics[width=0.5\linewidth]{figures/arch}
\caption{The Transformer architecture with $N=6$ layers.}
\label{fig:arch}
\end{figure}
The feed-forward network is
$$ \mathrm{FFN}(x) = \max(0, xW_1 + b_1) W_2 + b_2 $$
and the positional encoding is \(PE_{(pos,2i)} = \sin(pos/10000^{2i/d})\).
"""


def write_latex_project(folder: Path) -> Path:
    """A main file, two included files (one via \\include with .tex, one \\input without), a figure; returns main."""
    (folder / "sections").mkdir(parents=True)
    (folder / "figures").mkdir()
    (folder / "main.tex").write_text(MAIN_TEX, encoding="utf-8")
    (folder / "sections" / "intro.tex").write_text(INTRO_TEX, encoding="utf-8")
    (folder / "sections" / "method.tex").write_text(METHOD_TEX, encoding="utf-8")
    (folder / "figures" / "arch.png").write_bytes(_png())
    return folder / "main.tex"


def project_sources(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.tex")))


def _png() -> bytes:
    import pymupdf

    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 16, 16), False)
    pix.clear_with(180)
    return bytes(pix.tobytes("png"))


PDF_TITLE = "Attention Is All You Need"
PDF_LINES = (
    "The attention mechanism lets the model focus on relevant tokens.",
    "Recurrent networks process tokens one at a time.",
)


def write_pdf(path: Path, *, image: bool = True, text: bool = True, password: str | None = None) -> Path:
    """A one-page paper-like PDF (title, heading, two paragraphs, a figure); or image-only / encrypted variants."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    if text:
        page.insert_text((72, 72), PDF_TITLE, fontsize=20)
        page.insert_text((72, 110), "1 Introduction", fontsize=14)
        for k, line in enumerate(PDF_LINES):
            page.insert_text((72, 140 + 60 * k), line, fontsize=11)
    if image:
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
        pix.clear_with(200)
        page.insert_image(pymupdf.Rect(72, 300, 272, 500), pixmap=pix)
    if password:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "-owner")
    else:
        doc.save(path)
    doc.close()
    return path


def write_small_latex_project(folder: Path) -> Path:
    """Three files (\\input without .tex, \\include with .tex), a few sentences and formulas: short on a real model."""
    (folder / "sec").mkdir(parents=True)
    (folder / "main.tex").write_text(
        "\\documentclass{article}\n\\title{Attention}\n\\begin{document}\n\\maketitle\n"
        "\\input{sec/intro}\n\\include{sec/method.tex}\n\\end{document}\n",
        encoding="utf-8",
    )
    (folder / "sec" / "intro.tex").write_text(
        "\\section{Introduction}\\label{sec:intro}\n"
        "The attention mechanism lets the model focus on relevant tokens $x_i$ \\cite{bahdanau2014}. % note\n",
        encoding="utf-8",
    )
    (folder / "sec" / "method.tex").write_text(
        "\\section{Method}\nThe weights are\n\\begin{equation}\n  \\alpha_{t,i} = \\frac{\\exp(e_{t,i})}"
        "{\\sum_j \\exp(e_{t,j})}\n  \\label{eq:w}\n\\end{equation}\nand the context is $c_t = \\sum_i "
        "\\alpha_{t,i} h_i$, see Eq.~\\eqref{eq:w}.\n",
        encoding="utf-8",
    )
    return folder / "main.tex"
