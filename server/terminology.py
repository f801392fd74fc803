"""Document terminology: one translation per term of a document, chosen before translating and enforced as the
document's glossary.

The candidate terms come from ``protect.extract_terms`` on the masked segments (frequent phrases, hyphenated
technical words, acronyms' expansions), plus every entry of the shipped term base (``contract.termbase``) that occurs
in the document. Each gets one translation, from the first layer that has one:

1. ``user``: the request's glossary (always wins; its entries are enforced as before);
2. ``term_base``: the shipped field term base (``translate.term_base``; off: skipped);
3. ``model``: one short engine request per remaining term, the term alone as the item with the first segment that
   uses it as context (on the request's adapter, greedy), at most ``translate.terminology_max_terms`` of them, most
   frequent first; an answer that is not a short Chinese term is not used (the term is reported with no translation).

Accepted reader corrections are not a layer: the memory is keyed by a segment's whole masked source, and telling which
words of a correction render a term needs an alignment this step does not have (a remembered segment still gets its
correction verbatim). The chosen entries join the user's glossary as the document's glossary, which the prompts and
validation use as they use any glossary. After translation each term's consistency is counted
(``protect.term_uses``: occurrences in the sources whose segment translation holds the chosen translation).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from papertrans import protect
from papertrans.contract import prompts
from papertrans.contract.termbase import term_base
from papertrans.server.engine import AdapterRef, Engine, EngineUnavailableError, SamplingOptions
from papertrans.server.output_cache import OutputCache, answered
from papertrans.server.segments import Tally
from papertrans.server.settings import TranslateSettings

__all__ = ["DocumentTerms", "Layer", "TermChoice", "Terminology", "term_translation"]

log = logging.getLogger(__name__)

Layer = Literal["user", "term_base", "model", "none"]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]+")
_TRIM = " \t。．.，,；;：:!！?？\"'“”‘’「」《》()（）[]【】*_`"


@dataclass
class TermChoice:
    """One term of the document, the translation chosen for it (``None``: no layer had one) and where it came from;
    ``occurrences`` / ``consistent`` are counted after translation."""

    term: str
    translation: str | None
    source: Layer
    acronym: str | None = None
    occurrences: int = 0
    consistent: int | None = None
    aliases: list[str] = field(default_factory=list)  # other renderings the post-edit replaces (the model's own)
    edited: int = 0  # segments whose translation the post-edit changed for this term

    def public(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "translation": self.translation,
            "source": self.source,
            "acronym": self.acronym,
            "occurrences": self.occurrences,
            "consistent": self.consistent,
            "edited": self.edited,
            "aliases": list(self.aliases),
        }


@dataclass
class DocumentTerms:
    """The document's terminology: its terms, the glossary enforced while translating (the user's entries first,
    then the chosen ones; ``None`` when there is none) and the engine requests the model layer made."""

    choices: list[TermChoice] = field(default_factory=list)
    glossary: protect.Glossary | None = None
    requests: int = 0
    post_edit: bool = False

    def edit(self, segments: Sequence[protect.Segment], outcomes: Sequence[Any]) -> dict[str, str]:
        """The post-edit (``translate.term_post_edit``): each kept translation (``outcomes``: the segments'
        ``SegmentOutcome``) whose source uses a term but which copied the English term or wrote one of its aliases
        gets the chosen translation there; returns the edited masked outputs by segment id and updates each edited
        outcome's restored ``translation`` (its raw ``output`` stays the model's, for the store and the cache) and
        drops ``glossary_term_missing`` where no term is missing any more. Reader corrections are never edited."""
        entries = [(protect.GlossaryEntry(c.term, c.translation), c.aliases) for c in self.choices if c.translation]
        if not self.post_edit or not entries:
            return {}
        by_term = {c.term.lower(): c for c in self.choices}
        edited: dict[str, str] = {}
        for seg, outcome in zip(segments, outcomes, strict=True):
            if outcome.status in ("fallback", "memory"):
                continue
            text, applied = protect.enforce_terms(seg.text, outcome.output, entries)
            if not applied:
                continue
            edited[seg.id] = text
            for entry in applied:
                by_term[entry.source.lower()].edited += 1
            restored = protect.separate_formulas(text, seg.placeholders, seg.style, seg.text)
            outcome.translation = protect.unmask(restored, seg.placeholders, seg.style)
            if self.glossary is not None and not self.glossary.missing(seg.text, text):
                outcome.reasons = [r for r in outcome.reasons if r != "glossary_term_missing"]
        return edited

    def count(self, pairs: Sequence[tuple[str, str]]) -> float | None:
        """Count each term's occurrences and consistent occurrences in ``pairs`` (each segment's masked source and
        masked translation, ``""`` for one kept in English); the share of consistent occurrences over all terms
        with a translation (``None``: no such term occurs)."""
        uses = {u.entry.source.lower(): u for u in protect.term_uses(pairs, self.glossary)} if self.glossary else {}
        occurring = consistent = 0
        for choice in self.choices:
            use = uses.get(choice.term.lower()) if choice.translation is not None else None
            if use is None:
                continue
            choice.occurrences, choice.consistent = use.occurrences, use.consistent
            occurring += use.occurrences
            consistent += use.consistent
        return round(consistent / occurring, 4) if occurring else None

    def public(self) -> list[dict[str, Any]]:
        return [c.public() for c in self.choices]


def term_translation(output: str, term: str, acronym: str | None = None) -> str | None:
    """The model's answer for ``term`` when it reads as a term: its first line, trimmed, with Chinese in it, short,
    no Latin word that is not part of the term and not every word of the term left in English (``Q学习`` for
    Q-learning is one); ``None`` otherwise."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    text = lines[0].strip(_TRIM) if lines else ""
    if not text or not _CJK.search(text) or len(text) > 4 * len(term.split()) + 6:
        return None
    allowed = f"{term} {acronym or ''}".lower()
    latin = {word.lower() for word in _LATIN.findall(text)}
    if any(word not in allowed for word in latin) or latin >= set(_LATIN.findall(term.lower())):
        return None  # a word that is not the term's, or every word of the term still in English
    if any(not ch.isprintable() or ch in "⟦⟧<>{}|\\$" for ch in text):
        return None
    return text


