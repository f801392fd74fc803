"""Document terminology, the pure part: candidate terms of a document, and how consistently a translation used them.

:func:`extract_terms` reads the masked segments of one document (placeholders are boundaries, never words) and
returns its candidate terms, most frequent first, by a heuristic that needs no part-of-speech tagger:

* **phrases**: runs of 2–4 words inside one clause (punctuation, placeholders and numbers end a run) whose first and
  last words are not stop words (function words, pronouns, common verbs, generic academic nouns such as *section*),
  with at most ``of`` inside (*curse of dimensionality*), counted across segments; a phrase that never occurs outside
  a longer counted phrase is dropped in favour of it;
* **technical words**: single hyphenated words (*Q-learning*, *self-attention*, *off-policy*) that are not everyday
  hyphenations (*so-called*, *trade-off*). Other single words are left to a term base: without a tagger, a frequent
  single word is as often *use* or *result* as it is a term;
* **acronym expansions**: ``Proximal Policy Optimization (PPO)``: the words before a parenthesised acronym whose
  initials spell it (hyphenated parts count: *Long Short-Term Memory (LSTM)*); kept however often they occur, with
  their acronym.

Counting folds case and a plural last word (*value functions* is *value function*); a term's occurrences as reported
to readers are counted by :class:`~protect.Glossary` matching (:func:`term_uses`), the same matching that puts the
term in a prompt and checks it in a translation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ._glossary import Glossary, GlossaryEntry, _pattern
from ._placeholder import STYLES

__all__ = [
    "TermCandidate",
    "TermUse",
    "acronym_expansions",
    "enforce_terms",
    "extract_terms",
    "outermost",
    "term_uses",
]

Kind = Literal["phrase", "technical", "expansion"]

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")
# What ends a run of words: anything but letters, digits inside words, hyphens, apostrophes and spaces.
_BREAK = re.compile(r"[^A-Za-z0-9'’\- \t]+|(?<![A-Za-z])\d[\d.,]*|\s-+\s|--+")
_ACRONYM = re.compile(r"\(\s*([A-Z][A-Za-z0-9]*?[A-Z][A-Za-z0-9]*?)s?\s*\)")
_INNER = frozenset({"of"})

# Function words, pronouns, auxiliaries and common verbs, adverbs and adjectives of academic prose, and generic
# nouns that head no term (they would make "following section" or "we use" a term). Lowercase.
STOP_WORDS = frozenset(
    """
    a about above according across after again against all almost along already also although always am among an and
    another any anything are around as at away back be because been before being below between beyond both but by
    can cannot could did do does doing done down due during each either else enough especially etc even ever every
    everything few for from further furthermore had has have having he hence her here hers herself him himself his
    how however i if in including indeed instead into is it its itself just least less let lets like likely may
    maybe me might mine more moreover most mostly much must my myself namely near nearly neither never nevertheless
    next no nor not nothing now of off often on once one only onto or other others otherwise our ours ourselves out
    over own per perhaps please quite rather really same see seen several shall she should since so some something
    sometimes soon still such than that the their theirs them themselves then there thereby therefore these they
    this those though through thus to together too toward towards under unless until up upon us very via was we well
    were what whatever when where whereas whether which while who whom whose why will with within without would yet
    you your yours yourself able above-mentioned algorithm algorithms behind beginning corresponding depending
    irrespective leading resulting starting regardless actual actually additional additionally allow allows allowed
    apply applied applies approach approaches arbitrary assume assumed assumes available based basic become becomes
    best better call called calls certain chapter chapters choose chosen clear clearly common commonly compute
    computed computes computing consider considered considers contain contains correspond corresponds define defined
    defines denote denoted denotes described describe describes detail details different directly discuss discussed
    does easy easily effect efficient eg example examples exercise exercises fact fig figure figures find finds
    first follow followed following follows fourth general generally get gets getting give given gives good great
    high higher however ie illustrate illustrated image important instance interesting introduce introduced key kind
    large larger last later learn learned let lower main make makes making many mean means method methods much need
    needed needs new note noted notice number numbers obtain obtained order particular possible present previous
    previously problem problems provide provided provides recall related respectively result results right second
    section sections set sets shown show shows similar similarly simple simply small smaller specific start step
    steps suppose table tables take taken takes third time times two three four five true type types use used uses
    useful using usually various version want way ways whole word words work works write written
    """.split()
)
_COMMON_HYPHENATED = frozenset(
    {
        "so-called",
        "well-known",
        "well-defined",
        "state-of-the-art",
        "trade-off",
        "trade-offs",
        "e-g",
        "i-e",
        "real-world",
        "long-term",
        "short-term",
        "large-scale",
        "small-scale",
        "high-level",
        "low-level",
        "built-in",
        "in-depth",
        "up-to-date",
        "one-to-one",
        "step-by-step",
        "follow-up",
        "non-zero",
        "right-hand",
        "left-hand",
    }
)


@dataclass(frozen=True)
class TermCandidate:
    """One candidate term of a document: its most frequent written form, how often it was counted, the index of the
    first text it occurs in (its context), and for an acronym's expansion the acronym."""

    term: str
    count: int
    first: int
    kind: Kind = "phrase"
    acronym: str | None = None


