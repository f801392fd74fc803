"""Which placeholder form does the embedded model copy back most reliably?

For each candidate form in ``protect.STYLES`` this builds the same few-shot translation prompts from the dev units
(two fixed English→Chinese examples taken from the human translations, then one English segment), generates greedily
with the embedded model on vLLM's offline ``LLM``, and counts how often the placeholders come back intact:

* ``segments_intact``: outputs with no placeholder_missing/duplicated/invented/altered (what makes a segment usable);
* ``placeholders_intact``: placeholders that appear exactly once;
* ``tokens_per_placeholder``: what a placeholder costs in the model's tokenizer.

Run once, under the heavy lock (it starts vLLM on the shared cores)::

    VLLM_CPU_KVCACHE_SPACE=1 .venv/bin/python benchmarks/measure_placeholders.py [--constrain] [--styles a,b]

``--constrain`` decodes under the placeholder constraint (``server/engine/constrain.py``), as the server does by
default: then every placeholder comes back by construction, and what differs between forms is how often the model
still finishes normally (``finished_by_stop``; a loop that vLLM's repetition detector cuts is a failed segment).

The figures go into ``docs/placeholders.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from papertrans import protect

REPO = Path(__file__).resolve().parents[1]
HARD_PLACEHOLDER = {"placeholder_missing", "placeholder_duplicated", "placeholder_invented", "placeholder_altered"}


def _units(dev: Path) -> list[dict[str, Any]]:
    with open(dev / "d2l_en_zh.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _mask_like(target: protect.Segment, other: protect.Segment) -> str | None:
    """``other``'s text with ``target``'s placeholders (matched by original bytes), None if the inventories differ."""
    if Counter(target.placeholders.values()) != Counter(other.placeholders.values()):
        return None
    pool: dict[str, list[str]] = {}
    for ph, original in target.placeholders.items():
        pool.setdefault(original, []).append(ph)
    return other.style.token.sub(lambda m: pool[other.placeholders[other.style.canonical(m)]].pop(0), other.text)


def _flat(text: str) -> str:
    return " ".join(text.split())


def pairs(units: list[dict[str, Any]], style: str) -> list[tuple[str, str | None, protect.Segment]]:
    """(masked English, masked human Chinese or None, English segment) for every segment with placeholders."""
    out: list[tuple[str, str | None, protect.Segment]] = []
    for u in units:
        en, zh = protect.protect(u["en"], style=style), protect.protect(u["zh"], style=style)
        same = len(en.segments) == len(zh.segments)
        for i, seg in enumerate(en.segments):
            if not seg.placeholders or "\n\n" in seg.text:
                continue
            ref = _mask_like(seg, zh.segments[i]) if same else None
            out.append((_flat(seg.text), _flat(ref) if ref else None, seg))
    return out


def build(style: str, units: list[dict[str, Any]], n: int) -> tuple[list[str], list[protect.Segment]]:
    """Few-shot prompts (the same segments, in the same order, for every style)."""
    items = pairs(units, style)
    shots = [p for p in items if p[1] is not None and 60 < len(p[0]) < 220 and len(p[2].placeholders) >= 2][:2]
    example = protect.STYLES[style].make(1)
    header = f"Translate English to Chinese. Copy every placeholder such as {example} exactly.\n\n"
    header += "".join(f"English: {en}\nChinese: {zh}\n\n" for en, zh, _ in shots)
    shot_ids = {id(s[2]) for s in shots}
    queries = [p for p in items if id(p[2]) not in shot_ids and len(p[0]) < 600][:n]
    return [f"{header}English: {en}\nChinese:" for en, _, _ in queries], [q[2] for q in queries]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev-data", default=os.environ.get("PAPERTRANS_DEV_DATA") or str(REPO.parent / "shared/data/dev"))
    ap.add_argument("--per-style", type=int, default=80)
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--constrain", action="store_true", help="decode under the placeholder constraint")
    ap.add_argument("--styles", default="", help="only these forms (comma-separated names of protect.STYLES)")
    args = ap.parse_args()

    from vllm import LLM, SamplingParams  # heavy: only when measuring

    from papertrans.contract.model import resolve_model

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    units = _units(Path(args.dev_data))
    from papertrans.server.engine.constrain import EXTRA_ARG, FQCN

    procs = [FQCN] if args.constrain else None
    model = str(resolve_model(args.model, None))
    llm = LLM(model=model, enforce_eager=True, max_model_len=1024, logits_processors=procs)
    tok = llm.get_tokenizer()
    results: dict[str, dict[str, Any]] = {}
    wanted = [s for s in args.styles.split(",") if s] or list(protect.STYLES)
    for name, style in ((n, protect.STYLES[n]) for n in wanted):
        prompts, segs = build(name, units, args.per_style)
        params = [
            SamplingParams(
                temperature=0.0,
                max_tokens=min(256, 2 * len(tok.encode(s.text)) + 32),
                stop=["\n"],
                extra_args={EXTRA_ARG: list(s.placeholders)} if args.constrain else None,
            )
            for s in segs
        ]
        t0 = time.perf_counter()
        outs = llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - t0
        seg_ok = ph_total = ph_ok = 0
        reasons: Counter[str] = Counter()
        for seg, out in zip(segs, outs, strict=True):
            text = out.outputs[0].text.strip()
            report = protect.validate(seg, text)
            hard = HARD_PLACEHOLDER & set(report.reasons)
            reasons.update(hard)
            seg_ok += not hard and bool(text)
            found = Counter(ph for _, _, ph in _tokens(seg, text))
            ph_total += len(seg.placeholders)
            ph_ok += sum(found.get(ph, 0) == 1 for ph in seg.placeholders)
        results[name] = {
            "form": style.make(1),
            "prompts": len(prompts),
            "segments_intact": round(seg_ok / len(prompts), 3),
            "placeholders_intact": round(ph_ok / max(1, ph_total), 3),
            "placeholders": ph_total,
            "tokens_per_placeholder": round(
                sum(len(tok.encode(style.make(i), add_special_tokens=False)) for i in range(1, 11)) / 10, 2
            ),
            "reasons": dict(reasons),
            "constrained": args.constrain,
            "finished_by_stop": round(sum(o.outputs[0].finish_reason == "stop" for o in outs) / len(outs), 3),
            "seconds": round(seconds, 1),
            "example_output": outs[0].outputs[0].text.strip()[:200],
        }
        print(json.dumps({name: results[name]}, ensure_ascii=False), flush=True)
    best = max(results, key=lambda k: (results[k]["segments_intact"], results[k]["placeholders_intact"]))
    print(f"best: {best} {results[best]['form']}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


def _tokens(seg: protect.Segment, text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), seg.style.canonical(m)) for m in seg.style.token.finditer(text)]


if __name__ == "__main__":
    main()
