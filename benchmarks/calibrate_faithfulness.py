"""Calibrate protect's faithfulness checks on the human translations of the TRAINING corpus (never the dev data).

Each training unit (``en``/``zh``) is protected on both sides; a segment pair of the same kind whose placeholder
inventories hold the same original bytes is checked the way a model's translation is: the human Chinese, masked with
the English segment's placeholders, goes through ``protect.validate``. Prints the distribution of each check's
statistic (percentiles by source-length bucket where length matters) and how often each reason fires on these human
translations with the thresholds in ``protect/faithful.py``. Pure Python, a few seconds on one core.

    .venv/bin/python benchmarks/calibrate_faithfulness.py [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from papertrans import protect
from papertrans.protect import faithful

REPO = Path(__file__).resolve().parents[1]
TRAIN_FILES = ("train/*.jsonl", "mldocs/mldocs_en_zh_train.jsonl")


def training_rows(data: Path) -> list[dict[str, str]]:
    """The rows of the training files (a file named like a dev split is refused, whatever the glob finds)."""
    rows: list[dict[str, str]] = []
    for pattern in TRAIN_FILES:
        for path in sorted(data.glob(pattern)):
            if "dev" in path.name:
                raise SystemExit(f"refusing held-out data: {path}")
            with open(path, encoding="utf-8") as fh:
                rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def masked_like(target: protect.Segment, other: protect.Segment) -> str | None:
    """``other``'s masked text with ``target``'s placeholders (matched by original bytes); None when they differ."""
    if Counter(target.placeholders.values()) != Counter(other.placeholders.values()):
        return None
    pool: dict[str, list[str]] = {}
    for ph, original in target.placeholders.items():
        pool.setdefault(original, []).append(ph)
    style = other.style
    return style.token.sub(lambda m: pool[other.placeholders[style.canonical(m)]].pop(0), other.text)


def pairs(rows: Sequence[dict[str, str]], skipped: Counter[str]) -> Iterator[tuple[str, protect.Segment, str]]:
    """``(unit id, English segment, human Chinese masked like it)`` for each segment pair that aligns."""
    for row in rows:
        en, zh = protect.protect(row["en"]), protect.protect(row["zh"])
        if len(en.segments) != len(zh.segments):
            skipped["segment count differs"] += 1
            continue
        for a, b in zip(en.segments, zh.segments, strict=True):
            masked = masked_like(a, b) if a.kind == b.kind else None
            if masked is None:
                skipped["segment kind or inventory differs"] += 1
                continue
            yield row["id"], a, masked


def pct(values: Sequence[float], qs: Sequence[int]) -> list[float]:
    """Nearest-rank percentiles."""
    s = sorted(values)
    return [s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))] if s else float("nan") for q in qs]


def table(title: str, rows: list[tuple[str, list[float]]], qs: Sequence[int]) -> None:
    print(f"\n{title}")
    print(f"| {'':24s} | {'n':>5s} | " + " | ".join(f"p{q:<4d}" for q in qs) + " |")
    print("|" + "-" * 26 + "|------:|" + "|".join("------:" for _ in qs) + "|")
    for name, values in rows:
        print(f"| {name:24s} | {len(values):5d} | " + " | ".join(f"{v:6.2f}" for v in pct(values, qs)) + " |")


def _rule(detail: str) -> str:
    """The rule behind a reason's detail (its wording, without the figures)."""
    for rule in ("length", "sentences", "carried", "comma", "glued", "reversed", "strong", "em", "backticks"):
        if rule in detail:
            return rule
    return detail.split()[0] if detail else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("PAPERTRANS_DATA") or str(REPO.parent / "shared" / "data")
    ap.add_argument("--data", default=default, help="the folder holding train/ and mldocs/")
    args = ap.parse_args()
    rows = training_rows(Path(args.data))
    skipped: Counter[str] = Counter()
    figures: list[faithful.Faithfulness] = []
    fired: Counter[str] = Counter()
    units_fired: dict[str, set[str]] = {}
    examples: dict[str, list[str]] = {}
    for uid, seg, zh in pairs(rows, skipped):
        f = faithful.faithfulness(seg, zh)
        figures.append(f)
        report = protect.validate(seg, zh)
        for code in report.reasons:
            fired[code] += 1
            units_fired.setdefault(code, set()).add(uid)
            examples.setdefault(code, [])
            if len(examples[code]) < 3:
                examples[code].append(f"{uid}: {[d for d in report.details if d.startswith(code)][0][:110]}")
    n = len(figures)
    print(f"{len(rows)} training units, {n} aligned segment pairs checked; skipped: {dict(skipped)}")

    low = [1, 2, 3, 5, 10, 50]
    bounds = faithful.LENGTH_BUCKETS
    names = [f"{a}-{b - 1} units" for a, b in zip(bounds, bounds[1:], strict=False)] + [f">= {bounds[-1]} units"]
    by_bucket: dict[int, list[float]] = {}
    for f in figures:
        b = faithful.length_bucket(f.source_units)
        if b >= 0:
            by_bucket.setdefault(b, []).append(f.length_ratio)
    table("Output units per source unit (omission floor in the last column of the thresholds below), by source length:",
          [(names[b], by_bucket.get(b, [])) for b in range(len(names))], low)
    table("Sentence share (output / source sentences) and items carried (numbers + placeholders):",
          [(f"sentences, src >= {faithful.SENTENCES_MIN}",
            [f.sentence_share for f in figures if f.source_sentences >= faithful.SENTENCES_MIN]),
           (f"items, src >= {faithful.ITEMS_MIN}", [f.items_share for f in figures if f.items >= faithful.ITEMS_MIN])],
          low)
    high = [50, 90, 95, 97, 98, 99]
    ph2 = [f for f in figures if f.placeholders >= 2]
    table("Placement and repetition (upper tail):", [
        ("glued+stranded, >= 2 ph", [len(f.glued) + f.stranded for f in ph2]),
        (f"reversed share, >= {faithful.ORDER_MIN_PLACEHOLDERS} ph",
         [f.reversed_share for f in figures if f.placeholders >= faithful.ORDER_MIN_PLACEHOLDERS]),
        ("placeholder numbers", [len(f.placeholder_numbers) for f in figures]),
        ("repeat weight, output", [f.repeat_output.weight for f in figures]),
        ("repeat weight, source", [f.repeat_source.weight for f in figures]),
        ("repeat out - 2 x source", [f.repeat_output.weight - faithful.REPEAT_SOURCE_FACTOR * f.repeat_source.weight
                                     for f in figures]),
    ], high)
    changed = Counter(d.split()[0] for f in figures for d in f.markup_source.differences(f.markup_output))
    print(f"\nMarkup counts that differ (segments): {dict(changed)}; opener/closer pairs broken: "
          f"{sum(bool(f.broken_pairs) for f in figures)}; odd ** or * where the source is even: "
          f"{sum(bool(faithful.unbalanced(f)) for f in figures)}")

    print("\nThresholds: length floor by bucket "
          + ", ".join(f"{name} {floor}" for name, floor in zip(names, faithful.LENGTH_RATIO_FLOOR, strict=True))
          + f"; sentences < {faithful.SENTENCE_SHARE_FLOOR} of >= {faithful.SENTENCES_MIN}; items < "
          f"{faithful.ITEMS_SHARE_FLOOR} of >= {faithful.ITEMS_MIN}; displaced >= {faithful.DISPLACED_MIN} glued or "
          f"stranded, or > {faithful.REVERSED_SHARE_CEILING} reversed of >= {faithful.ORDER_MIN_PLACEHOLDERS}; "
          f"repetition >= {faithful.REPEAT_MIN_WEIGHT} and > {faithful.REPEAT_SOURCE_FACTOR} x the source's")
    print(f"\nReasons on the human translations ({n} segments, {len(rows)} units):")
    print("| reason | segments | % segments | units | % units | hard |")
    print("|---|---:|---:|---:|---:|---|")
    for code, count in sorted(fired.items(), key=lambda kv: -kv[1]):
        hard = "yes" if code in protect.HARD_REASONS else ""
        print(f"| `{code}` | {count} | {100 * count / n:.1f} | {len(units_fired[code])} | "
              f"{100 * len(units_fired[code]) / len(rows):.1f} | {hard} |")
    rules: Counter[str] = Counter()
    for f in figures:
        for code, detail in faithful.faithfulness_reasons(f):
            rules[f"{code}: {_rule(detail)}"] += 1
    print("\nBy rule (segments): " + "; ".join(f"{k} {v}" for k, v in sorted(rules.items())))
    print("\nExamples:")
    for code in sorted(examples):
        for line in examples[code]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
