"""The promotion gate: candidate vs baseline on a held-out split, generated offline in this process.

Metrics per side: placeholder integrity (share of segments whose placeholders are exact), fallback rate (segments the
server would fall back on: broken placeholders or empty output, with no retry), chrF and BLEU (``tokenize="zh"``)
against the references, glossary adherence, length sanity (share of outputs inside the length band).
Decision: promote only if the candidate is not worse on integrity and fallbacks (no tolerance) and its chrF is not
below the baseline's by more than ``chrf_tolerance`` points. The report is JSON plus PNG plots of the training curves
the candidate's metadata carries (loss, rewards/chosen, rewards/rejected, margins, accuracy).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from papertrans.contract.adapter import read_metadata

from .datasets import DataError, load_rows, reward_columns
from .metadata import check_adapter_dir
from .rewards import glossary_adherence, length_ratio, placeholder_errors

__all__ = ["GateResult", "SideMetrics", "compare", "evaluate_outputs", "plot_curves", "run_gate"]

_CURVES = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "reward", "kl")


@dataclass
class SideMetrics:
    n: int
    integrity: float
    fallback_rate: float
    chrf: float
    bleu: float
    glossary_adherence: float | None
    length_ok: float


@dataclass
class GateResult:
    promote: bool
    reasons: list[str]
    candidate: SideMetrics
    baseline: SideMetrics
    chrf_tolerance: float
    examples: list[dict[str, str]] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


def evaluate_outputs(rows: list[dict[str, Any]], outputs: list[str]) -> SideMetrics:
    """Score one side's outputs (masked text, as generated) against the rows' references and inventories."""
    from sacrebleu.metrics import BLEU, CHRF  # type: ignore[attr-defined]

    cols = [reward_columns(r) for r in rows]
    faults = [placeholder_errors(o, c["placeholders"]) for o, c in zip(outputs, cols, strict=True)]
    fallbacks = [f > 0 or not o.strip() for f, o in zip(faults, outputs, strict=True)]
    refs = [c["reference"] for c in cols]
    with_ref = [(o, r) for o, r in zip(outputs, refs, strict=True) if r]
    chrf_score = CHRF().corpus_score([o for o, _ in with_ref], [[r for _, r in with_ref]]).score if with_ref else 0.0
    refs = [[r for _, r in with_ref]]
    bleu = BLEU(tokenize="zh").corpus_score([o for o, _ in with_ref], refs).score if with_ref else 0.0
    batch = {k: [c[k] for c in cols] for k in ("glossary", "reference", "source")}
    gloss = [g for g in glossary_adherence([], outputs, **batch) if not math.isnan(g)]
    lengths = [v for v in length_ratio([], outputs, **batch) if not math.isnan(v)]
    n = len(outputs)
    return SideMetrics(
        n=n,
        integrity=sum(1 for f in faults if f == 0) / n if n else 0.0,
        fallback_rate=sum(fallbacks) / n if n else 0.0,
        chrf=chrf_score,
        bleu=bleu,
        glossary_adherence=sum(gloss) / len(gloss) if gloss else None,
        length_ok=sum(1 for v in lengths if v >= 1.0) / len(lengths) if lengths else 1.0,
    )


def compare(candidate: SideMetrics, baseline: SideMetrics, *, chrf_tolerance: float = 1.0) -> tuple[bool, list[str]]:
    """The decision and its reasons (machine-readable codes with the numbers)."""
    reasons = []
    if candidate.integrity < baseline.integrity:
        reasons.append(f"integrity_regressed: {candidate.integrity:.3f} < {baseline.integrity:.3f}")
    if candidate.fallback_rate > baseline.fallback_rate:
        reasons.append(f"fallbacks_regressed: {candidate.fallback_rate:.3f} > {baseline.fallback_rate:.3f}")
    if candidate.chrf < baseline.chrf - chrf_tolerance:
        reasons.append(f"chrf_regressed: {candidate.chrf:.2f} < {baseline.chrf:.2f} - {chrf_tolerance}")
    return not reasons, reasons


def plot_curves(log_history: list[dict[str, Any]], out_dir: Path) -> list[str]:
    """One PNG per curve present in the trainer's log history; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key in _CURVES:
        points = [(e.get("step", i), float(e[key])) for i, e in enumerate(log_history) if key in e]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set_xlabel("step")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        name = key.replace("/", "_") + ".png"
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=80)
        plt.close(fig)
        written.append(name)
    return written


