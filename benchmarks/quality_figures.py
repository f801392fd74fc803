"""The figures of a quality run, from what the server returned: pure functions, no engine, no I/O.

``bench_quality.py`` prints them after a run and for a saved run (``--rescore``); ``bench_loop.py`` and
``measure_memory_examples.py`` score with the same definitions. Four groups:

* quality, on the words alone (:func:`text_only`: protected items, HTML and Markdown punctuation removed from both
  sides): corpus chrF, BLEU (``tokenize="zh"``), the Chinese share of the output's letters (:func:`scores`);
* integrity: must-preserve items of the source missing from the output (:func:`lost_items`);
* faithfulness, recomputed here and independent of the reasons the server reported (a server without the checks is
  scored the same way): length against the human translation (:func:`length_ratio`), odd or changed emphasis
  (:func:`emphasis_faults`), formulas written touching (:func:`touching_count`), and each segment's translation
  re-masked and re-validated by ``protect.validate`` (:func:`revalidate`);
* terminology, documents: the share of the occurrences of each document's terms (those seen 3 times or more) whose
  segment translation holds the term's chosen translation (:func:`term_consistency`), counted here on the returned
  segments with ``protect.term_uses``; the terms and their translations are the document terminology a server with
  the terminology step reported, so a run without the step is scored against the terms another run chose.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from papertrans import protect

__all__ = [
    "EXAMPLES",
    "JUDGED_REASONS",
    "Output",
    "Revalidation",
    "Rows",
    "Run",
    "chinese_share",
    "content_length",
    "emphasis_counts",
    "emphasis_faults",
    "figures",
    "length_ratio",
    "lost_items",
    "preserve_items",
    "remask",
    "revalidate",
    "scores",
    "short_name",
    "table",
    "term_consistency",
    "text_only",
    "touching_count",
]

# What must come back unchanged (the dev data's README: identical on both sides of every unit).
_FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
_ROLE = re.compile(r":[a-z]+:`[^`]+`")  # d2l roles
_CODE_SPAN = re.compile(r"(?<!`)`[^`\n]+`(?!`)")
_LINK_TARGET = re.compile(r"\]\(([^)\s]+)")  # link and image targets: group 1 is the item
_PRESERVE = [
    _FENCED,
    re.compile(r"\$\$.+?\$\$", re.DOTALL),
    re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\\n])+?\$"),
    re.compile(r"\\\\\(.+?\\\\\)|\\\\\[.+?\\\\\]", re.DOTALL),  # \\( … \\), \\[ … \\]
    re.compile(r"(?<!\\)\\\(.+?\\\)|(?<!\\)\\\[.+?\\\]", re.DOTALL),
    _ROLE,
    _CODE_SPAN,
    re.compile(r"\\(?:cite|citep|citet|ref|eqref|label)\{[^}]*\}"),
    _LINK_TARGET,
    re.compile(r"https?://[^\s)>\]]+"),
]
# What is removed before scoring words: the same items, HTML, and Markdown punctuation.
_STRIP = [*_PRESERVE, re.compile(r"<[^>\n]+>"), re.compile(r"\[\^[^\]]+\]")]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Asterisks that are not emphasis: a list bullet, one between spaces (a product in prose), an escaped one.
_NOT_EMPHASIS = re.compile(r"^[ \t>]*\*(?=[ \t])|(?<=\s)\*(?=\s)|\\\*", re.MULTILINE)
# ``$…$`` directly followed by ``$…$`` on one line, as many as touch; an opener after ``$`` or ``\`` is no opener,
# so one-line display math (``$$x$$``) and ``$$a$$ and $$b$$`` are not runs.
_MATH_BODY = r"(?:\\.|[^$\\\n])+"
_TOUCHING_RUN = re.compile(rf"(?<![\\$])\$(?!\$){_MATH_BODY}\$(?:\$(?!\$){_MATH_BODY}\$)+(?!\$)")

#: The reasons :func:`revalidate` counts: ``protect``'s faithfulness reasons and the hard markup one.
JUDGED_REASONS = (
    "placeholder_number",
    "repetition",
    "placeholders_displaced",
    "omission",
    "markup_changed",
    "markup_unbalanced",
    "formulas_touching",
)


# -- quality and integrity -----------------------------------------------------------------------------------------
def preserve_items(markdown: str) -> Counter[str]:
    """Each protected item once per occurrence (a span already taken by an earlier pattern is not counted again)."""
    items: Counter[str] = Counter()
    taken: list[tuple[int, int]] = []
    for pattern in _PRESERVE:
        group = 1 if pattern is _LINK_TARGET else 0
        for m in pattern.finditer(markdown):
            a, b = m.span(group)
            if any(a < y and x < b for x, y in taken):
                continue
            taken.append((a, b))
            items[m.group(group)] += 1
    return items


def lost_items(source: str, output: str) -> list[str]:
    """Items of the source that the output carries fewer times (each missing occurrence once)."""
    lost: list[str] = []
    for item, n in preserve_items(source).items():
        lost.extend([item] * max(0, n - output.count(item)))
    return lost


def _strip_protected(markdown: str) -> str:
    for pattern in _STRIP:
        markdown = pattern.sub(" ", markdown)
    return markdown


def text_only(markdown: str) -> str:
    """The words alone: protected items, HTML, footnote refs and Markdown punctuation removed, spaces collapsed."""
    markdown = re.sub(r"[#*_>|\[\]()!-]{1,}", " ", _strip_protected(markdown))
    return " ".join(markdown.split())


def chinese_share(text: str) -> float:
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def scores(hyps: list[str], refs: list[str]) -> dict[str, float]:
    import sacrebleu

    chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score
    share = sum(chinese_share(h) * len(h) for h in hyps) / max(1, sum(len(h) for h in hyps))
    return {"chrf": round(chrf, 1), "bleu_zh": round(bleu, 1), "chinese_share": round(share, 3)}


# -- faithfulness ----------------------------------------------------------------------------------------------------
def content_length(text: str) -> int:
    """CJK characters + Latin words + numbers (``3.14`` and ``1,000`` are one number each)."""
    return len(_CJK.findall(text)) + len(_LATIN_WORD.findall(text)) + len(_NUMBER.findall(text))


def length_ratio(hypothesis: str, reference: str) -> float | None:
    """The output's length on the words alone per unit of the reference's (both through :func:`text_only`, length by
    :func:`content_length`); ``None`` for a reference without words."""
    ref = content_length(text_only(reference))
    return content_length(text_only(hypothesis)) / ref if ref else None


def emphasis_counts(markdown: str) -> tuple[int, int]:
    """``(**, single *)`` outside protected items (math, code, URLs, ...), bullets and spaced asterisks not counted;
    ``***`` counts as one of each."""
    text = _NOT_EMPHASIS.sub(" ", _strip_protected(markdown))
    strong = text.count("**")
    return strong, text.replace("**", "").count("*")


def emphasis_faults(source: str, output: str) -> set[str]:
    """``odd_strong`` / ``odd_em``: the output's count is odd where the source's is even (an unclosed marker renders
    the rest of the paragraph wrong); ``strong_changed``: the output's ``**`` count differs from the source's."""
    (s_strong, s_em), (o_strong, o_em) = emphasis_counts(source), emphasis_counts(output)
    faults = set()
    if o_strong % 2 and not s_strong % 2:
        faults.add("odd_strong")
    if o_em % 2 and not s_em % 2:
        faults.add("odd_em")
    if o_strong != s_strong:
        faults.add("strong_changed")
    return faults


def touching_count(markdown: str) -> int:
    """Contacts of inline formulas written touching (``$a$$b$$c$`` is two), outside code, one line at a time."""
    for pattern in (_FENCED, _ROLE, _CODE_SPAN):
        markdown = pattern.sub(" ", markdown)
    return sum(m.group(0).count("$$") for m in _TOUCHING_RUN.finditer(markdown))


def remask(translation: str, placeholders: Mapping[str, str]) -> str | None:
    """``translation`` with each placeholder's original bytes replaced by the placeholder (longest original first,
    equal originals left to right); ``None`` when an original is not in the text."""
    for ph, original in sorted(placeholders.items(), key=lambda item: -len(item[1])):  # stable: equal ones in order
        at = translation.find(original)
        if at < 0:
            return None
        translation = translation[:at] + ph + translation[at + len(original) :]
    return translation


@dataclass
class Revalidation:
    """Segments re-validated by ``protect.validate`` and how many failed each of :data:`JUDGED_REASONS`."""

    judged: int = 0
    not_remaskable: int = 0  # an original of the segment's placeholders is not in its translation
    unmatched: int = 0  # no segment of that id and source in the re-protected source
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> segment ids (the first few)

    def add(self, other: Revalidation) -> None:
        self.judged += other.judged
        self.not_remaskable += other.not_remaskable
        self.unmatched += other.unmatched
        self.reasons.update(other.reasons)
        for reason, ids in other.examples.items():
            self.examples.setdefault(reason, []).extend(ids)


def revalidate(source: str, segments: Iterable[Mapping[str, Any]], label: str = "") -> Revalidation:
    """Protect ``source`` again, match the server's segments (``{id, source, translation, status}``) by id and source,
    re-mask each translation with that segment's placeholders and count the reasons ``protect.validate`` gives it.
    Fallbacks (the English source, kept) are not judged."""
    protected = {seg.id: seg for seg in protect.protect(source).segments}
    out = Revalidation()
    for public in segments:
        seg = protected.get(str(public["id"]))
        if seg is None or protect.unmask(seg.text, seg.placeholders, seg.style) != public["source"]:
            out.unmatched += 1
            continue
        if public["status"] == "fallback":
            continue
        masked = remask(str(public["translation"]), seg.placeholders)
        if masked is None:
            out.not_remaskable += 1
            continue
        out.judged += 1
        found = set(protect.validate(seg, masked).reasons) & set(JUDGED_REASONS)
        out.reasons.update(found)
        for reason in found:
            out.examples.setdefault(reason, []).append(f"{label}{public['id']}")
    return out


# -- one run's figures -------------------------------------------------------------------------------------------------
@dataclass
class Output:
    """One request of a run: its source, what the server returned, the human reference (units only)."""

    name: str  # the unit's id, the document's file name
    source: str
    markdown: str
    segments: list[dict[str, Any]]  # the server's public segments: {id, source, translation, status, reasons}
    reference: str = ""
    seconds: float | None = None  # this request alone (None: not recorded by the run)
    terminology: list[dict[str, Any]] = field(default_factory=list)  # the server's document terminology, if any


@dataclass
class Run:
    units: list[Output]
    docs: list[Output]
    units_seconds: float | None = None  # wall clock of all units, sent at once
    docs_seconds: float | None = None  # wall clock of both documents, sent at once


#: section -> row label -> printed value
Rows = dict[str, dict[str, str]]


def short_name(name: str) -> str:
    """A document's file name as the table shows it (``d2l-en__attention__scoring.md``: ``scoring``)."""
    return name.removesuffix(".md").rsplit("__", 1)[-1]


