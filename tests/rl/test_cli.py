"""The rl commands answer in the one exit-code table (papertrans.exitcodes) with one JSON line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans import exitcodes
from papertrans.cli import main
from papertrans.rl import refresh as refresh_mod


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    return str(json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"])


def test_bad_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["gate", "--candidate", str(tmp_path / "adapter"), "--eval", str(tmp_path / "missing.jsonl")])
    assert rc == exitcodes.USAGE
    assert _error(capsys) == "data_not_found"


def test_an_unknown_training_method_is_a_usage_error(tmp_path: Path) -> None:
    rc = main(["train", "--method", "ppo", "--data", str(tmp_path / "d.jsonl"), "--out", str(tmp_path)])
    assert rc == exitcodes.USAGE


def test_a_busy_refresh_says_retry_later(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with refresh_mod._lock(tmp_path):
        assert main(["refresh", "--work-dir", str(tmp_path)]) == exitcodes.UNAVAILABLE
    assert _error(capsys) == "refresh_busy"


def test_an_unreachable_server_says_retry_later(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollback", "x", "--server", "http://127.0.0.1:9"]) == exitcodes.UNAVAILABLE
    assert _error(capsys) == "server_unavailable"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == exitcodes.USAGE
    assert "exit codes:" in capsys.readouterr().out
