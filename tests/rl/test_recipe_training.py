"""The recipe's steps as the refresh runs them, on the embedded model: every step's options parse as its method's TRL
config with the recipe's values, and a night trains SFT (corrections + replay) then DPO for real, each step continuing
from the previous one, the first from the starter. Slow (loads TRL and the model; one step each on a handful of rows):
run under the engine lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.contract import starter_folder
from papertrans.contract.adapter import read_metadata
from papertrans.rl import refresh as refresh_mod
from papertrans.rl.config import parse_train_args
from papertrans.rl.datasets import write_rows
from papertrans.rl.recipe import RecipeConfig, plan_steps
from papertrans.rl.refresh import RefreshOptions, refresh

P = "Translate into Chinese.\n\nText:\nWe train the model.\n"


def _export(folder: Path) -> Path:
    write_rows(
        folder / "sft.jsonl", [{"prompt": P, "completion": "我们训练模型。\n\n", "reference": "我们训练模型。"}] * 2
    )
    write_rows(folder / "dpo.jsonl", [{"prompt": P, "chosen": "我们训练模型。\n\n", "rejected": "We train.\n\n"}] * 2)
    write_rows(
        folder / "kto.jsonl",
        [
            {"prompt": P, "completion": "我们训练模型。", "label": True},
            {"prompt": P, "completion": "We train.", "label": False},
        ],
    )
    write_rows(folder / "prompts.jsonl", [{"prompt": P, "reference": "我们训练模型。"}])
    write_rows(folder / "eval.jsonl", [{"prompt": P, "reference": "我们训练模型。"}])
    return folder


@pytest.mark.slow
def test_every_step_parses_with_the_recipes_values(tmp_path: Path) -> None:
    recipe = RecipeConfig(online="grpo", dpo_beta=0.05, grpo_beta=0.004)
    steps = plan_steps(_export(tmp_path / "export"), recipe, out_dir=tmp_path / "data")
    assert [s.method for s in steps] == ["sft", "dpo", "kto", "grpo"]
    expected_lr = {"sft": 2e-4, "dpo": 5e-6, "kto": 5e-6, "grpo": 5e-6}
    for step in steps:
        argv = ["--method", step.method, "--data", str(step.data), "--out", str(tmp_path / step.method), *step.args]
        _, config = parse_train_args(argv, cuda=False)
        assert config.learning_rate == pytest.approx(expected_lr[step.method]), step.method
        assert config.seed == 0
        if step.method == "dpo":
            assert config.beta == pytest.approx(0.05)
        if step.method == "grpo":
            assert config.beta == pytest.approx(0.004)
        if step.method == "sft":
            assert config.num_train_epochs == pytest.approx(2.0)


@pytest.mark.slow
def test_a_night_trains_sft_then_dpo_from_the_starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = starter_folder()
    assert start is not None
    monkeypatch.setattr(refresh_mod, "_gate", lambda *a, **k: False)  # the gate is tested elsewhere
    opts = RefreshOptions(
        work_dir=tmp_path / "work",
        export_dir=_export(tmp_path / "export"),
        start_adapter=start,
        online=False,
        recipe=RecipeConfig(kto=False),
        train_args=["--max_steps", "1", "--max_length", "64", "--torch_threads", "2"],
    )
    report = refresh(opts)
    assert report["outcome"] == "refused_by_gate"
    steps = report["steps"]
    assert [s["method"] for s in steps] == ["sft", "dpo"]
    sft, dpo = (read_metadata(Path(s["adapter"])) for s in steps)
    assert sft is not None and dpo is not None
    assert sft.method == "sft" and Path(str(sft.parent)) == start  # the first step continues from the starter
    assert dpo.method == "dpo" and Path(str(dpo.parent)) == Path(steps[0]["adapter"])
    assert sft.metrics["global_step"] == 1 and dpo.metrics["global_step"] == 1
    assert sft.hyperparameters["learning_rate"] == pytest.approx(2e-4)
    assert dpo.hyperparameters["learning_rate"] == pytest.approx(5e-6) and dpo.hyperparameters["beta"] == 0.1
