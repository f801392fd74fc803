"""Author and affiliation lines: what sits between a paper's title and its first section and reads as a byline.

Conservative by design: a translated byline costs a little, a prose sentence kept in English costs the reader. A
line counts only when, once the marks around names are taken off (superscripts, ``*``, ``†``, footnote markers,
``$^{1}$``, ``<sup>``), every word is capitalised or a connective (``of``, ``and``, ``de``, ``van`` ...), so any
sentence fails; and a paragraph counts only when such lines also carry a positive sign of a byline: an email, an
ORCID, an affiliation mark, an institution word (University, Institute, Lab, Inc. ...), or at least two names in a
comma/``and`` list. A single title-case phrase ("Deep Residual Learning") is never taken: it may be a subtitle.
"""

from __future__ import annotations

import re

__all__ = ["byline_lines", "is_abstract"]

_EMAIL = re.compile(r"<?(?:mailto:)?(?:\{[^{}\n]*\}|[\w.+-]+)@[\w-]+(?:\.[\w-]+)+>?")
_ORCID = re.compile(r"(?:https?://)?(?:www\.)?orcid\.org/\S*|\b\d{4}-\d{4}-\d{4}-\d{3}[\dX]\b", re.IGNORECASE)
_URL = re.compile(r"<?https?://[^\s>)]+>?")
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
# marks that tie a name to an affiliation or a note: HTML/pandoc superscripts, math superscripts and symbols,
# footnote references, symbol characters, an asterisk or digits right after a name ("Smith*", "Smith1,2")
_MARK = re.compile(
    r"<sup>.*?</sup>|\^[^^\s]+\^|\$[^$\n]*\$|\\\(.*?\\\)|\[\^[^\]\s]+\]|[†‡§¶‖∗⋆✉♠♣♥♦⁰¹²³⁴⁵⁶⁷⁸⁹]+"
    r"|(?<=[^\W\d_])(?:\\?\*)+|(?<=[a-z])\d+(?:,\d+)*\b",
    re.IGNORECASE,
)
_LEADING_NUMBER = re.compile(r"^\s*\d{1,2}(?=\s*[^\W\d_])")  # "1 Stanford University": an affiliation's number
_BREAK = re.compile(r"<br\s*/?>|\\$|[ \t]+$", re.IGNORECASE)
# emphasis and code spans around names and institutions: the text stays, the markers go (before the marks: the
# closing "**" of "**Alice Smith**" is no affiliation mark)
_PAIRED = (
    re.compile(r"\*\*(.+?)\*\*"),
    re.compile(r"__(.+?)__"),
    re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s*\\])\*(?![\w*])"),
    re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"),
    re.compile(r"`([^`]*)`"),
)
_TAG = re.compile(r"</?(?:span|a|b|i|em|strong|small|center|font|p|div)\b[^<>]*>", re.IGNORECASE)
_LEFTOVER = re.compile(r"[*_`\\]")
_WORD = re.compile(r"[^\W\d_](?:[\w'’.\-]*[^\W_])?\.?")
_CONNECTIVES = frozenset(
    "of and for the at in on & de di da du des del della der den van von la le y e et und für zu dos das do em".split()
)
_INSTITUTION = re.compile(
    r"\b(?:Universit(?:y|ies|ät|é|à|at|eit|ad|e)|Univ\.|Institut(?:e|o)?|Laborator(?:y|ies|ium)|Labs?|Inc\.?|Ltd\.?"
    r"|LLC|GmbH|Corp(?:oration|\.)?|College|School|Department|Dept\.|Faculty|Cent(?:er|re)|Academy|Hospital"
    r"|Foundation|Research|Polytechnic|Politecnico|ETH|CNRS|INRIA|Inria|Max Planck)\b|大学|研究所|研究院|实验室"
)
# labels that may open a byline line ("Correspondence to: a@b.org"); any other "Label:" is not a byline
_LABEL = re.compile(r"^\s*(?:correspond\w*(?: authors?)?(?: to)?|contact|e-?mails?|orcid(?: ids?)?)\s*:", re.IGNORECASE)
# words that open a (sub)title, never a name or an institution
_TITLE_START = frozenset({"A", "An", "On", "Towards", "Toward", "Beyond", "When", "How", "Why", "What", "Is", "Are"})
_ABSTRACT = re.compile(r"^\s*(?:[*_]{1,2}\s*)?(?:abstract|摘要)\b", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s*(?:,|;|·|\u2022|\band\b|&|\s{3,})\s*")


def is_abstract(line: str) -> bool:
    """Whether a paragraph opening with ``line`` is the abstract ("Abstract", "**Abstract.** We ...")."""
    return _ABSTRACT.match(line) is not None


def _signs(line: str) -> tuple[str, bool] | None:
    """The line's words once marks, emails, ORCIDs and links are taken off, and whether it showed a byline sign
    (email, ORCID, mark); None when the line cannot be part of a byline."""
    label = _LABEL.match(line)
    if label is not None:
        line = line[label.end() :]
    sign = False
    for pattern in (_EMAIL, _ORCID):
        line, n = pattern.subn(" ", line)
        sign = sign or n > 0
    line = _URL.sub(" ", _LINK.sub(r"\1", _IMAGE.sub(" ", line)))
    if ":" in line:
        return None  # "Keywords: ...", "Code: ...": a labelled line other than a contact is not a byline
    line = _TAG.sub(" ", _BREAK.sub("", line))
    for pair in _PAIRED:
        line = pair.sub(r"\1", line)
    line, marks = _MARK.subn(" ", line)
    line, numbered = _LEADING_NUMBER.subn(" ", line)
    return _LEFTOVER.sub("", line), sign or marks > 0 or numbered > 0


def _titleish(words: list[str]) -> bool:
    """Every word capitalised (or uncased, e.g. CJK) or a connective, and not a (sub)title's opening word."""
    if words and words[0] in _TITLE_START:
        return False
    return all(w[0].isupper() or not w[0].islower() or w.lower() in _CONNECTIVES for w in words)


def _names(text: str) -> int:
    """Parts of a comma/``and`` list that could each be a person's name (two to five words)."""
    parts = [p for p in _SEPARATORS.split(text) if p.strip()]
    return sum(2 <= len(_WORD.findall(p)) <= 5 for p in parts) if len(parts) >= 2 else 0


def _line(line: str) -> tuple[bool, bool] | None:
    """(is a byline line, shows a byline sign by itself); None when it is not a byline line."""
    got = _signs(line)
    if got is None:
        return None
    text, sign = got
    if re.search(r"[.!?](?:\s|$)", re.sub(r"\b(?:[A-Z]|Inc|Ltd|Corp|Dept|Univ|St|Jr|Sr|Co|Mt|Ave|Rd)\.", "", text)):
        return None  # a sentence's full stop (initials and common abbreviations aside)
    if re.search(r"[\[\]{}=<>]", text):
        return None
    words = _WORD.findall(text)
    if not words and not sign:
        return None
    if not _titleish(words):
        return None
    strong = sign or _INSTITUTION.search(text) is not None or _names(text) >= 2
    return True, strong


def byline_lines(lines: list[str]) -> int:
    """How many leading lines of a paragraph are a byline (names, affiliations, emails): 0 unless at least one of
    them shows a byline sign (see the module docstring)."""
    count, strong = 0, False
    for line in lines:
        got = _line(line)
        if got is None:
            break
        count += 1
        strong = strong or got[1]
    return count if strong else 0
