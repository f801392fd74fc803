"""benchmarks/ladder_trace.py: every rung's verdict written during a run and summarised (fake engine, fast)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from papertrans.server.engine import Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.pipeline import Pipeline
from papertrans.server.settings import TranslateSettings

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "ladder_trace.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ladder_trace", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ladder_trace", module)
    spec.loader.exec_module(module)
    return module


lt = _load()
_RUNG = re.compile(r"-(\d+)s\d+-\d+$")


class _PileThenGood(FakeEngine):
    """The first rung writes the formulas in a pile at the end; every later rung places them."""

    async def generate(self, prompt: str, options: SamplingOptions, **kw: Any) -> Generation:
        gen = await super().generate(prompt, options, **kw)
        m = _RUNG.search(kw["request_id"])
        assert m is not None
        first = m.group(1) == "0"
        return replace(gen, text="设为输入，为输出。损失很小。⟦1⟧⟦2⟧" if first else "设⟦1⟧为输入，⟦2⟧为输出。损失很小。")


async def test_the_trace_names_the_first_rung_reason_and_the_rung_that_repaired_it(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    pipeline = Pipeline(_PileThenGood(), TranslateSettings(max_retries=1))  # first, then strict (no pieces rung)
    with lt.record_ladder(path):
        result = await pipeline.translate("Let $a$ be the input and $b$ the output. The loss is small.\n")
    assert [s.status for s in result.segments] == ["retried"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["rung"], r["clean"]) for r in rows] == [("first", False), ("strict", True)]
    assert "placeholders_displaced" in rows[0]["reasons"]
    summary = lt.summarise(rows)
    assert "rungs taken: 2: 1" in summary
    assert re.search(r"placeholders_displaced\s+1\s+strict 1", summary), summary
