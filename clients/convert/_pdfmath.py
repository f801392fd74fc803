"""Which glyphs of a PDF are mathematics, and how each one is written in LaTeX.

A glyph is math when its font is a math font (TeX's CMMI/CMSY/CMEX/MSBM/MSAM/EUFM/rsfs…, the STIX/XITS/Cambria/
Latin Modern math fonts), when its character lies in a Unicode block of mathematical symbols, or (decided by the
layout, not here) when its size and baseline make it a sub- or superscript. TeX's math extension font (CMEX) draws
big operators and delimiters whose codes carry no Unicode mapping in pdflatex's output; they are named here by code.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ACCENTS",
    "COMBINING",
    "CID",
    "FUNCTION_NAMES",
    "base_font",
    "glyph_latex",
    "is_big_operator",
    "is_italic_font",
    "is_math_char",
    "is_math_font",
    "is_operator",
]

CID = re.compile(r"^\(cid:(\d+)\)$")
# Accents as TeX's text fonts draw them above a math letter (\hat{g} is "ˆ" over "g").
ACCENTS = {"ˆ": r"\hat", "˜": r"\tilde", "¯": r"\bar", "˙": r"\dot", "¨": r"\ddot", "´": r"\acute", "˘": r"\breve",
           "ˇ": r"\check", "⃗": r"\vec"}
# The combining forms, to put a text accent back on its letter ("´" over "e" is "é").
COMBINING = {"ˆ": "\u0302", "˜": "\u0303", "¯": "\u0304", "˙": "\u0307", "¨": "\u0308", "´": "\u0301", "˘": "\u0306",
             "ˇ": "\u030c", "`": "\u0300"}

# Font families used only for mathematics. Matched against the base name (the subset prefix "ABCDEF+" removed).
_MATH_FONT = re.compile(
    r"^(?:CMMI|CMBSY|CMSY|CMEX|CMMIB|MSAM|MSBM|EUFM|EUFB|EUSM|EUSB|EUEX|EURM|EURB|RSFS|LASY|WASY|STMARY|BBM|BBOLD|"
    r"DSROM|ESINT|MNSYMBOL|TXMI|TXSY|TXEX|PXMI|PXSY|PXEX|TXSYA|TXSYB|PXSYA|PXSYB|LMMATH|LATINMODERNMATH|"
    r"STIXMATH|STIXTWOMATH|STIX2MATH|XITSMATH|CAMBRIAMATH|ASANAMATH|TEXGYRE\w*MATH|FIRAMATH|GARAMONDMATH|"
    r"LIBERTINUSMATH|NEWCMMATH|STIXGENERAL|STIXSIZE|STIXNONUNICODE|STIXVARIANTS|STIXINTEGRALS|MTMI|MTSY|MTEX|"
    r"SYMBOL|MATHEMATICALPI|EUCLIDSYMBOL|EUCLIDMATH|RTXMI|NTXMI|NTXSY|NTXEXX|ZXXRL)",
    re.IGNORECASE,
)
_ITALIC_FONT = re.compile(r"(?:Italic|Oblique|-It\b|CMTI|CMMI|LMRomanSlant|\bIt$|Ital)", re.IGNORECASE)

_GREEK = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ϵ": r"\epsilon", "ε": r"\varepsilon",
    "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "ϑ": r"\vartheta", "ι": r"\iota", "κ": r"\kappa",
    "λ": r"\lambda", "μ": r"\mu", "µ": r"\mu", "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ϖ": r"\varpi",
    "ρ": r"\rho", "ϱ": r"\varrho", "σ": r"\sigma", "ς": r"\varsigma", "τ": r"\tau", "υ": r"\upsilon",
    "ϕ": r"\phi", "φ": r"\varphi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega", "Γ": r"\Gamma",
    "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi", "Σ": r"\Sigma",
    "Υ": r"\Upsilon", "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega",
}
_SYMBOLS = {
    "∑": r"\sum", "∏": r"\prod", "∐": r"\coprod", "∫": r"\int", "∮": r"\oint", "⋃": r"\bigcup", "⋂": r"\bigcap",
    "⋀": r"\bigwedge", "⋁": r"\bigvee", "∇": r"\nabla", "∂": r"\partial", "∞": r"\infty", "∈": r"\in",
    "∉": r"\notin", "∋": r"\ni", "⊂": r"\subset", "⊃": r"\supset", "⊆": r"\subseteq", "⊇": r"\supseteq",
    "∪": r"\cup", "∩": r"\cap", "∧": r"\wedge", "∨": r"\vee", "¬": r"\neg", "∀": r"\forall", "∃": r"\exists",
    "∅": r"\emptyset", "≤": r"\leq", "≥": r"\geq", "≠": r"\neq", "≈": r"\approx", "≡": r"\equiv", "∼": r"\sim",
    "≃": r"\simeq", "≅": r"\cong", "∝": r"\propto", "≪": r"\ll", "≫": r"\gg", "≺": r"\prec", "≻": r"\succ",
    "⪯": r"\preceq", "⪰": r"\succeq", "×": r"\times", "·": r"\cdot", "⋅": r"\cdot", "∗": r"\ast", "∘": r"\circ",
    "•": r"\bullet", "±": r"\pm", "∓": r"\mp", "÷": r"\div", "⊕": r"\oplus", "⊗": r"\otimes", "⊙": r"\odot",
    "†": r"\dagger", "‡": r"\ddagger", "⊤": r"\top", "⊥": r"\perp", "⊢": r"\vdash", "⊨": r"\models",
    "←": r"\leftarrow", "→": r"\rightarrow", "↔": r"\leftrightarrow", "⇐": r"\Leftarrow", "⇒": r"\Rightarrow",
    "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "↑": r"\uparrow", "↓": r"\downarrow", "⟵": r"\longleftarrow",
    "⟶": r"\longrightarrow", "⟹": r"\Longrightarrow", "⟨": r"\langle", "⟩": r"\rangle", "⌊": r"\lfloor",
    "⌋": r"\rfloor", "⌈": r"\lceil", "⌉": r"\rceil", "‖": r"\|", "∥": r"\|", "√": r"\surd", "ℓ": r"\ell",
    "ℏ": r"\hbar", "ℑ": r"\Im", "ℜ": r"\Re", "℘": r"\wp", "ℵ": r"\aleph", "′": "'", "″": "''", "−": "-",
    "∖": r"\setminus", "∣": r"\mid", "…": r"\ldots", "⋯": r"\cdots", "⋮": r"\vdots", "⋱": r"\ddots",
    "□": r"\square", "△": r"\triangle", "◦": r"\circ", "⊖": r"\ominus", "⊘": r"\oslash", "≜": r"\triangleq",
    "≔": r":=", "⋆": r"\star", "★": r"\star", "∠": r"\angle", "⊎": r"\uplus", "⊔": r"\sqcup", "⊓": r"\sqcap",
    "⊊": r"\subsetneq", "⪅": r"\lessapprox", "⩽": r"\leqslant", "⩾": r"\geqslant",
    "{": r"\{", "}": r"\}", "#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$", "_": r"\_", "\\": r"\backslash",
    "ℝ": r"\mathbb{R}", "ℕ": r"\mathbb{N}", "ℤ": r"\mathbb{Z}", "ℚ": r"\mathbb{Q}", "ℂ": r"\mathbb{C}",
    "ℙ": r"\mathbb{P}", "𝔼": r"\mathbb{E}", "~": r"\sim", "^": r"\hat{}", "∆": r"\Delta", "Ω": r"\Omega",
}
# Codes of TeX's math extension font (OMX encoding, CMEX and its clones): big delimiters, operators and pieces.
_OMX: dict[int, str] = {}
for _base, _names in ((0, "( ) [ ] \\lfloor \\rfloor \\lceil \\rceil \\{ \\} \\langle \\rangle | \\| / \\backslash"),
                      (16, "( ) ( ) [ ] \\lfloor \\rfloor \\lceil \\rceil \\{ \\} \\langle \\rangle / \\backslash"),
                      (32, "( ) [ ] \\lfloor \\rfloor \\lceil \\rceil \\{ \\} \\langle \\rangle / \\backslash / "
                           "\\backslash ( ) [ ] [ ] [ ] \\{ \\} \\{ \\} \\{ \\} | |"),
                      (64, "( ) | | \\langle \\rangle \\bigsqcup \\bigsqcup \\oint \\oint \\bigodot \\bigodot "
                           "\\bigoplus \\bigoplus \\bigotimes \\bigotimes \\sum \\prod \\int \\bigcup \\bigcap "
                           "\\biguplus \\bigwedge \\bigvee \\sum \\prod \\int \\bigcup \\bigcap \\biguplus \\bigwedge "
                           "\\bigvee \\coprod \\coprod \\hat{} \\hat{} \\hat{} \\tilde{} \\tilde{} \\tilde{} [ ] "
                           "\\lfloor \\rfloor \\lceil \\rceil \\{ \\} \\surd \\surd \\surd \\surd \\surd | \\surd "
                           "\\| \\uparrow \\downarrow \\{ \\} \\{ \\} \\Uparrow \\Downarrow")):
    for _i, _name in enumerate(_names.split()):
        _OMX[_base + _i] = _name
# CMEX glyphs that are pieces of tall delimiters (a matrix's parentheses): several stack into one delimiter.
_OMX_PIECES = frozenset(range(48, 68)) | frozenset([62, 63, 119, 120, 121, 126, 127])
_BIG_OPERATORS = frozenset(
    [r"\sum", r"\prod", r"\coprod", r"\int", r"\oint", r"\bigcup", r"\bigcap", r"\bigwedge", r"\bigvee",
     r"\bigoplus", r"\bigotimes", r"\bigodot", r"\biguplus", r"\bigsqcup"]
)
# Characters that bind a formula to what follows or precedes it (a formula run does not end on them).
_OPERATORS = frozenset("=+-−<>≤≥≠≈≡∼≃≅∝×·⋅∗∘±∓÷⊕⊗∈∉⊂⊃⊆⊇∪∩∧∨←→↔⇐⇒⇔↦⟶⟵⟹:|/([{⟨⌊⌈,^_'") | frozenset("≪≫≺≻⪯⪰≔≜∣∖")
FUNCTION_NAMES = frozenset(
    ["sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log", "ln",
     "lg", "exp", "max", "min", "sup", "inf", "lim", "liminf", "limsup", "det", "dim", "ker", "deg", "gcd", "arg",
     "Pr", "hom"]
)


def base_font(fontname: str) -> str:
    """``ABCDEF+CMMI10`` → ``CMMI10``."""
    return fontname.split("+", 1)[1] if "+" in fontname[:8] else fontname


def is_math_font(font: str) -> bool:
    return _MATH_FONT.match(base_font(font).replace(" ", "").replace("-", "")) is not None


def is_italic_font(font: str) -> bool:
    return _ITALIC_FONT.search(base_font(font)) is not None


def is_math_char(ch: str) -> bool:
    """A character that only mathematics uses: Greek letters, mathematical operators, arrows, letterlike symbols."""
    if len(ch) != 1:
        return CID.match(ch) is None and any(is_math_char(c) for c in ch)
    o = ord(ch)
    return (
        0x0391 <= o <= 0x03F6  # Greek
        or 0x2190 <= o <= 0x21FF  # arrows
        or 0x2200 <= o <= 0x22FF  # mathematical operators
        or 0x2300 <= o <= 0x230B  # ceilings, floors
        or 0x27C0 <= o <= 0x27FF  # misc math symbols A, supplemental arrows A
        or 0x2900 <= o <= 0x2AFF  # supplemental arrows B, misc math symbols B, supplemental operators
        or 0x1D400 <= o <= 0x1D7FF  # mathematical alphanumeric symbols
        or ch in "ℓℏℑℜ℘ℵℝℕℤℚℂℙ‖∥′″√±×÷"
    )


def is_operator(ch: str) -> bool:
    return ch in _OPERATORS


def is_big_operator(latex: str) -> bool:
    return latex in _BIG_OPERATORS


def omx_piece(code: int) -> bool:
    return code in _OMX_PIECES


def glyph_latex(text: str, font: str) -> str:
    """LaTeX for one glyph as extracted (``text`` may be ``(cid:N)`` when the font maps it to no character)."""
    name = base_font(font).upper()
    cid = CID.match(text)
    if cid is not None:
        code = int(cid.group(1))
        if name.startswith(("CMEX", "TXEX", "PXEX", "EUEX", "MTEX", "LMEX")) or "EX" in name[:6]:
            return _OMX.get(code, r"\square")
        return r"\square"
    if len(text) != 1:
        return "".join(glyph_latex(c, font) for c in text)
    if name.startswith(("CMSY", "CMBSY")) and "A" <= text <= "Z":
        return rf"\mathcal{{{text}}}"
    if name.startswith("MSBM") and text.isalpha() and text.isascii():
        return rf"\mathbb{{{text}}}"
    if name.startswith(("EUFM", "EUFB")) and text.isalpha() and text.isascii():
        return rf"\mathfrak{{{text}}}"
    if name.startswith("RSFS") and text.isalpha() and text.isascii():
        return rf"\mathscr{{{text}}}"
    if text in _GREEK:
        return _GREEK[text]
    if text in _SYMBOLS:
        return _SYMBOLS[text]
    o = ord(text)
    if 0x1D400 <= o <= 0x1D7FF:  # 𝑥, 𝐱, … → their plain letter (the style is typography)
        plain = unicodedata.normalize("NFKC", text)
        return _GREEK.get(plain, plain)
    return text
