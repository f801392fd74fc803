"""Bad input is refused with a clear code before any model is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans.contract.adapter import AdapterMetadata, write_metadata
from papertrans.rl.config import parse_train_args
from papertrans.rl.datasets import DataError, validate_rows, write_rows
from papertrans.rl.metadata import AdapterError, check_adapter_dir, model_fingerprint
from papertrans.rl.train import TrainError, prepare

DPO = {"prompt": "English: Hi.\nChinese:", "chosen": "你好。", "rejected": "Hi."}


def _base(tmp_path: Path, hidden: int = 640) -> Path:
    base = tmp_path / f"base{hidden}"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": "gemma3_text", "hidden_size": hidden, "vocab_size": 9}))
    return base


def _prepare(tmp_path: Path, method: str, rows: list[dict[str, object]], *extra: str) -> None:
    data = tmp_path / "data.jsonl"
    write_rows(data, rows)
    loop, _ = parse_train_args(["--method", method, "--data", str(data), "--out", str(tmp_path / "out"),
                                "--base_model", str(_base(tmp_path)), *extra], cuda=False)
    prepare(loop)


@pytest.mark.parametrize(
    ("method", "rows", "code"),
    [
        ("dpo", [], "empty_dataset"),
        ("dpo", [{"prompt": "p", "completion": "c"}], "missing_columns"),
        ("kto", [{"prompt": "p", "completion": "c", "label": "yes"}], "invalid_label"),
        ("kto", [{"prompt": "p", "completion": "c", "label": True}], "too_few_examples"),
        ("kto", [{"prompt": "p", "completion": "c", "label": True}] * 3, "one_sided_kto"),
        ("dpo", [{**DPO, "rejected": DPO["chosen"]}], "identical_pair"),
        ("sft", [{"prompt": "p", "completion": "  "}], "empty_field"),
    ],
)
def test_bad_datasets(method: str, rows: list[dict[str, object]], code: str) -> None:
    with pytest.raises(DataError) as info:
        validate_rows(method, rows)
    assert info.value.code == code


def test_min_examples_option(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="too_few_examples"):
        _prepare(tmp_path, "dpo", [DPO], "--min_examples", "5")


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(DPO) + "\n{not json\n")
    loop, _ = parse_train_args(["--method", "dpo", "--data", str(data), "--out", str(tmp_path / "o")], cuda=False)
    with pytest.raises(DataError, match=r"invalid_json: .*bad.jsonl:2"):
        prepare(loop)


def test_missing_base_model(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    write_rows(data, [DPO])
    loop, _ = parse_train_args(["--method", "dpo", "--data", str(data), "--out", str(tmp_path / "o"),
                                "--base_model", str(tmp_path / "no" / "such" / "model")], cuda=False)
    with pytest.raises(TrainError) as info:
        prepare(loop)
    assert info.value.code == "missing_base_model"


def test_adapter_for_another_base_model(tmp_path: Path) -> None:
    other = _base(tmp_path, hidden=2048)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"x")
    write_metadata(adapter, AdapterMetadata(method="dpo", base_model="other", base_fingerprint=model_fingerprint(other)))
    with pytest.raises(AdapterError) as info:
        _prepare(tmp_path, "dpo", [DPO], "--init_adapter", str(adapter))
    assert info.value.code == "base_model_mismatch"
    # The same adapter is accepted against the model it was trained on.
    assert check_adapter_dir(adapter, other) is not None


def test_online_dpo_needs_two_samples(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="samples_per_prompt"):
        _prepare(tmp_path, "online-dpo", [{"prompt": "p"}], "--samples_per_prompt", "1")


def test_method_defaults_and_trl_options() -> None:
    loop, cfg = parse_train_args(["--method", "kto", "--data", "d", "--out", "o", "--beta", "0.2"], cuda=False)
    assert (loop.lora_r, cfg.beta, cfg.use_cpu, cfg.bf16, cfg.per_device_train_batch_size) == (16, 0.2, True, False, 2)
    _, grpo = parse_train_args(["--method", "grpo", "--data", "d", "--out", "o"], cuda=False)
    assert grpo.beta == 0.001 and grpo.num_generations >= 4
    with pytest.raises(SystemExit):
        parse_train_args(["--method", "ppo", "--data", "d", "--out", "o"], cuda=False)
