"""Progress of the long steps, for ``run.log`` and the report: steps done / total, seconds, tokens/s.

A night's refresh runs for tens of minutes on 2 cores; an operator reading ``run.log`` must see how far each step is
and how fast it goes. :func:`progress_callback` is a ``transformers`` callback that ``rl/train.py`` adds to every
trainer: one line per logging step (``logging_steps``, 1 by default here). Generation logs its own lines
(``rl/generate.py``, one per batch); :func:`step_figures` picks what the report keeps of a finished step from its
adapter's metadata.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

__all__ = ["progress_callback", "step_figures"]

log = logging.getLogger(__name__)

# What a refresh report keeps of each step's metrics (the adapter's papertrans-adapter.json holds them all).
_FIGURES = (
    "global_step",
    "train_runtime",
    "train_loss",
    "tokens_total",
    "tokens_per_second",
    "target_tokens_total",
    "target_tokens_per_second",
    "prompts",
    "samples",
    "pairs",
    "mean_reward_margin",
    "sample_backend",
    "sample_engine_start_seconds",
    "sample_generate_seconds",
    "sample_wall_seconds",
    "sample_tokens",
    "sample_tokens_per_second",
)


def progress_callback(label: str) -> Any:
    """A ``transformers.TrainerCallback`` logging ``<label>: step k/N, s elapsed, loss, tokens/s, eta`` at every log
    event of the trainer (transformers is imported here, not with the module: ``rl`` imports stay light)."""
    from transformers import TrainerCallback

    class ProgressLog(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self.started = time.monotonic()
            log.info("%s: training %d steps", label, state.max_steps)
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> Any:
            logs = logs or {}
            if "loss" not in logs:  # the final summary (train_runtime, ...) is logged once more at the end
                return control
            seconds = time.monotonic() - self.started
            step, total = int(state.global_step), int(state.max_steps or 0)
            tokens = float(logs.get("num_tokens") or 0)  # TRL's count of tokens through the model so far
            rate = tokens / seconds if seconds > 0 else 0.0
            eta = seconds / step * (total - step) if step and total > step else 0.0
            log.info(
                "%s: step %d/%d, %.0f s, loss %.4f, %.1f tokens/s, eta %.0f s",
                label,
                step,
                total,
                seconds,
                float(logs["loss"]),
                rate,
                eta,
            )
            return control

    return ProgressLog()


def step_figures(adapter: Path) -> dict[str, Any]:
    """The step's figures for the report (steps, seconds, tokens/s; online DPO's sampling), from the adapter."""
    from papertrans.contract.adapter import read_metadata

    meta = read_metadata(adapter)
    metrics = meta.metrics if meta is not None else {}
    return {k: metrics[k] for k in _FIGURES if k in metrics}
