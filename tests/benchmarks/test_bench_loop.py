"""benchmarks/bench_loop.py: the figures its table prints per stage (fast, inline strings, no server)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_loop.py"

REF = "注意力机制让模型关注输入中最相关的部分，并在翻译时保持术语一致。"
GOOD = "注意力机制让模型关注输入中最相关的部分，并在翻译时保持术语一致。"
BAD = "模型很好。"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_loop", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_loop", module)
    spec.loader.exec_module(module)
    return module


def _out(markdown: str, source: str = "Attention lets the model focus on what matters.") -> dict[str, Any]:
    return {"source": source, "reference": REF, "markdown": markdown, "segments": []}


def test_gsb_counts_a_readers_choice_per_unit(bench: ModuleType) -> None:
    current = [_out(GOOD), _out(BAD), _out(GOOD)]
    previous = [_out(BAD), _out(GOOD), _out(GOOD)]
    assert bench.gsb(current, previous) == "1/1/1"  # better, worse, the same output


def test_faithfulness_flags_short_outputs_odd_emphasis_and_new_touching_formulas(bench: ModuleType) -> None:
    outs = [
        _out(GOOD),
        _out(BAD),  # a fifth of the reference's words: an omission
        _out("**注意力机制让模型关注输入中最相关的部分，并在翻译时保持术语一致。", "**Attention** matters."),
        _out(GOOD + " $a$$b$", "Take $a$ and $b$."),
    ]
    figures = bench.faithfulness(outs)
    assert figures == {"under_075_pct": 25.0, "odd_emphasis": 1, "touching": 1}


def test_interval_against_the_starter_is_the_gates_paired_bootstrap(bench: ModuleType) -> None:
    starter = [_out(BAD) for _ in range(6)]
    better = [_out(GOOD) for _ in range(6)]
    text = bench.interval(better, starter)
    delta, low = float(text.split()[0]), float(text.split("[")[1].split(",")[0])
    assert delta > 50 and low > 0  # every unit better: the whole interval above 0
    assert bench.interval(starter, starter) == "+0.0 [+0.0, +0.0]"


def test_the_nights_refresh_command_is_the_nightly_jobs(bench: ModuleType, tmp_path: Path) -> None:
    """The bench runs `papertrans refresh` in its own process; its command line means what the bench was asked."""
    import argparse

    from papertrans.rl.cli import refresh_options, register

    args = argparse.Namespace(work=tmp_path, model="embedded:gemma-3-270m", online_prompts=32, online="online-dpo",
                              replay=tmp_path / "replay.jsonl", train_arg=["--max_steps 2"],
                              online_arg=["--samples_per_prompt", "2"])
    cmd = bench.refresh_command(args, "http://127.0.0.1:9", "key", tmp_path / "server", tmp_path / "adapters",
                                tmp_path / "regression.jsonl")
    assert cmd[1:4] == ["-m", "papertrans.cli", "refresh"]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    opts = refresh_options(parser.parse_args(cmd[3:]))
    assert (opts.server, opts.admin_key, opts.data_dir, opts.adapter_store) == (
        "http://127.0.0.1:9", "key", tmp_path / "server", tmp_path / "adapters")
    assert (opts.eval_file, opts.regression_file) == (tmp_path / "gate-units.jsonl", tmp_path / "regression.jsonl")
    assert (opts.recipe.online, opts.recipe.online_max_prompts, opts.recipe.replay_file) == (
        "online-dpo", 32, str(tmp_path / "replay.jsonl"))
    assert opts.train_args == ["--max_steps", "2"] and opts.online_args == ["--samples_per_prompt", "2"]
    args.online, args.replay = "none", None
    opts = refresh_options(parser.parse_args(bench.refresh_command(args, "u", "k", tmp_path, tmp_path, None)[3:]))
    assert opts.online is False and opts.regression_file is None and opts.recipe.replay_file is None


def test_a_night_that_dies_before_its_run_folder_reports_failed(bench: ModuleType, tmp_path: Path) -> None:
    report, peak = bench.run_refresh([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, tmp_path / "log")
    assert report["outcome"] == "failed" and "exited with 3" in report["error"] and peak == 0.0
    run = tmp_path / "runs" / "x"

    script = (f"import pathlib, json; p = pathlib.Path({str(run)!r}); p.mkdir(parents=True); "
              "(p / 'report.json').write_text(json.dumps({'outcome': 'refused_by_gate'})); b = bytearray(50 * 2**20)")
    report, peak = bench.run_refresh([sys.executable, "-c", script], tmp_path, tmp_path / "log")
    assert report == {"outcome": "refused_by_gate"} and peak > 0.04  # the child's 50 MiB show in its peak
