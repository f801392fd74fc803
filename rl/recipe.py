"""The nightly recipe: what a refresh trains on what readers gave, in which order, with which settings.

One TRL-style config dataclass (:class:`RecipeConfig`, help on every field) and the plan it makes for one night's
export (:func:`plan_steps`). The steps run in order, each continuing from the adapter the previous one wrote; the
first continues from the server's active adapter (:mod:`.target`):

1. **SFT on accepted corrections, mixed with replay.** A reader's correction is a demonstration: the most direct
   signal there is, and preference losses at DPO learning rates barely move a 270M model with it. SFT alone on a
   night's corrections would pull the adapter toward that domain and away from what it knew (the seed notes' full-
   parameter DPO destroyed abilities; we train LoRA behind a gate for that reason), so earlier training data is
   replayed beside them: the corrections of earlier nights (``<work>/replay.jsonl``, appended after each promotion)
   and ``replay_file`` (e.g. the starter's training corpus, or distilled rows).
2. **DPO on pairs**: a correction is preferred to the model output it replaced, an A/B winner to its loser.
3. **KTO on thumbs**: up and down on single outputs (both kinds needed).
4. **Online DPO or GRPO** on the night's prompts, scored by the translation reward (placeholder integrity,
   faithfulness terms, chrF against a reader's reference where there is one).

Learning rates and betas are **starting points from the product plan's small-model ranges** (SFT LoRA 2e-4–5e-4, DPO
5e-6–1e-5 with beta 0.05–0.1, GRPO KL 0.001–0.005), to be measured night by night (``benchmarks/bench_loop.py``),
not assumed. ``--train-arg`` / ``--online-arg`` options of ``refresh`` come after the recipe's and win.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .datasets import load_rows, write_rows

__all__ = [
    "RecipeConfig",
    "Step",
    "add_recipe_arguments",
    "corrections",
    "plan_steps",
    "recipe_from_args",
    "recipe_help",
]

# Option names that differ from the field's (``--replay FILE`` reads better; ``seed`` alone would be ambiguous).
_OPTION = {"replay_file": "--replay", "seed": "--recipe-seed"}


@dataclass
class RecipeConfig:
    """The nightly plan; every field says why it is set the way it is."""

    sft: bool = field(
        default=True,
        metadata={"help": "Step 1: SFT on the night's accepted corrections (a correction is a demonstration)."},
    )
    # starting point from the plan's SFT LoRA range 2e-4..5e-4 (the starter was trained at 2e-4): to be measured
    sft_learning_rate: float = field(
        default=2e-4, metadata={"help": "SFT learning rate (the plan's LoRA range 2e-4..5e-4; a starting point)."}
    )
    sft_epochs: float = field(
        default=2.0,
        metadata={"help": "SFT epochs over corrections + replay (few rows a night: one pass teaches little)."},
    )
    replay_file: str | None = field(
        default=None,
        metadata={
            "help": "Earlier training data replayed beside the corrections so the adapter keeps what it knew: "
            "parallel text ({en, zh} units) or {prompt, completion} rows."
        },
    )
    replay_ratio: float = field(
        default=1.0,
        metadata={
            "help": "Replay rows per correction (sampled with a fixed seed from the replay pool: earlier "
            "nights' corrections and --replay)."
        },
    )
    dpo: bool = field(
        default=True, metadata={"help": "Step 2: DPO on pairs (correction > model output, A/B winner > loser)."}
    )
    # starting point from the plan's DPO range 5e-6..1e-5 with beta 0.05..0.1: to be measured
    dpo_learning_rate: float = field(
        default=5e-6, metadata={"help": "DPO learning rate (the plan's range 5e-6..1e-5; a starting point)."}
    )
    dpo_beta: float = field(
        default=0.1, metadata={"help": "DPO beta: how far from the parent the policy may move (plan: 0.05..0.1)."}
    )
    kto: bool = field(default=True, metadata={"help": "Step 3: KTO on thumbs up/down (needs both kinds)."})
    kto_learning_rate: float = field(
        default=5e-6, metadata={"help": "KTO learning rate (DPO-sized: the same kind of loss; a starting point)."}
    )
    online: str = field(
        default="online-dpo",
        metadata={
            "help": "Step 4 on the night's prompts: online-dpo (samples ranked by the translation reward), "
            "grpo, or none.",
            "choices": ["online-dpo", "grpo", "none"],
        },
    )
    online_learning_rate: float = field(
        default=5e-6, metadata={"help": "Online DPO / GRPO learning rate (DPO range; a starting point)."}
    )
    # starting point from the plan's GRPO KL range 0.001..0.005: to be measured
    grpo_beta: float = field(
        default=0.001, metadata={"help": "GRPO KL coefficient (the plan's range 0.001..0.005; a starting point)."}
    )
    online_max_prompts: int = field(
        default=64,
        metadata={"help": "Online step: at most this many of the night's prompts (sampling dominates its cost)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the replay sample (and of every training step)."})


def recipe_help() -> dict[str, str]:
    """Field name -> help text (for ``--help`` and the docs)."""
    return {f.name: str(f.metadata.get("help", "")) for f in fields(RecipeConfig)}


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`RecipeConfig` field (``--sft-learning-rate``, ``--no-kto``, ``--replay FILE``...), with
    the field's help and default; :func:`recipe_from_args` reads them back."""
    group = parser.add_argument_group("recipe (rl/recipe.py: the nightly training plan)")
    for f in fields(RecipeConfig):
        flag = _OPTION.get(f.name, "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        text = f"{f.metadata.get('help', '')} (default: {default})"
        dest = "recipe_" + f.name
        if isinstance(default, bool):
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif f.name == "replay_file":
            group.add_argument(flag, dest=dest, default=default, metavar="FILE", help=text)
        else:
            kind = type(default)
            choices = f.metadata.get("choices")
            metavar = None if choices else kind.__name__.upper()
            group.add_argument(flag, dest=dest, type=kind, default=default, choices=choices, metavar=metavar, help=text)


def recipe_from_args(args: argparse.Namespace) -> RecipeConfig:
    """The recipe the options of :func:`add_recipe_arguments` describe (defaults for options not registered)."""
    values = {
        f.name: getattr(args, "recipe_" + f.name) for f in fields(RecipeConfig) if hasattr(args, "recipe_" + f.name)
    }
    return RecipeConfig(**values)


@dataclass(frozen=True)
class Step:
    method: str
    data: Path
    args: list[str]  # recipe settings as `papertrans train` options (the refresh's own --train-arg come after)
    rows: int
    why: str


def _count(path: Path) -> int:
    return len(load_rows(path)) if path.is_file() else 0


def corrections(export_dir: Path) -> list[dict[str, Any]]:
    """The export's SFT rows that are corrections (they carry the reader's ``reference``; thumbs-up rows do not)."""
    path = export_dir / "sft.jsonl"
    return [r for r in load_rows(path) if r.get("reference")] if path.is_file() else []


def _replay_rows(pool: list[dict[str, Any]], replay_file: Path | None, style: str | None) -> list[dict[str, Any]]:
    rows = list(pool)
    if replay_file is not None:
        from .corpus import is_parallel, parallel_rows

        extra = load_rows(replay_file)
        rows += parallel_rows(extra, style=style)[0] if is_parallel(extra) else extra
    return [
        {"prompt": r["prompt"], "completion": r["completion"]} for r in rows if r.get("prompt") and r.get("completion")
    ]


def _sft_step(
    recipe: RecipeConfig, export_dir: Path, out_dir: Path, replay_pool: list[dict[str, Any]], style: str | None
) -> Step | None:
    found = corrections(export_dir)
    if not found:
        return None
    replay_file = Path(recipe.replay_file) if recipe.replay_file else None
    candidates = _replay_rows(replay_pool, replay_file, style)
    k = min(len(candidates), round(recipe.replay_ratio * len(found)))
    replay = random.Random(recipe.seed).sample(candidates, k) if k else []
    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in found] + replay
    random.Random(recipe.seed).shuffle(rows)
    data = out_dir / "sft-mix.jsonl"
    write_rows(data, rows)
    args = ["--learning_rate", str(recipe.sft_learning_rate), "--num_train_epochs", str(recipe.sft_epochs)]
    why = f"{len(found)} corrections + {len(replay)} replayed rows"
    return Step("sft", data, args, len(rows), why)