@dataclass(frozen=True)
class TermUse:
    """How one glossary entry fared in a translated document: its occurrences in the sources and how many of them
    have its target in their segment's translation (a segment's translation counts for as many occurrences as it
    holds the target)."""

    entry: GlossaryEntry
    occurrences: int
    consistent: int

    @property
    def share(self) -> float | None:
        return self.consistent / self.occurrences if self.occurrences else None


def _key(words: Sequence[str]) -> str:
    """The counting key of a run of words: lowercase, last word singular (``value functions`` → ``value function``)."""
    low = [w.lower() for w in words]
    last = low[-1]
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "shes", "ches", "xes", "zzes")):
        last = last[:-2]
    elif last.endswith("s") and len(last) > 3 and not last.endswith(("ss", "us", "is", "'s", "’s")):
        last = last[:-1]
    return " ".join([*low[:-1], last])


def _runs(text: str) -> list[list[str]]:
    """The runs of words of a masked text: placeholders, punctuation and numbers end a run."""
    for style in STYLES.values():
        text = style.token.sub(" | ", text)
    return [_WORD.findall(part) for part in _BREAK.split(text)]


def _stop(word: str) -> bool:
    low = word.lower()
    return low in STOP_WORDS or (len(word) < 2 and not word.isupper()) or low.endswith("ly")


def _phrase_ok(words: Sequence[str]) -> bool:
    if _stop(words[0]) or _stop(words[-1]) or len(words[-1]) < 2:
        return False
    return all(w.lower() in _INNER or not _stop(w) for w in words[1:-1])


def _technical(word: str) -> bool:
    """A single hyphenated word that reads as a term (``Q-learning``), not an everyday hyphenation."""
    if "-" not in word or word.lower() in _COMMON_HYPHENATED:
        return False
    parts = word.split("-")
    return all(parts) and not all(p.lower() in STOP_WORDS for p in parts) and not _stop(parts[-1])


def _initials(words: Sequence[str], *, skip_stop: bool) -> str:
    """The initials of ``words`` (each part of a hyphenated word counts), stop words left out when ``skip_stop``
    (``reinforcement learning from human feedback`` is RLHF)."""
    kept = [w for w in words if not (skip_stop and w.lower() in STOP_WORDS)]
    return "".join(part[0] for w in kept for part in w.split("-") if part).upper()


def acronym_expansions(text: str) -> list[tuple[str, str]]:
    """``(expansion, acronym)`` for each ``Words Words (ACR)`` in ``text`` whose last words' initials spell the
    acronym (letters of the acronym only; ``MDPs`` is ``MDP``)."""
    found: list[tuple[str, str]] = []
    for m in _ACRONYM.finditer(text):
        acronym = m.group(1)
        letters = "".join(c for c in acronym if c.isalpha()).upper()
        words = _WORD.findall(text[max(0, m.start() - 200) : m.start()])
        for n in range(1, min(2 * len(letters), 10) + 1):
            tail = words[-n:]
            if len(tail) < n or _stop(tail[0]) or _stop(tail[-1]):
                continue
            if letters in (_initials(tail, skip_stop=False), _initials(tail, skip_stop=True)):
                found.append((" ".join(tail), acronym))
                break
    return found


