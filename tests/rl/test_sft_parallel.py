"""The issue's acceptance commands on the d2l corpus rows of tests/data as they are ({en, zh} units): ``train --method sft
--max_steps 2`` trains a zero-shot adapter and ``gate --eval`` takes the same file. Slow: loads the model twice;
kept small (2 steps of 2 rows, 2 gate rows of at most 16 new tokens, transformers backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans import exitcodes
from papertrans.cli import main
from papertrans.contract.adapter import read_metadata
from papertrans.rl.datasets import load_rows


@pytest.mark.slow
def test_sft_from_parallel_rows_then_gate(corpus_dir: Path, tmp_path: Path) -> None:
    data = corpus_dir / "d2l_en_zh.jsonl"
    out = tmp_path / "adapter"
    assert main(["train", "--method", "sft", "--data", str(data), "--out", str(out), "--max_steps", "2"]) == 0
    meta = read_metadata(out)
    assert meta is not None and meta.prompt_style == "zeroshot" and meta.metrics["global_step"] == 2
    parallel = meta.report["parallel"]
    units = len(load_rows(data))
    assert parallel["units"] == units and parallel["rows"] >= parallel["units_used"] > 0  # an aligned unit gives rows
    assert parallel["units_used"] + parallel["units_skipped_segment_count"] + parallel["units_skipped_no_pair"] == units
    assert meta.metrics["target_tokens_total"] > 0 and meta.metrics["tokens_per_second"] > 0
    report = tmp_path / "gate"
    rc = main(["gate", "--candidate", str(out), "--eval", str(data), "--max-rows", "2", "--backend", "hf",
               "--max-new-tokens", "16", "--report", str(report)])
    assert rc in (exitcodes.OK, exitcodes.INCOMPLETE)  # promote or refuse: both are decisions on the rows
    gate = json.loads((report / "gate.json").read_text())
    assert gate["candidate"]["n"] == 2 and gate["baseline"]["n"] == 2
    # each side was prompted the way it is served: the adapter zero-shot, the base model few-shot
    assert all(e["prompt_tail"].endswith("中文：") for e in gate["examples"])
