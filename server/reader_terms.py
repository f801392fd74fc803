"""Glossary terms mined from readers' corrections: a source term readers keep correcting to the same target.

The translation memory reuses a correction only for the very same segment; a term a reader fixed in one paragraph is
wrong again in the next. This finds those terms, as proposals an admin accepts (``GET /glossary/proposals``); an
accepted term is enforced at once in every ``/translate`` (merged under the request's own glossary, which wins).

For each correction (all masked: the segment's source, the model's output, the reader's text):

- the **targets the reader introduced**: the Chinese runs of the correction around each span that differs from the
  output (``difflib``), as every substring of 2..8 CJK characters that contains a changed character;
- the **source terms**: the English word n-grams (1..3 words; placeholders removed, a stop word at neither end).

A pair (term, target) is proposed when the reader introduced the target in at least ``min_corrections`` corrections
of segments containing the term, the target appears in at least ``min_consistency`` of the corrections whose source
holds the term (readers agree), and it is the best link for both: candidates are taken by Dice association
(2·both / (term's corrections + target's corrections)), then support, then the longer term and target; each term and
each target is linked once, and a term inside an already linked longer term with the same target is dropped.
Pure functions: the store reads the corrections (``server.store.glossary_terms``).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from papertrans import protect

__all__ = ["Proposal", "merge_glossary", "propose"]

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+-]*")
_STOP = frozenset(
    "a an the of to in on for by with and or as at is are was were be been this that these those it its we our "
    "you your they their from into than then there which who whom whose what when where how can may will would "
    "should could not no all any each some such more most less other one two also using use used via per".split()
)
_MAX_TERM_WORDS, _MIN_TARGET, _MAX_TARGET = 3, 2, 8


@dataclass(frozen=True)
class Proposal:
    source: str  # the English term, as readers' sources spell it most often
    target: str
    support: int  # corrections where the reader introduced the target in a segment holding the term
    consistency: float  # share of corrections of segments holding the term whose text has the target
    examples: tuple[str, ...] = ()  # up to three corrections (masked) that carry it

    def public(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "support": self.support,
            "consistency": round(self.consistency, 3),
            "examples": list(self.examples),
        }


def _terms(source: str) -> dict[str, str]:
    """key (lower-case) -> spelling, for every 1..3-word n-gram of the source's words without a stop word at an end."""
    text = protect.find_style(source).token.sub(" | ", source)
    out: dict[str, str] = {}
    for chunk in re.split(r"[|.,;:!?()\[\]{}\"'“”]", text):
        words = _WORD.findall(chunk)
        for n in range(1, _MAX_TERM_WORDS + 1):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if gram[0].lower() in _STOP or gram[-1].lower() in _STOP or (n == 1 and len(gram[0]) < 3):
                    continue
                spelled = " ".join(gram)
                out.setdefault(spelled.lower(), spelled)
    return out


def _introduced(output: str, correction: str) -> set[str]:
    """CJK substrings (2..8 characters) of the correction that contain a character the output did not have there."""
    changed = [False] * len(correction)
    matcher = difflib.SequenceMatcher(None, output, correction, autojunk=False)
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            for j in range(j1, j2):
                changed[j] = True
    found: set[str] = set()
    for run in _CJK_RUN.finditer(correction):
        start, end = run.span()
        for a in range(start, end):
            for b in range(a + _MIN_TARGET, min(end, a + _MAX_TARGET) + 1):
                if any(changed[a:b]):
                    found.add(correction[a:b])
    return found


def propose(
    corrections: Iterable[tuple[str, str, str]],
    *,
    min_corrections: int = 3,
    min_consistency: float = 0.8,
    decided: Iterable[tuple[str, str]] = (),
    limit: int = 100,
) -> list[Proposal]:
    """Proposals from ``(masked source, model output, correction)`` triples; ``decided`` holds the ``(term, target)``
    pairs an admin already accepted or rejected: never proposed again, nor a part of them (``learning`` -> ``学习率``
    once ``learning rate`` -> ``学习率`` was decided)."""
    done = {" ".join(term.lower().split()): target for term, target in decided}
    skip = set(done)
    rows = [(s, o, c) for s, o, c in corrections if c.strip()]
    terms = [{k: v for k, v in _terms(s).items() if k not in skip} for s, _, _ in rows]
    term_freq: Counter[str] = Counter()
    both: Counter[tuple[str, str]] = Counter()  # the target introduced in a correction of a segment with the term
    spelling: dict[str, Counter[str]] = {}
    examples: dict[tuple[str, str], list[str]] = {}
    for (_source, output, correction), found in zip(rows, terms, strict=True):
        introduced = _introduced(output, correction)
        for key, spelled in found.items():
            term_freq[key] += 1
            spelling.setdefault(key, Counter())[spelled] += 1
            for target in introduced:
                both[key, target] += 1
                if len(examples.setdefault((key, target), [])) < 3:
                    examples[key, target].append(correction)
    supported = {pair for pair, n in both.items() if n >= min_corrections}
    wanted = {t for _, t in supported}
    # second pass, only for the supported targets: how often each appears at all, and beside each term
    target_freq: Counter[str] = Counter()
    holds: Counter[tuple[str, str]] = Counter()
    for (_source, _output, correction), found in zip(rows, terms, strict=True):
        present = {t for t in wanted if t in correction}
        target_freq.update(present)
        for key in found:
            for target in present:
                if (key, target) in supported:
                    holds[key, target] += 1
    scored = []
    for key, target in supported:
        support = both[key, target]
        consistency = holds[key, target] / term_freq[key]
        if support < min_corrections or consistency < min_consistency:
            continue
        dice = 2 * holds[key, target] / (term_freq[key] + target_freq[target])
        scored.append((dice, support, len(key.split()), len(target), key, target, consistency))
    scored.sort(key=lambda x: (-x[0], -x[1], -x[2], -x[3], x[4], x[5]))
    return _link(scored, spelling, examples, limit, done)


def _link(
    scored: Sequence[tuple[float, int, int, int, str, str, float]],
    spelling: dict[str, Counter[str]],
    examples: dict[tuple[str, str], list[str]],
    limit: int,
    decided: dict[str, str],
) -> list[Proposal]:
    """Competitive linking: each term and each target once, best association first; no sub-term of a linked term
    with a target inside the linked one (``rate`` -> ``率`` after ``learning rate`` -> ``学习率``)."""
    linked_terms: dict[str, str] = dict(decided)  # decided pairs block their parts like linked ones
    linked_targets: set[str] = set(decided.values())
    out: list[Proposal] = []
    for _dice, support, _n, _len, key, target, consistency in scored:
        if key in linked_terms or target in linked_targets:
            continue
        if any(f" {key} " in f" {k} " and (target in t or t in target) for k, t in linked_terms.items()):
            continue
        if any(t in target or target in t for t in linked_targets):
            continue
        linked_terms[key] = target
        linked_targets.add(target)
        source = spelling[key].most_common(1)[0][0]
        out.append(Proposal(source, target, support, consistency, tuple(examples[key, target][:3])))
        if len(out) >= limit:
            break
    return out


def merge_glossary(user: Sequence[tuple[str, str]], accepted: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's glossary with the accepted reader terms under it: the request's own entry for a term wins."""
    own = {" ".join(s.lower().split()) for s, _ in user}
    return [*user, *((s, t) for s, t in accepted if " ".join(s.lower().split()) not in own)]
