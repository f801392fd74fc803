"""refresh: one run at a time, state only advances on a finished run, a report per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans.rl import refresh as refresh_mod
from papertrans.rl.datasets import write_rows
from papertrans.rl.refresh import RefreshBusy, RefreshOptions, plan, read_state, refresh


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


def test_plan_picks_methods(tmp_path: Path) -> None:
    write_rows(tmp_path / "kto.jsonl", [{"prompt": "p", "completion": "c", "label": True},
                                        {"prompt": "p", "completion": "d", "label": False}])
    write_rows(tmp_path / "prompts.jsonl", [{"prompt": "p"}])
    assert [m for m, _ in plan(tmp_path, online=True)] == ["kto", "online-dpo"]
    write_rows(tmp_path / "dpo.jsonl", [{"prompt": "p", "chosen": "好", "rejected": "bad"}])
    assert [m for m, _ in plan(tmp_path, online=False)] == ["dpo"]
