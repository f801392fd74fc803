"""A cheaper SFT loss for CPUs: the output layer only where a token is trained.

Gemma 3's output layer has 262,144 rows; on 2 CPU cores it costs more than the rest of the network. TRL's fused head
tiles it but, off Triton devices, still scores every position, prompt included. This loss runs the backbone, keeps
the hidden states whose next token is a completion token, and projects only those, in tiles that are recomputed in
the backward pass (``torch.utils.checkpoint``), so at most one tile of logits is alive at a time.
"""

from __future__ import annotations

from typing import Any

import torch
import trl

__all__ = ["CompletionOnlySFTTrainer", "completion_loss"]

_TILE = 256  # completion positions per output-layer tile: 256 x 262k fp32 logits = 268 MB


def _tile_nll(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, softcap: float | None) -> torch.Tensor:
    logits = (hidden @ weight.t()).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


def completion_loss(model: Any, inputs: dict[str, Any], num_items: Any = None) -> tuple[torch.Tensor, int]:
    """Summed next-token NLL over the labelled positions, divided by ``num_items`` (or their count); and that count."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = inputs["labels"]
    kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
    hidden = causal.base_model(**kwargs, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    picked, wanted = hidden[mask], targets[mask]
    weight = causal.get_output_embeddings().weight
    softcap = getattr(causal.config.get_text_config(), "final_logit_softcapping", None)
    total = hidden.new_zeros((), dtype=torch.float32) + 0.0 * hidden.sum()  # connected even with no label
    for start in range(0, picked.size(0), _TILE):
        part = torch.utils.checkpoint.checkpoint(
            _tile_nll, picked[start : start + _TILE], weight, wanted[start : start + _TILE], softcap,
            use_reentrant=False,
        )
        total = total + part
    count = int(mask.sum())
    denom = num_items if num_items is not None else max(1, count)
    return total / denom, count


class CompletionOnlySFTTrainer(trl.SFTTrainer):  # type: ignore[misc,name-defined]  # TRL's lazy exports
    """``SFTTrainer`` with :func:`completion_loss`; logs trained (completion) tokens per step as ``target_tokens``."""

    target_tokens_total = 0  # completion tokens trained on (the throughput report)

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        loss, count = completion_loss(model, inputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["target_tokens"].append(float(count))
        if mode == "train":
            self.target_tokens_total += count
            if "attention_mask" in inputs:
                self._total_train_tokens += int(inputs["attention_mask"].sum())
            else:
                self._total_train_tokens += int(inputs["input_ids"].numel())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, None) if return_outputs else loss
