"""A tiny random LoRA adapter in PEFT's on-disk format, written without loading the base model."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["make_random_lora"]


def make_random_lora(
    model_dir: Path, out: Path, *, rank: int = 4, seed: int = 0, targets: tuple[str, ...] = ("q_proj", "v_proj")
) -> Path:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` for ``model_dir``'s ``targets``.

    Shapes come from the base model's safetensors header; weights are small random numbers, so the adapter changes
    the model's output a little without wrecking it.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # safe_open is not a mapping
                module = key.removesuffix(".weight")
                if not key.endswith(".weight") or module.rsplit(".", 1)[-1] not in targets:
                    continue
                out_features, in_features = f.get_slice(key).get_shape()
                prefix = f"base_model.model.{module}"
                tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, in_features, generator=gen) * 0.01
                tensors[f"{prefix}.lora_B.weight"] = torch.randn(out_features, rank, generator=gen) * 0.01
    if not tensors:
        raise ValueError(f"no {targets} weights in {model_dir}")
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": str(model_dir),
        "r": rank,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.0,
        "target_modules": list(targets),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "modules_to_save": None,
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=1))
    return out
