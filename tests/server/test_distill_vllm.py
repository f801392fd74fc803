"""``papertrans distill`` against a REAL ``vllm serve`` playing the teacher: the embedded model served with a chat
template on its command line (``tests/data/chat_template_fewshot.jinja``: the session's shared server), so
the teacher is the :class:`ChatEngine` over ``/v1/chat/completions`` with the placeholder constraint; then
``papertrans train --method sft --max_steps 2`` on the rows it wrote.

Mechanism, not quality: a 270M base model behind a chat template is a poor teacher, so the test asks only that the
run is accounted for (every segment kept or dropped with a reason), that some rows pass, and that the trainer
accepts them. Engine + slow: run under the shared engine lock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from papertrans import exitcodes
from papertrans.cli import main
from papertrans.rl.datasets import load_rows
from papertrans.server.settings import Settings

pytestmark = [pytest.mark.engine, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "d2l_en_zh.jsonl"


def _units(path: Path, count: int) -> Path:
    """The ``count`` shortest d2l units of more than one short line (few segments: the CPU engine is slow)."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = sorted((r for r in rows if len(r["en"]) > 80), key=lambda r: len(r["en"]))[:count]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8")
    return path


def test_distill_from_vllm_serve_then_train_sft(
    served_vllm: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from papertrans.contract.model import resolve_model

    settings = Settings()
    model_path = Path(resolve_model(settings.model, settings.cache_dir))
    rows_file, adapter = tmp_path / "rows.jsonl", tmp_path / "adapter"
    # as test_chat_vllm.py: the template frames the chat turn as the few-shot completion a base model continues, and
    # its stops end an answer; CPU vLLM on shared cores is slow (long timeout, every request in flight for batching);
    # chunking counts tokens with the served model's own tokenizer
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__EXTRA_STOP", json.dumps(["\n\n", "\n英文：", "\n中文："]))
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__REQUEST_TIMEOUT_S", "900")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__MAX_CONCURRENCY", "32")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__TOKENIZER", str(model_path))
    url = served_vllm[0]  # the session's shared vllm serve, with the few-shot chat template
    model = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]
    ready = time.perf_counter()
    code = main(
        [
            "distill",
            "--teacher",
            f"{url}/v1",
            "--model",
            model,
            "--data",
            str(_units(tmp_path / "u.jsonl", 3)),
            "--out",
            str(rows_file),
            "--units-in-flight",
            "3",
        ]
    )
    distilled = time.perf_counter()
    report = json.loads((tmp_path / "rows.jsonl.report.json").read_text())
    print(
        f"\ndistill {distilled - ready:.0f} s: "
        f"{json.dumps({k: report[k] for k in ('units', 'segments', 'dropped', 'validation_reasons', 'tokens')})}"
    )
    assert report["error"] is None and report["units"]["read"] == 3
    segs = report["segments"]
    assert segs["kept"] + segs["dropped"] + segs["no_text"] == segs["total"] > 0
    assert report["tokens"]["teacher_in"] > 0 and report["tokens"]["teacher_out"] > 0
    assert code == exitcodes.OK and report["rows"] > 0, report  # some of the teacher's output passed the pipeline
    rows = load_rows(rows_file)
    assert len(rows) == report["rows"] and all("<start_of_turn>" not in r["prompt"] for r in rows)

    status = main(
        [
            "train",
            "--method",
            "sft",
            "--data",
            str(rows_file),
            "--out",
            str(adapter),
            "--max_steps",
            "2",
            "--lora_r",
            "4",
            "--max_length",
            "256",
        ]
    )
    assert status == exitcodes.OK
    meta = json.loads((adapter / "papertrans-adapter.json").read_text())
    assert meta["method"] == "sft" and meta["metrics"]["global_step"] == 2 and meta["prompt_style"] == "zeroshot"
    assert meta["data_rows"] == len(rows)