@dataclass
class _Counts:
    """Counts by key, the written forms of each key (all, and those not at the start of a clause), and the first
    text of each key."""

    counts: Counter[str]
    forms: dict[str, Counter[str]]
    inner: dict[str, Counter[str]]
    first: dict[str, int]


def _counts(texts: Sequence[str], max_words: int) -> _Counts:
    out = _Counts(Counter(), {}, {}, {})
    for index, text in enumerate(texts):
        for words in _runs(text):
            for n in range(1, max_words + 1):
                for i in range(len(words) - n + 1):
                    gram = words[i : i + n]
                    if not (_phrase_ok(gram) if n > 1 else _technical(gram[0])):
                        continue
                    key, form = _key(gram), " ".join(gram)
                    out.counts[key] += 1
                    out.forms.setdefault(key, Counter())[form] += 1
                    out.inner.setdefault(key, Counter())
                    if i:
                        out.inner[key][form] += 1
                    out.first.setdefault(key, index)
    return out


def _display(key: str, form: str) -> str:
    """``key`` written with the capitals of ``form`` (one of its written forms): ``Bellman equation``, ``PPO``."""
    shown = []
    for k, f in zip(key.split(), form.split(), strict=True):
        if f.lower() == k:
            shown.append(f if f[1:] != f[1:].lower() or f[:1].isupper() else k)
        else:  # an inflected last word: the key's form, with the written first letter
            shown.append(k[:1].upper() + k[1:] if f[:1].isupper() else k)
    return " ".join(shown)


def _written(key: str, forms: Counter[str], inner: Counter[str]) -> str:
    """The form to show: ``key`` with the capitals of its most frequent form not at the start of a clause (a
    capital there is the sentence's, not the term's), else of its most frequent form; lowercase when no written
    form keeps its capitals every time."""
    pool = inner or forms
    form = max(pool, key=lambda f: (pool[f], -sum(c.isupper() for c in f)))
    if sum(1 for f in pool if f.lower() != f) and any(f == f.lower() for f in pool):
        return key  # written both ways: the capitals were a heading's or a sentence's
    return _display(key, form)


def _inside_longer(key: str, count: int, kept: dict[str, int]) -> bool:
    """True when every counted occurrence of ``key`` is part of a longer kept phrase."""
    padded = f" {key} "
    return any(count <= n and padded in f" {longer} " for longer, n in kept.items() if longer != key)


def extract_terms(
    texts: Sequence[str], *, min_count: int = 2, max_words: int = 4, limit: int | None = None
) -> list[TermCandidate]:
    """The candidate terms of a document whose (masked) segment texts are ``texts``, most frequent first (then
    longer first, then first seen): phrases and technical words counted ``min_count`` times or more, and every
    acronym's expansion; at most ``limit`` of them (``None``: all)."""
    c = _counts(texts, max(1, max_words))
    frequent = {k: n for k, n in c.counts.items() if n >= max(1, min_count)}
    kept: dict[str, int] = {}
    for key in sorted(frequent, key=lambda k: -len(k.split())):
        if not _inside_longer(key, frequent[key], kept):
            kept[key] = frequent[key]
    out = {
        key: TermCandidate(
            _written(key, c.forms[key], c.inner[key]), n, c.first[key], "phrase" if " " in key else "technical"
        )
        for key, n in kept.items()
    }
    for index, text in enumerate(texts):
        for expansion, acronym in acronym_expansions(text):
            key = _key(expansion.split())
            n = max(c.counts.get(key, 0), 1)
            shown = _written(key, c.forms[key], c.inner[key]) if key in c.forms else expansion
            out[key] = TermCandidate(shown, n, c.first.get(key, index), "expansion", acronym)
    ranked = sorted(out.values(), key=lambda c: (-c.count, -len(c.term.split()), c.first, c.term.lower()))
    return ranked if limit is None else ranked[: max(0, limit)]