def _first(texts: Sequence[str], term: str) -> int:
    """The index of the first text that uses ``term`` (0 when none does: the context is only a hint)."""
    glossary = protect.Glossary([protect.GlossaryEntry(term, "-")])
    return next((i for i, t in enumerate(texts) if glossary.find(t)), 0)


def _covers(glossary: protect.Glossary | None, term: str) -> protect.GlossaryEntry | None:
    """The entry of ``glossary`` that matches the whole of ``term`` (its plural or singular alike)."""
    if glossary is None:
        return None
    words = len(term.split())
    return next((e for e in glossary.find(term) if len(e.source.split()) == words), None)


class Terminology:
    """Chooses a document's terminology with one engine (``translate.terminology`` on)."""

    def __init__(self, engine: Engine, settings: TranslateSettings, base: protect.Glossary | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self._base = base

    @property
    def base(self) -> protect.Glossary | None:
        """The term base layer: the one given, else the shipped one; ``None`` when ``translate.term_base`` is off."""
        if not self.settings.term_base:
            return None
        if self._base is None:
            self._base = term_base()
        return self._base

    async def choose(
        self,
        pd: protect.ProtectedDocument,
        user: protect.Glossary | None,
        *,
        adapter: AdapterRef | None,
        request_id: str,
        tally: Tally,
        cache: OutputCache | None = None,
    ) -> DocumentTerms:
        """The terminology of ``pd`` (``user``: the request's glossary); the glossary alone when the step is off."""
        if not self.settings.terminology or not pd.segments:
            return DocumentTerms(glossary=user)
        texts = [s.text for s in pd.segments]
        chosen, unknown = self._layers(texts, user)
        budget = max(0, self.settings.terminology_max_terms)
        asked = unknown[:budget]
        # the post-edit's aliases: the model's own rendering of each glossary and term-base term (the most used
        # first, within what the budget leaves), which it then replaces where a translation wrote it
        known = self._known(texts, chosen.values()) if self.settings.term_post_edit else []
        known = known[: max(0, budget - len(asked))]
        alias_of = [protect.TermCandidate(c.term, 0, _first(texts, c.term), acronym=c.acronym) for c in known]
        requests = [self._request(c, texts[c.first], adapter) for c, _ in asked]
        requests += [self._request(c, texts[c.first], adapter) for c in alias_of]

        def ask(i: int) -> Awaitable[str | None]:
            return self._ask(*requests[i], adapter, f"{request_id}-term{i}", tally)

        # the output cache answers a term asked before under the same prompt, model and adapter (server.output_cache)
        outputs, sent = await answered(cache, self.engine, adapter, requests, ask)
        for (cand, choice), output in zip(asked, outputs[: len(asked)], strict=True):
            answer = term_translation(output, cand.term, cand.acronym) if output is not None else None
            if answer is not None:
                choice.translation, choice.source = answer, "model"
        for choice, cand, output in zip(known, alias_of, outputs[len(asked) :], strict=True):
            answer = term_translation(output, cand.term, cand.acronym) if output is not None else None
            if answer is not None and answer != choice.translation:
                choice.aliases.append(answer)
        glossary = self._glossary(user, chosen.values())
        return DocumentTerms(list(chosen.values()), glossary, sent, post_edit=self.settings.term_post_edit)

    def _layers(
        self, texts: Sequence[str], user: protect.Glossary | None
    ) -> tuple[dict[str, TermChoice], list[tuple[protect.TermCandidate, TermChoice]]]:
        """The document's terms by lowercase term, those the request's glossary or the term base translate already
        chosen; and the extracted ones no layer covers (most frequent first), for the model."""
        chosen: dict[str, TermChoice] = {}
        for entry in dict.fromkeys(e for t in texts for e in user.find(t)) if user is not None else ():
            chosen[entry.source.lower()] = TermChoice(entry.source, entry.target, "user")
        base = self.base
        if base is not None:
            for entry in dict.fromkeys(e for t in texts for e in base.find(t)):
                if _covers(user, entry.source) is None:
                    chosen.setdefault(entry.source.lower(), TermChoice(entry.source, entry.target, "term_base"))
        unknown: list[tuple[protect.TermCandidate, TermChoice]] = []
        for cand in protect.extract_terms(texts, min_count=self.settings.terminology_min_occurrences):
            known = _covers(user, cand.term) or _covers(base, cand.term)
            if known is not None:
                layer: Layer = "user" if _covers(user, cand.term) else "term_base"
                chosen.setdefault(known.source.lower(), TermChoice(known.source, known.target, layer))
                chosen[known.source.lower()].acronym = cand.acronym
            elif cand.term.lower() not in chosen:
                choice = chosen[cand.term.lower()] = TermChoice(cand.term, None, "none", cand.acronym)
                unknown.append((cand, choice))
        return chosen, unknown

    @staticmethod
    def _known(texts: Sequence[str], choices: Any) -> list[TermChoice]:
        """The glossary and term-base terms of the document, the most used first."""
        known = [c for c in choices if c.translation is not None and c.source in ("user", "term_base")]
        glossary = protect.Glossary(protect.GlossaryEntry(c.term, str(c.translation)) for c in known)
        uses = {u.entry.source.lower(): u.occurrences for u in protect.term_uses([(t, "") for t in texts], glossary)}
        return sorted(known, key=lambda c: -uses.get(c.term.lower(), 0))

    @staticmethod
    def _glossary(user: protect.Glossary | None, choices: Sequence[TermChoice] | Any) -> protect.Glossary | None:
        entries = list(user.entries) if user is not None else []
        taken = {e.source.lower() for e in entries}
        for c in choices:
            if c.translation is not None and c.source != "user" and c.term.lower() not in taken:
                entries.append(protect.GlossaryEntry(c.term, c.translation))
                taken.add(c.term.lower())
        return protect.Glossary(entries) if entries else None

    def _request(
        self, cand: protect.TermCandidate, context: str, adapter: AdapterRef | None
    ) -> tuple[str, SamplingOptions]:
        """One term's request: the term alone as the item, its first segment as read-only context."""
        style = adapter.prompt_style if adapter is not None and adapter.prompt_style else None
        prompt, stop = prompts.build_prompt(self.engine, cand.term, context=[context], style=style)
        options = SamplingOptions(max_tokens=4 * self.engine.count_tokens(cand.term) + 16, temperature=0.0, stop=stop)
        return str(prompt), options

    async def _ask(
        self, prompt: str, options: SamplingOptions, adapter: AdapterRef | None, request_id: str, tally: Tally
    ) -> str | None:
        """One engine request, its cleaned text (``None`` when it failed)."""
        try:
            gen = await self.engine.generate(prompt, options, adapter=adapter, request_id=request_id)
        except (asyncio.CancelledError, EngineUnavailableError):
            raise
        except Exception as exc:  # a failed term request costs that term's entry, never the document
            log.warning("term request %s failed: %s", request_id, exc)
            return None
        tally.tokens_in += gen.tokens_in
        tally.tokens_out += gen.tokens_out
        return prompts.clean_output(gen.text)
