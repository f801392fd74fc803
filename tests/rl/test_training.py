"""Each method trains a step or two on the embedded model and leaves an adapter PEFT (and the engine) can load.

Slow (one model-loading job at a time on a small machine). Tiny data and lengths keep each run short.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans.contract.adapter import read_metadata
from papertrans.rl.config import parse_train_args
from papertrans.rl.datasets import write_rows
from papertrans.rl.train import prepare, train

P = "English: We train the model.\nChinese:"
ROWS = {
    "sft": [{"prompt": P, "completion": " 我们训练模型。"}] * 2,
    "kto": [{"prompt": P, "completion": " 我们训练模型。", "label": True},
            {"prompt": P, "completion": " We train.", "label": False}],
    "dpo": [{"prompt": P, "chosen": " 我们训练模型。", "rejected": " We train the model."}] * 2,
    "online-dpo": [{"prompt": P, "reference": "我们训练模型。"}],
    "grpo": [{"prompt": P, "reference": "我们训练模型。", "placeholders": []}],
}
EXTRA = {
    "sft": ["--max_length", "64"],
    "kto": ["--max_length", "64"],
    "dpo": ["--max_length", "64"],
    "online-dpo": ["--max_length", "64", "--samples_per_prompt", "2", "--sample_max_tokens", "8"],
    "grpo": ["--max_completion_length", "8", "--num_generations", "4", "--per_device_train_batch_size", "4"],
}


@pytest.mark.slow
@pytest.mark.parametrize("method", list(ROWS))
def test_method_trains_and_saves_a_loadable_adapter(method: str, tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    write_rows(data, ROWS[method])
    out = tmp_path / "adapter"
    loop, config = parse_train_args(["--method", method, "--data", str(data), "--out", str(out),
                                     "--max_steps", "1", "--lora_r", "4", *EXTRA[method]])
    train(prepare(loop), config)
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "LORA" and adapter_config["r"] == 4
    meta = read_metadata(out)
    assert meta is not None and meta.method == method and meta.base_model == "embedded:gemma-3-270m"
    assert meta.data_sha256 and meta.metrics["global_step"] == 1
    assert any("loss" in entry for entry in meta.log_history)

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(adapter_config["base_model_name_or_path"])
    model = PeftModel.from_pretrained(base, str(out))
    assert any("lora_A" in name for name, _ in model.named_parameters())
