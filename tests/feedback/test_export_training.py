"""Export round trip: files exported from a populated store load with ``datasets`` and train one step of TRL's
KTO and DPO trainers with a PEFT LoRA on the embedded model (CPU, float32, tiny lengths)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from papertrans.server.settings import Settings
from papertrans.server.store import open_store
from papertrans.server.store.export import export, write_jsonl

from .test_export import populate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir() -> Path:
    from papertrans.contract.model import resolve_model

    return Path(resolve_model("embedded:gemma-3-270m", None))


async def _export_files(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    store = await open_store(Settings(data_dir=tmp_path / "data"))
    try:
        await populate(store, docs=4)
        kto, dpo = await export(store, "kto"), await export(store, "dpo")
    finally:
        await store.close()
    write_jsonl(kto.rows, tmp_path / "kto.jsonl")
    write_jsonl(dpo.rows, tmp_path / "dpo.jsonl")
    return tmp_path / "kto.jsonl", tmp_path / "dpo.jsonl", kto.summary


def _lora_moved(model: Any) -> bool:
    """LoRA's B matrices start at zero: any non-zero entry means the optimizer step reached the adapter."""
    return any(float(p.detach().abs().sum()) > 0 for n, p in model.named_parameters() if "lora_B" in n)


def _train(kind: str, path: Path, model_dir: Path, out: Path, summary: dict[str, Any]) -> Any:
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    data = load_dataset("json", data_files=str(path), split="train")
    assert len(data) >= 4 and "meta" in data.column_names
    # The trainers take the standard columns; meta/placeholders stay in the file for reward functions and bookkeeping.
    keep = ["prompt", "completion", "label"] if kind == "kto" else ["prompt", "chosen", "rejected"]
    data = data.select_columns(keep)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    common: dict[str, Any] = {
        "output_dir": str(out), "max_steps": 1, "per_device_train_batch_size": 2, "learning_rate": 1e-3, "max_length": 96,
        "use_cpu": True, "bf16": False, "report_to": [], "save_strategy": "no", "logging_steps": 1, "seed": 0,
    }
    if kind == "kto":
        args = KTOConfig(**common, **summary["suggested"])
        trainer = KTOTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora)
    else:
        trainer = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=data, processing_class=tok,
                             peft_config=lora)
    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss)
    assert _lora_moved(trainer.model)
    return result


async def test_kto_and_dpo_accept_the_export(tmp_path: Path, model_dir: Path) -> None:
    kto_path, dpo_path, summary = await _export_files(tmp_path)
    first = json.loads(kto_path.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) >= {"prompt", "completion", "label", "meta"}
    await asyncio.to_thread(_train, "kto", kto_path, model_dir, tmp_path / "kto-out", summary)
    await asyncio.to_thread(_train, "dpo", dpo_path, model_dir, tmp_path / "dpo-out", summary)