def _online_step(recipe: RecipeConfig, prompts: Path, out_dir: Path) -> Step | None:
    rows = load_rows(prompts) if prompts.is_file() else []
    if recipe.online == "none" or not rows:
        return None
    rows = rows[-recipe.online_max_prompts :]  # the newest: rows come in arrival order
    data = out_dir / f"{recipe.online}-prompts.jsonl"
    write_rows(data, rows)
    args = ["--learning_rate", str(recipe.online_learning_rate)]
    if recipe.online == "grpo":
        args += ["--beta", str(recipe.grpo_beta)]
    else:
        args += ["--beta", str(recipe.dpo_beta)]
    return Step(recipe.online, data, args, len(rows), f"{len(rows)} of the night's prompts")


def plan_steps(
    export_dir: Path,
    recipe: RecipeConfig,
    *,
    out_dir: Path,
    replay_pool: list[dict[str, Any]] | None = None,
    style: str | None = "zeroshot",
) -> list[Step]:
    """The night's steps for what was exported (``sft``, ``dpo``, ``kto``, ``prompts`` JSONL in ``export_dir``).

    ``style`` is the parent adapter's prompt style, for replayed parallel text; ``out_dir`` receives the data files
    the recipe builds (the SFT mix, the online prompts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    if recipe.sft and (sft := _sft_step(recipe, export_dir, out_dir, replay_pool or [], style)):
        steps.append(sft)
    dpo, kto = export_dir / "dpo.jsonl", export_dir / "kto.jsonl"
    if recipe.dpo and (n := _count(dpo)):
        args = ["--learning_rate", str(recipe.dpo_learning_rate), "--beta", str(recipe.dpo_beta)]
        steps.append(Step("dpo", dpo, args, n, f"{n} pairs (corrections and A/B choices)"))
    if recipe.kto and kto.is_file():
        rows = load_rows(kto)
        if {r.get("label") for r in rows} >= {True, False}:
            args = ["--learning_rate", str(recipe.kto_learning_rate)]
            steps.append(Step("kto", kto, args, len(rows), f"{len(rows)} thumbs"))
    if online := _online_step(recipe, export_dir / "prompts.jsonl", out_dir):
        steps.append(online)
    return [Step(s.method, s.data, [*s.args, "--seed", str(recipe.seed)], s.rows, s.why) for s in steps]
