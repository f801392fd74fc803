"""Online DPO's candidates: vLLM in a child process (rl/sample.py), progress lines, figures for the report.

The fast tests need no model; the engine test samples 2 prompts x 2 from the shipped starter adapter with vLLM and
trains one DPO step on the ranked pairs (run it under the engine lock)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from papertrans.contract.adapter import AdapterMetadata, read_metadata, write_metadata
from papertrans.rl.config import parse_train_args
from papertrans.rl.datasets import write_rows
from papertrans.rl.errors import TrainError
from papertrans.rl.progress import progress_callback, step_figures
from papertrans.rl.sample import SampleSpec, lora_rank_limit, sample_in_child
from papertrans.rl.train import _sample_backend


def _loop(tmp_path: Path, *extra: str) -> object:
    loop, _ = parse_train_args(
        ["--method", "online-dpo", "--data", str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "out"), *extra],
        cuda=False,
    )
    return loop


def test_auto_samples_with_vllm_once_the_work_pays_for_its_start(tmp_path: Path) -> None:
    small = _loop(tmp_path, "--samples_per_prompt", "2", "--sample_max_tokens", "8")
    assert _sample_backend(small, 4) == "hf"  # type: ignore[arg-type]  # 64 tokens: vLLM's start costs more
    assert _sample_backend(small, 64) == "vllm"  # type: ignore[arg-type]  # 1,024 tokens
    night = _loop(tmp_path)  # defaults: 4 samples x 128 tokens
    assert _sample_backend(night, 2) == "vllm"  # type: ignore[arg-type]
    forced = _loop(tmp_path, "--sample_backend", "hf")
    assert _sample_backend(forced, 368) == "hf"  # type: ignore[arg-type]


def test_lora_rank_limit(tmp_path: Path) -> None:
    assert lora_rank_limit(None) == 16
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 24}))
    assert lora_rank_limit(str(tmp_path)) == 32


def test_a_failing_sampler_is_a_train_error_with_its_reason(tmp_path: Path) -> None:
    spec = SampleSpec(base_dir=str(tmp_path / "no-model"), prompts=["x"])
    with pytest.raises(TrainError) as info:
        sample_in_child(spec, tmp_path / "work")
    assert info.value.code == "sampling_failed" and "no-model" in str(info.value)


def test_a_dead_engine_names_its_workers_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM's client traceback ends in EngineDeadError; the worker's own line says why, and the error carries it."""
    child = tmp_path / "child.sh"
    child.write_text("#!/bin/sh\necho \"RuntimeError: Worker failed with error 'CPU Generator does not use offset', "
                     "please check the stack trace above\" >&2\necho 'vllm.v1.engine.exceptions.EngineDeadError: "
                     "EngineCore encountered an issue.' >&2\nexit 1\n")
    child.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(child))
    with pytest.raises(TrainError) as info:
        sample_in_child(SampleSpec(base_dir=str(tmp_path), prompts=["x"]), tmp_path / "work")
    assert "CPU Generator does not use offset" in info.value.detail and "out of memory" not in info.value.detail


def test_progress_lines(caplog: pytest.LogCaptureFixture) -> None:
    callback = progress_callback("dpo")
    state = SimpleNamespace(global_step=0, max_steps=4)
    with caplog.at_level(logging.INFO, logger="papertrans.rl.progress"):
        callback.on_train_begin(None, state, None)
        state.global_step = 1
        callback.on_log(None, state, None, logs={"loss": 0.69, "num_tokens": 300})
        callback.on_log(None, state, None, logs={"train_runtime": 3.0})  # the end-of-training summary: no line
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "dpo: training 4 steps"
    assert len(lines) == 2 and lines[1].startswith("dpo: step 1/4, ") and "loss 0.6900" in lines[1]
    assert "tokens/s" in lines[1] and "eta" in lines[1]


def test_step_figures_from_the_adapter(tmp_path: Path) -> None:
    metrics = {
        "global_step": 3,
        "train_runtime": 9.5,
        "tokens_per_second": 33.0,
        "sample_backend": "vllm",
        "sample_tokens_per_second": 70.1,
        "epoch": 1.0,
    }
    write_metadata(
        tmp_path, AdapterMetadata(method="online-dpo", base_model="b", base_fingerprint="f", metrics=metrics)
    )
    assert step_figures(tmp_path) == {k: v for k, v in metrics.items() if k != "epoch"}
    assert step_figures(tmp_path / "nothing") == {}


@pytest.mark.engine
@pytest.mark.slow
def test_online_dpo_samples_with_vllm_from_the_current_adapter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from papertrans.contract import starter_folder
    from papertrans.contract.prompts import CompletionOnly, build_prompt
    from papertrans.rl.train import prepare, train

    starter = starter_folder()
    assert starter is not None
    engine = CompletionOnly()
    rows = [
        {"prompt": build_prompt(engine, text, style="zeroshot")[0], "reference": zh}
        for text, zh in (("We train the model.", "我们训练模型。"), ("The loss goes down.", "损失下降。"))
    ]
    write_rows(tmp_path / "p.jsonl", rows)
    loop, config = parse_train_args(
        [
            "--method",
            "online-dpo",
            "--data",
            str(tmp_path / "p.jsonl"),
            "--out",
            str(tmp_path / "out"),
            "--init_adapter",
            str(starter),
            "--max_steps",
            "1",
            "--max_length",
            "128",
            "--samples_per_prompt",
            "2",
            "--sample_max_tokens",
            "16",
            "--sample_backend",
            "vllm",
            "--min_reward_margin",
            "0",
        ]
    )
    with caplog.at_level(logging.INFO):
        out = train(prepare(loop), config)
    meta = read_metadata(out)
    assert meta is not None and meta.method == "online-dpo" and meta.metrics["global_step"] == 1
    metrics = meta.metrics
    assert metrics["sample_backend"] == "vllm" and metrics["samples"] == 4 and metrics["pairs"] >= 1
    assert metrics["sample_tokens"] > 0 and metrics["sample_tokens_per_second"] > 0
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("vllm sampling: generated 2/2 prompts") for m in messages), messages
    assert any(m.startswith("online-dpo: step 1/1") for m in messages), messages
    assert meta.parent == str(starter)


@pytest.mark.engine
@pytest.mark.slow
def test_sampling_a_nights_worth_of_prompts_with_vllm_on_cpu(tmp_path: Path, corpus_dir: Path) -> None:
    """32 prompts x 2 candidates, as a night samples them: with a per-request seed vLLM's CPU engine died at once
    ('CPU Generator does not use offset': vLLM rewinds a seeded request's generator when it discards a step's token,
    which torch's CPU generator cannot do) and with it every night's online step. Two prompts never showed it."""
    from papertrans.contract import starter_folder
    from papertrans.contract.model import resolve_model
    from papertrans.contract.prompts import CompletionOnly, build_prompt

    starter = starter_folder()
    assert starter is not None
    units = [json.loads(line) for line in (corpus_dir / "d2l_en_zh.jsonl").read_text().splitlines()[:32]]
    prompts = [build_prompt(CompletionOnly(), u["en"][:800], style="zeroshot")[0] for u in units]
    spec = SampleSpec(base_dir=str(resolve_model("embedded:gemma-3-270m")), prompts=prompts, adapter=str(starter),
                      n=2, max_new_tokens=48)
    samples, stats = sample_in_child(spec, tmp_path / "work")
    assert len(samples) == 32 and all(len(group) == 2 for group in samples)
    assert stats["backend"] == "vllm" and stats["tokens"] > 0