def _share(n: int, total: int) -> str:
    return f"{n} of {total} ({100 * n / max(1, total):.1f} %)"


def _quality(units: list[Output]) -> dict[str, str]:
    if not units:
        return {}
    refs = [text_only(u.reference) for u in units]
    t = scores([text_only(u.markdown) for u in units], refs)
    c = scores([text_only(u.source) for u in units], refs)
    return {
        "text-only chrF / BLEU-zh": f"{t['chrf']} / {t['bleu_zh']}",
        "Chinese share of the output's letters": f"{t['chinese_share']}",
        "floor: a copy of the English, chrF / BLEU-zh": f"{c['chrf']} / {c['bleu_zh']}",
        "references' Chinese share": f"{scores(refs, refs)['chinese_share']}",
    }


def _integrity(outputs: list[Output], examples: dict[str, str], what: str) -> dict[str, str]:
    segments = [s for o in outputs for s in o.segments]
    fallbacks = [s for s in segments if s["status"] == "fallback"]
    reasons = Counter(r for s in fallbacks for r in set(s["reasons"]))
    lost = [item for o in outputs for item in lost_items(o.source, o.markdown)]
    items = sum(sum(preserve_items(o.source).values()) for o in outputs)
    if lost:
        examples[f"{what}: items lost, first 3"] = "; ".join(repr(item[:40]) for item in lost[:3])
    return {
        "segments falling back (target <= 2 %)": _share(len(fallbacks), len(segments)),
        "fallback reasons": ", ".join(f"{r} {n}" for r, n in reasons.most_common()) or "-",
        "must-preserve items lost (target 0)": f"{len(lost)} of {items}",
    }


