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
