"""A tiny random LoRA adapter made with PEFT itself (so the on-disk format is exactly PEFT's), no downloads."""

from __future__ import annotations

from pathlib import Path

__all__ = ["make_peft_loras"]


def make_peft_loras(
    model_dir: Path, out: Path, ranks: dict[str, int], *, targets: tuple[str, ...] = ("q_proj", "v_proj")
) -> dict[str, Path]:
    """Save one random adapter per ``name -> rank`` under ``out``; the base model is loaded once (a few seconds)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    paths: dict[str, Path] = {}
    for name, rank in ranks.items():
        # init_lora_weights=False: B is random too (the default B = 0 would make the adapter a no-op).
        config = LoraConfig(r=rank, lora_alpha=rank, target_modules=list(targets), init_lora_weights=False)
        model = get_peft_model(base, config, adapter_name="default")
        with torch.no_grad():
            for pname, param in model.named_parameters():
                if "lora_B" in pname:
                    param.mul_(0.05)  # small: the output changes without turning into noise
        model.save_pretrained(out / name)
        paths[name] = out / name
        base = model.unload()  # strip the LoRA layers again for the next adapter
    return paths