def outermost(entries: Iterable[GlossaryEntry], text: str) -> list[GlossaryEntry]:
    """``entries`` less those whose every occurrence in ``text`` is inside an occurrence of a longer entry (``policy``
    inside ``policy gradient``): a prompt names each term once, by its longest form."""
    entries = list(entries)
    spans = {e: [m.span() for m in _pattern(e).finditer(text)] for e in entries}
    out = []
    for e in entries:
        inside = [
            any(a <= s and t <= b and (a, b) != (s, t) for o in entries if o is not e for a, b in spans[o])
            for s, t in spans[e]
        ]
        if not inside or not all(inside):
            out.append(e)
    return out


def term_uses(pairs: Sequence[tuple[str, str]], glossary: Glossary) -> list[TermUse]:
    """For each entry of ``glossary``: its occurrences in the sources of ``pairs`` (``(source, translation)`` of each
    segment) and how many of them are matched by its target in the translation (case-insensitive unless the entry
    is case-sensitive); entries in glossary order."""
    out = []
    for entry in glossary.entries:
        pattern = _pattern(entry)
        target = entry.target if entry.case_sensitive else entry.target.lower()
        occurrences = consistent = 0
        for source, translation in pairs:
            n = len(pattern.findall(source))
            if n:
                occurrences += n
                said = translation if entry.case_sensitive else translation.lower()
                consistent += min(n, said.count(target))
        out.append(TermUse(entry, occurrences, consistent))
    return out


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HELD = re.compile("\x00(\\d+)\x00")


def _near(text: str, start: int, end: int, target: str) -> bool:
    """True when ``target`` is written right beside ``text[start:end]`` (``策略（policy）``, ``policy (策略)``): an
    English term a translator kept in parentheses beside its rendering, not a copy to replace."""
    reach = len(target) + 3
    return target in text[max(0, start - reach) : start] or target in text[end : end + reach]


def _in_translation(entry: GlossaryEntry) -> re.Pattern[str]:
    """The entry's English term as written in a Chinese translation: bounded by ASCII letters only (a Chinese
    character is a word character to ``re``, and the term is often glued to one: 一个agent)."""
    pattern = _pattern(entry)
    body = pattern.pattern.replace(r"(?<![\w-])", r"(?<![A-Za-z0-9-])").replace(r"(?![\w-])", r"(?![A-Za-z0-9-])")
    return re.compile(body, pattern.flags)


def _alias(alias: str, target: str) -> bool:
    return alias != target and len(alias) >= 2 and len(_CJK_RUN.findall(alias)) == len(alias)


def enforce_terms(
    source: str, translation: str, entries: Sequence[tuple[GlossaryEntry, Sequence[str]]]
) -> tuple[str, list[GlossaryEntry]]:
    """``translation`` with the target of each entry whose term the segment's ``source`` uses put where the
    translation copied the English term (not one kept beside its rendering: ``策略（policy）``) or wrote one of the
    entry's ``aliases`` (other renderings of the term, e.g. the model's own: 政策 for policy). Longer terms go first
    and what is settled is held, so ``policy`` is never matched inside ``policy gradient`` and an alias inside a longer
    target (值函数 in 价值函数) is not one. Returns the text and the entries applied. Placeholders are never touched:
    an alias is Chinese characters only, an English copy is matched between non-letters."""
    held: list[str] = []

    def hold(text: str) -> str:
        held.append(text)
        return f"\x00{len(held) - 1}\x00"

    relevant = [(e, a) for e, a in sorted(entries, key=lambda e: -len(e[0].source)) if _pattern(e).search(source)]
    applied: dict[GlossaryEntry, None] = {}
    out = translation
    for entry, _ in relevant:

        def swap(m: re.Match[str], entry: GlossaryEntry = entry) -> str:
            if _near(m.string, m.start(), m.end(), entry.target):
                return hold(m.group(0))
            applied[entry] = None
            return hold(entry.target)

        out = _in_translation(entry).sub(swap, out)
    for entry, _ in sorted(relevant, key=lambda e: -len(e[0].target)):
        out = out.replace(entry.target, hold(entry.target))
    for entry, aliases in relevant:
        for alias in sorted((a for a in aliases if _alias(a, entry.target)), key=len, reverse=True):
            if alias in out:
                out = out.replace(alias, hold(entry.target))
                applied[entry] = None
    return _HELD.sub(lambda m: held[int(m.group(1))], out), list(applied)