def run_gate(
    candidate: Path,
    eval_file: Path,
    report_dir: Path,
    *,
    baseline: Path | None = None,
    base_model: str = "embedded:gemma-3-270m",
    cache_dir: Path | None = None,
    chrf_tolerance: float = 1.0,
    max_rows: int | None = None,
    max_new_tokens: int = 160,
    backend: str = "auto",
    glossary: str | None = None,
) -> GateResult:
    """Generate with baseline (an adapter folder, or the base model when None) and candidate; decide; write the report.

    ``eval_file`` holds export-format rows (prompt, reference, placeholders, ...) or parallel text (``{en, zh}`` /
    ``{source, target}`` units, aligned segment by segment like ``train --method sft``; ``glossary`` then goes into
    their prompts). Each side is prompted the way it is served: an adapter with the prompt style in its metadata, the
    base model with its few-shot prompt.
    """
    from papertrans.contract.model import resolve_model

    from .corpus import is_parallel, load_glossary, parallel_rows, side_prompts
    from .generate import GenerationRequest, open_generator

    rows = load_rows(eval_file)
    if rows and is_parallel(rows):
        rows = parallel_rows(rows, style=None, glossary=load_glossary(glossary), split="eval")[0]
    if max_rows is not None and len(rows) > max_rows:
        rows = rows[:: len(rows) // max_rows][:max_rows]  # spread over the file (rows come in chapter order)
    if not rows:
        raise DataError("empty_dataset", f"{eval_file} has no rows")
    if any("prompt" not in r for r in rows):
        raise DataError("missing_columns", "every eval row needs a 'prompt' (or en/zh parallel text)")
    base_dir = Path(resolve_model(base_model, cache_dir))
    cand_meta = check_adapter_dir(candidate, base_dir)
    adapters = {"candidate": candidate}
    base_style = None
    if baseline is not None:
        base_meta = check_adapter_dir(baseline, base_dir)
        base_style = base_meta.prompt_style if base_meta else None
        adapters["baseline"] = baseline
    prompts = side_prompts(rows, base_style)
    cand_prompts = side_prompts(rows, cand_meta.prompt_style if cand_meta else None)
    gen = open_generator(backend, base_dir, adapters, expected_tokens=2 * len(prompts) * max_new_tokens)
    try:
        request = GenerationRequest(prompts, max_new_tokens=max_new_tokens)
        base_out = [g[0] for g in gen.generate(request, adapter="baseline" if baseline else None)]
        cand_request = GenerationRequest(cand_prompts, max_new_tokens=max_new_tokens)
        cand_out = [g[0] for g in gen.generate(cand_request, adapter="candidate")]
    finally:
        gen.close()
    cand = evaluate_outputs(rows, cand_out)
    base = evaluate_outputs(rows, base_out)
    promote, reasons = compare(cand, base, chrf_tolerance=chrf_tolerance)
    meta = read_metadata(candidate)
    plots = plot_curves(meta.log_history, report_dir) if meta else []
    examples = [
        {"prompt_tail": p[-200:], "reference": reward_columns(r)["reference"], "baseline": b, "candidate": c}
        for p, r, b, c in list(zip(cand_prompts, rows, base_out, cand_out, strict=True))[:5]
    ]
    result = GateResult(promote, reasons, cand, base, chrf_tolerance, examples, plots)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "gate.json").write_text(json.dumps(
        {**asdict(result), "candidate_dir": str(candidate), "baseline_dir": str(baseline) if baseline else "base",
         "eval_file": str(eval_file)}, indent=2, ensure_ascii=False))
    return result
