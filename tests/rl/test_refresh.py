"""refresh: one run at a time, state only advances on a finished run, a report per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans.rl import refresh as refresh_mod
from papertrans.rl.datasets import load_rows, write_rows
from papertrans.rl.recipe import RecipeConfig, Step, plan_steps, recipe_from_args, recipe_help
from papertrans.rl.refresh import RefreshBusy, RefreshOptions, read_state, refresh


def _opts(tmp_path: Path, export: Path) -> RefreshOptions:
    return RefreshOptions(work_dir=tmp_path / "work", export_dir=export, eval_file=export / "eval.jsonl")


def test_nothing_to_train_advances_state(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    report = refresh(_opts(tmp_path, export))
    assert report["outcome"] == "nothing_to_train"
    state = read_state(tmp_path / "work")
    assert state["last_success"] == report["started_at"]
    assert json.loads(Path(state["last_report"]).read_text())["outcome"] == "nothing_to_train"


def test_crash_leaves_state_and_next_run_redoes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = tmp_path / "export"
    write_rows(export / "dpo.jsonl", [{"prompt": "p", "chosen": "好", "rejected": "bad"}])

    def crash(*args: object, **kw: object) -> Path:
        raise RuntimeError("simulated crash during training")

    monkeypatch.setattr(refresh_mod, "_train_step", crash)
    with pytest.raises(RuntimeError):
        refresh(_opts(tmp_path, export))
    assert read_state(tmp_path / "work") == {}
    reports = list((tmp_path / "work" / "runs").glob("*/report.json"))
    assert [json.loads(r.read_text())["outcome"] for r in reports] == ["failed"]


def test_one_run_at_a_time(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    opts = _opts(tmp_path, export)
    with refresh_mod._lock(opts.work_dir), pytest.raises(RefreshBusy):
        refresh(opts)


def test_the_recipe_plans_sft_with_replay_then_dpo_kto_and_online(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_rows(export / "sft.jsonl", [{"prompt": "p1", "completion": "改正一", "reference": "改正一"},
                                      {"prompt": "p2", "completion": "好的输出"}])  # a thumbs-up row: not a correction
    write_rows(export / "dpo.jsonl", [{"prompt": "p1", "chosen": "改正一", "rejected": "bad"}])
    write_rows(export / "kto.jsonl", [{"prompt": "p", "completion": "c", "label": True},
                                      {"prompt": "p", "completion": "d", "label": False}])
    write_rows(export / "prompts.jsonl", [{"prompt": f"q{i}"} for i in range(5)])
    replay = tmp_path / "replay.jsonl"
    write_rows(replay, [{"prompt": f"old{i}", "completion": f"旧{i}"} for i in range(10)])
    recipe = RecipeConfig(replay_file=str(replay), replay_ratio=2.0, online_max_prompts=3)
    steps = plan_steps(export, recipe, out_dir=tmp_path / "data")
    assert [s.method for s in steps] == ["sft", "dpo", "kto", "online-dpo"]
    sft = load_rows(steps[0].data)
    assert len(sft) == 3 and sum(r["prompt"] == "p1" for r in sft) == 1  # 1 correction + 2 replayed, no thumbs-up
    assert {"--learning_rate", "2e-4"} <= set(steps[0].args) or "0.0002" in steps[0].args
    assert steps[1].args[:4] == ["--learning_rate", "5e-06", "--beta", "0.1"]
    assert [r["prompt"] for r in load_rows(steps[3].data)] == ["q2", "q3", "q4"]  # the newest prompts
    assert all(s.args[-2:] == ["--seed", "0"] for s in steps)
    only_thumbs = tmp_path / "thumbs"
    write_rows(only_thumbs / "kto.jsonl", load_rows(export / "kto.jsonl"))
    assert [s.method for s in plan_steps(only_thumbs, RecipeConfig(online="none"), out_dir=tmp_path / "d2")] == ["kto"]


def test_the_recipe_options_of_refresh_reach_the_plan(tmp_path: Path) -> None:
    import argparse

    from papertrans.rl.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["refresh", "--no-kto", "--dpo-beta", "0.05", "--online", "grpo", "--replay", "r.jsonl"])
    recipe = recipe_from_args(args)
    assert (recipe.kto, recipe.dpo_beta, recipe.online, recipe.replay_file) == (False, 0.05, "grpo", "r.jsonl")
    assert all(help_text for help_text in recipe_help().values())  # every field says why


def test_a_refused_night_keeps_the_watermark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The feedback of a night the gate refused is trained on again next night (with the new feedback)."""
    export = tmp_path / "export"
    write_rows(export / "dpo.jsonl", [{"prompt": "p", "chosen": "好", "rejected": "bad"}])
    write_rows(export / "eval.jsonl", [{"prompt": "p", "reference": "好"}])
    monkeypatch.setattr(refresh_mod, "_train_step", lambda step, out, parent, opts: out)
    monkeypatch.setattr(refresh_mod, "_gate", lambda *a, **k: False)
    first = refresh(_opts(tmp_path, export))
    assert first["outcome"] == "refused_by_gate"
    state = read_state(tmp_path / "work")
    assert state["watermark"] is None and state["last_success"] == first["started_at"]
    second = refresh(_opts(tmp_path, export))
    assert second["window"]["since"] is None  # still from the start: night 1's feedback is in night 2's window
    monkeypatch.setattr(refresh_mod, "_gate", lambda *a, **k: True)
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(refresh_mod, "_train_step", lambda step, out, parent, opts: tmp_path / "out")
    third = refresh(_opts(tmp_path, export))
    assert third["outcome"] == "promoted"
    assert read_state(tmp_path / "work")["watermark"] == third["started_at"]


def test_a_failed_online_sampler_skips_that_step_and_gates_the_rest(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The night's SFT/DPO/KTO work is judged when the online step's vLLM child dies; other failures still fail."""
    from papertrans.rl.errors import TrainError

    export = tmp_path / "export"
    write_rows(export / "dpo.jsonl", [{"prompt": "p", "chosen": "好", "rejected": "bad"}])
    write_rows(export / "prompts.jsonl", [{"prompt": f"q{i}"} for i in range(3)])
    write_rows(export / "eval.jsonl", [{"prompt": "p", "reference": "好"}])

    def train_step(step: Step, out: Path, parent: Path | None, opts: object) -> Path:
        if step.method == "online-dpo":
            raise TrainError("sampling_failed", "the vLLM sampler exited with 1 (EngineDeadError)")
        out.mkdir(parents=True)
        return out

    gated: list[Path] = []

    def gate(opts: object, target: object, candidate: Path, run_dir: Path, report: object) -> bool:
        gated.append(candidate)
        return True

    monkeypatch.setattr(refresh_mod, "_train_step", train_step)
    monkeypatch.setattr(refresh_mod, "_gate", gate)
    report = refresh(_opts(tmp_path, export))
    assert [s["method"] for s in report["plan"]] == ["dpo", "online-dpo"]
    assert report["outcome"] == "promoted"
    assert [p.name for p in gated] == ["adapter-1-dpo"]
    assert report["steps"][1] == {"method": "online-dpo", "skipped": "sampling_failed",
                                  "detail": "the vLLM sampler exited with 1 (EngineDeadError)"}

    def broken(step: object, out: Path, parent: Path | None, opts: object) -> Path:
        raise TrainError("train_failed", "a step's own failure is not skipped")

    monkeypatch.setattr(refresh_mod, "_train_step", broken)
    write_rows(export / "dpo.jsonl", [{"prompt": "p2", "chosen": "好", "rejected": "bad"}])
    with pytest.raises(TrainError):
        refresh(_opts(tmp_path, export))
