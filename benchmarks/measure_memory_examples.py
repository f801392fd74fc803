"""Does the translation memory help the starter as in-context examples? (issue 13, item 5: keep it only if it does)

The translation memory returns a reader's correction on an *exact* match of a segment's masked source. The question
here is the fuzzy case: when no entry matches exactly, do the closest entries, put in the prompt as example pairs,
make the served model translate better?

* memory: the aligned segment pairs of the training corpus (``../shared/data/train``), standing in for a store full of
  accepted corrections;
* queries: held-out dev segments (``../shared/data/dev/d2l_en_zh.jsonl``, spread over the file), never in the memory;
* for each query the ``--k`` memory entries whose English is closest (character-trigram Jaccard, placeholders and
  case ignored) become ``英文：…/中文：…`` example pairs between the adapter's zero-shot instruction and the query;
* the starter adapter (the server's default) generates both prompts greedily on vLLM's offline ``LLM`` (no constraint,
  no retries: the raw effect of the prompt), and each output is scored against the human translation on the words
  alone, as ``bench_quality.py`` scores them, plus placeholder integrity and copies from the examples.

Run (it starts vLLM; a few minutes on 2 cores)::

    .venv/bin/python benchmarks/measure_memory_examples.py [--rows 48] [--k 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = REPO.parent / "shared" / "data"

from quality_figures import chinese_share, scores, text_only  # noqa: E402

from papertrans import protect  # noqa: E402

# protect's own recognition of the served placeholder form (tolerates spaces inside, as validation does)
_STYLE = protect.DEFAULT_STYLE
_PLACEHOLDER = _STYLE.token


def _grams(text: str) -> set[str]:
    bare = " ".join(_PLACEHOLDER.sub(" ", text).lower().split())
    return {bare[i : i + 3] for i in range(max(0, len(bare) - 2))}


def closest(query: str, memory: list[dict[str, Any]], grams: list[set[str]], k: int) -> list[dict[str, Any]]:
    """The ``k`` memory rows whose English shares the most character trigrams with ``query`` (Jaccard)."""
    q = _grams(query)
    ranked = sorted(range(len(memory)), key=lambda i: -len(q & grams[i]) / max(1, len(q | grams[i])))
    return [memory[i] for i in ranked[:k]]


def with_examples(zero_shot: str, source: str, examples: list[dict[str, Any]]) -> str:
    """The zero-shot prompt with example pairs inserted before the query (same labels as the query's)."""
    from papertrans.contract.prompts import one_item

    query_at = zero_shot.rindex(one_item(source))
    label_at = zero_shot.rfind("\n", 0, query_at) + 1  # the query's own line: "<source label><text>"
    source_label = zero_shot[label_at:query_at]
    target_label = zero_shot[query_at + len(one_item(source)) :].strip("\n")
    pairs = "".join(f"{source_label}{one_item(e['source'])}\n{target_label}{e['reference']}\n\n" for e in examples)
    return zero_shot[:label_at] + pairs + zero_shot[label_at:]


def intact(output: str, placeholders: list[str]) -> bool:
    found = [_STYLE.canonical(m) for m in _PLACEHOLDER.finditer(output)]
    return sorted(found) == sorted(placeholders)


def copied(output: str, examples: list[dict[str, Any]], min_chars: int = 10) -> bool:
    """The output carries a run of at least ``min_chars`` characters of an example's translation."""
    for e in examples:
        m = SequenceMatcher(None, output, e["reference"], autojunk=False).find_longest_match()
        if m.size >= min_chars:
            return True
    return False


def measure(outputs: list[str], rows: list[dict[str, Any]], shots: list[list[dict[str, Any]]]) -> dict[str, Any]:
    hyps = [text_only(_PLACEHOLDER.sub(" ", o)) for o in outputs]
    refs = [text_only(_PLACEHOLDER.sub(" ", r["reference"])) for r in rows]
    return {
        **scores(hyps, refs),
        "placeholders_intact": round(
            sum(intact(o, r["placeholders"]) for o, r in zip(outputs, rows, strict=True)) / len(rows), 3
        ),
        "copied_from_examples": sum(copied(o, s) for o, s in zip(outputs, shots, strict=True)),
        "empty": sum(not o.strip() for o in outputs),
        "mean_chinese_share": round(sum(chinese_share(h) for h in hyps) / len(hyps), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=48, help="held-out dev segments (spread over the file)")
    ap.add_argument("--k", type=int, default=2, help="memory entries per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from papertrans.contract.model import resolve_model
    from papertrans.contract.prompts import ZEROSHOT
    from papertrans.rl.corpus import parallel_rows
    from papertrans.rl.datasets import load_rows
    from papertrans.rl.generate import GenerationRequest, VllmGenerator
    from papertrans.server import starter

    # entries up to 400 characters: two of them and the query stay inside the generator's 1,024-token window
    memory, _ = parallel_rows(load_rows(DATA / "train" / "d2l_en_zh_train.jsonl"), style=ZEROSHOT, max_chars=400)
    dev, _ = parallel_rows(load_rows(DATA / "dev" / "d2l_en_zh.jsonl"), style=ZEROSHOT, split="eval")
    rows = dev[:: max(1, len(dev) // args.rows)][: args.rows]
    grams = [_grams(m["source"]) for m in memory]
    shots = [closest(r["source"], memory, grams, args.k) for r in rows]
    prompts = {
        "zero-shot (as served)": [r["prompt"] for r in rows],
        f"+ {args.k} closest memory entries": [
            with_examples(r["prompt"], r["source"], s) for r, s in zip(rows, shots, strict=True)
        ],
    }
    folder = starter.starter_folder()
    if folder is None:
        raise SystemExit("no starter adapter")
    t0 = time.perf_counter()
    gen = VllmGenerator(Path(resolve_model("embedded:gemma-3-270m", None)), {"starter": folder})
    print(f"memory {len(memory)} rows, {len(rows)} held-out queries; engine {time.perf_counter() - t0:.0f} s")
    results: dict[str, Any] = {}
    try:
        for name, batch in prompts.items():
            t = time.perf_counter()
            outs = [o[0] for o in gen.generate(GenerationRequest(batch, max_new_tokens=args.max_new_tokens), "starter")]
            results[name] = measure(outs, rows, shots) | {"seconds": round(time.perf_counter() - t, 1)}
            results[name]["examples"] = [
                {"prompt": p[-600:], "output": o} for p, o in zip(batch[:3], outs[:3], strict=True)
            ]
            print(name, json.dumps({k: v for k, v in results[name].items() if k != "examples"}), flush=True)
    finally:
        gen.close()
    keys = ("chrf", "bleu_zh", "chinese_share", "placeholders_intact", "copied_from_examples", "empty", "seconds")
    print(f"\n{'prompt':34}" + "".join(f"{k:>21}" for k in keys))
    for name, r in results.items():
        print(f"{name:34}" + "".join(f"{r[k]!s:>21}" for k in keys))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
