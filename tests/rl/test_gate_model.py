"""The gate refuses a harmful adapter (large random LoRA weights) and accepts a harmless one (LoRA B = 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.contract.adapter import AdapterMetadata, write_metadata
from papertrans.rl.metadata import model_fingerprint


def _make_adapter(base_dir: Path, out: Path, *, harmful: bool) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    if harmful:
        torch.manual_seed(0)
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_" in name:
                    param.copy_(torch.randn_like(param) * 0.5)
    peft_model.save_pretrained(str(out))
    write_metadata(out, AdapterMetadata(method="test", base_model="embedded:gemma-3-270m",
                                        base_fingerprint=model_fingerprint(base_dir)))
    return out


@pytest.mark.slow
def test_gate_refuses_harmful_and_accepts_harmless(tmp_path: Path, corpus_dir: Path) -> None:
    from papertrans import protect
    from papertrans.contract.model import resolve_model
    from papertrans.rl.corpus import parallel_rows
    from papertrans.rl.datasets import load_rows, write_rows
    from papertrans.rl.gate import run_gate

    base_dir = Path(resolve_model("embedded:gemma-3-270m"))
    glossary = protect.Glossary.from_pairs([("attention", "注意力")])
    parallel, _ = parallel_rows(load_rows(corpus_dir / "d2l_en_zh.jsonl"), style=None, glossary=glossary)
    # the three shortest rows with placeholders: ones the base model's few-shot prompt translates, so a harmful
    # adapter has something to be worse at (on long rows the base model alone already breaks every placeholder)
    rows = sorted((r for r in parallel if r["placeholders"]), key=lambda r: len(r["source"]))[:3]
    assert rows, "no eval rows with placeholders"
    eval_file = tmp_path / "eval.jsonl"
    write_rows(eval_file, rows)
    harmless = _make_adapter(base_dir, tmp_path / "harmless", harmful=False)
    harmful = _make_adapter(base_dir, tmp_path / "harmful", harmful=True)

    ok = run_gate(harmless, eval_file, tmp_path / "r1", max_new_tokens=48, backend="hf")
    assert ok.promote, ok.reasons
    bad = run_gate(harmful, eval_file, tmp_path / "r2", max_new_tokens=48, backend="hf")
    assert not bad.promote
    assert bad.candidate.chrf < bad.baseline.chrf
    assert (tmp_path / "r2" / "gate.json").is_file()