def _lengths(units: list[Output], examples: dict[str, str]) -> dict[str, str]:
    ratios = {u.name: r for u in units if (r := length_ratio(u.markdown, u.reference)) is not None}
    worst = sorted(ratios.items(), key=lambda item: item[1])[:5]
    examples["units: the 5 shortest (length ratio)"] = ", ".join(f"{name} {r:.2f}" for name, r in worst)
    n = len(ratios)
    return {
        "under 0.75 of the reference's length (target <= 5 %)": _share(sum(r < 0.75 for r in ratios.values()), n),
        "under 0.6 of the reference's length (target 0)": _share(sum(r < 0.6 for r in ratios.values()), n),
    }


def _emphasis(pairs: list[tuple[str, str]], what: str) -> dict[str, str]:
    faults = Counter(f for source, output in pairs for f in emphasis_faults(source, output))
    return {
        f"{what} with an odd ** (target 0)": _share(faults["odd_strong"], len(pairs)),
        f"{what} with an odd * (target 0)": _share(faults["odd_em"], len(pairs)),
        f"{what} whose ** count changed (target <= 5 %)": _share(faults["strong_changed"], len(pairs)),
    }


def _kept_segments(output: Output) -> list[tuple[str, str]]:
    return [(s["source"], s["translation"]) for s in output.segments if s["status"] != "fallback"]


