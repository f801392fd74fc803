"""A trained adapter loads into the real vLLM engine and generates (shared ``real_engine`` fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.rl.config import parse_train_args
from papertrans.rl.datasets import write_rows
from papertrans.rl.train import prepare, train


@pytest.mark.engine
@pytest.mark.slow
async def test_trained_adapter_serves(real_engine: object, tmp_path: Path) -> None:
    from papertrans.server.engine import AdapterRef, SamplingOptions

    data = tmp_path / "dpo.jsonl"
    write_rows(data, [{"prompt": "English: Hi.\nChinese:", "chosen": " 你好。", "rejected": " Hi."}])
    loop, config = parse_train_args(["--method", "dpo", "--data", str(data), "--out", str(tmp_path / "a"),
                                     "--max_steps", "1", "--max_length", "32", "--lora_r", "8"])
    out = train(prepare(loop), config)
    ref = AdapterRef(name="rl-test@1", int_id=991, path=str(out))
    await real_engine.add_adapter(ref)  # type: ignore[attr-defined]
    gen = await real_engine.generate(  # type: ignore[attr-defined]
        "English: Hi.\nChinese:", SamplingOptions(max_tokens=8), adapter=ref, request_id="rl-engine-load"
    )
    assert gen.tokens_out > 0
    await real_engine.remove_adapter(ref)  # type: ignore[attr-defined]