def _faithful(outputs: list[Output], examples: dict[str, str], what: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    new_touching = sum(max(0, touching_count(o.markdown) - touching_count(o.source)) for o in outputs)
    rows["touching formulas not in the source (target 0)"] = str(new_touching)
    checked = Revalidation()
    for o in outputs:
        checked.add(revalidate(o.source, o.segments, label=f"{short_name(o.name)}:"))
    rows["segments re-validated (not re-maskable, unmatched)"] = (
        f"{checked.judged} ({checked.not_remaskable}, {checked.unmatched})"
    )
    for reason in JUDGED_REASONS:
        target = " (target 0)" if reason == "placeholder_number" else ""
        rows[f"re-validated: {reason}{target}"] = _share(checked.reasons[reason], checked.judged)
        if checked.examples.get(reason):
            examples[f"{what}: {reason}, first 3"] = ", ".join(checked.examples[reason][:3])
    statuses = Counter(str(s["status"]) for o in outputs for s in o.segments)
    rows["statuses"] = ", ".join(f"{k} {n}" for k, n in sorted(statuses.items()))
    rows["needs_review share"] = _share(statuses["needs_review"], sum(statuses.values()))
    return rows


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _wall(run: Run) -> dict[str, str]:
    rows = {"all units, sent at once": _seconds(run.units_seconds),
            "both documents, sent at once": _seconds(run.docs_seconds)}
    for doc in run.docs:
        rows[f"{short_name(doc.name)} (its own request)"] = _seconds(doc.seconds)
    return rows


#: Terms: (term, chosen translation) pairs, by document name.
Terms = dict[str, list[tuple[str, str]]]


def chosen_terms(outputs: Iterable[Output]) -> Terms:
    """The document terminology each output's server reported (terms with a translation), by document name."""
    return {o.name: [(str(t["term"]), str(t["translation"])) for t in o.terminology if t.get("translation")]
            for o in outputs if o.terminology}


def term_consistency(output: Output, terms: list[tuple[str, str]], min_occurrences: int = 3) -> tuple[int, int, int]:
    """``(terms, occurrences, consistent)`` of ``output`` for the ``terms`` seen ``min_occurrences`` times or more in
    its sources: occurrences whose segment translation holds the term's translation (a fallback holds none)."""
    entries: dict[str, tuple[str, str]] = {}
    for term, translation in terms:
        entries.setdefault(term.lower(), (term, translation))
    if not entries:
        return 0, 0, 0
    pairs = [(str(s["source"]), "" if s["status"] == "fallback" else str(s["translation"])) for s in output.segments]
    uses = [u for u in protect.term_uses(pairs, protect.Glossary.from_pairs(entries.values()))
            if u.occurrences >= min_occurrences]
    return len(uses), sum(u.occurrences for u in uses), sum(u.consistent for u in uses)


def _terminology(docs: list[Output], terms: Terms) -> dict[str, str]:
    rows: dict[str, str] = {}
    total = [0, 0, 0]
    for doc in docs:
        if doc.name not in terms:
            continue
        counted = term_consistency(doc, terms[doc.name])
        total = [a + b for a, b in zip(total, counted, strict=True)]
        rows[f"{short_name(doc.name)}: consistent occurrences of terms seen >= 3 times"] = (
            f"{_share(counted[2], counted[1])}, {counted[0]} terms"
        )
    if rows:
        rows["term consistency, all documents (target >= 95 %)"] = _share(total[2], total[1])
    sources = Counter(str(t["source"]) for d in docs for t in d.terminology)
    if sources:
        rows["terms by source (model, term base, user, none)"] = " / ".join(
            str(sources[k]) for k in ("model", "term_base", "user", "none")
        )
    return rows


#: The section of :func:`figures` that :func:`table` lists below the table, not in it (ids and items: long).
EXAMPLES = "examples"


def figures(run: Run, terms: Terms | None = None) -> Rows:
    """Every figure of ``run``, printable (see the module docstring; targets from issues 20 and 21 in the labels).
    ``terms``: the document terminology to score term consistency against (default: the run's own)."""
    examples: dict[str, str] = {}
    units: dict[str, str] = {}
    if run.units:
        units = {**_lengths(run.units, examples), **_emphasis([(u.source, u.markdown) for u in run.units], "units")}
        units |= _faithful(run.units, examples, "units")
    docs: dict[str, str] = {}
    for doc in run.docs:
        docs |= _emphasis(_kept_segments(doc), f"{short_name(doc.name)}: segments")
    if run.docs:
        docs |= _faithful(run.docs, examples, "documents")
    return {
        "quality: units, on the words alone": _quality(run.units),
        "integrity: units": _integrity(run.units, examples, "units") if run.units else {},
        "integrity: documents": _integrity(run.docs, examples, "documents") if run.docs else {},
        "faithfulness: units": units,
        "faithfulness: documents": docs,
        "terminology: documents": _terminology(run.docs, chosen_terms(run.docs) if terms is None else terms),
        "wall time": _wall(run),
        EXAMPLES: examples,
    }


def table(columns: list[tuple[str, Rows]]) -> str:
    """The figures of several runs side by side, one column each (a figure a run lacks: ``-``); then each run's
    examples, one line each."""
    sections: dict[str, list[str]] = {}
    for _, rows in columns:
        for section, section_rows in rows.items():
            labels = sections.setdefault(section, [])
            labels.extend(label for label in section_rows if label not in labels)
    sections.pop(EXAMPLES, None)
    width = max((len(label) for labels in sections.values() for label in labels), default=0)
    cells = [
        max([len(title), *(len(v) for name, vs in rows.items() if name != EXAMPLES for v in vs.values())])
        for title, rows in columns
    ]
    lines = [" | ".join([" " * width] + [title.ljust(w) for (title, _), w in zip(columns, cells, strict=True)])]
    for section, labels in sections.items():
        if labels:
            lines.append(f"-- {section}")
        for label in labels:
            values = [
                rows.get(section, {}).get(label, "-").ljust(w) for (_, rows), w in zip(columns, cells, strict=True)
            ]
            lines.append(" | ".join([label.ljust(width), *values]).rstrip())
    for title, rows in columns:
        lines.append(f"-- {EXAMPLES}: {title}")
        lines.extend(f"{label}: {value}" for label, value in rows.get(EXAMPLES, {}).items())
    return "\n".join(lines)
