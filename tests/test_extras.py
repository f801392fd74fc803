"""A command whose optional extra is not installed names the extra (and exits with the usage code), any other missing
module is a bug and propagates. The real base install is checked end to end by scripts/check_base_install.sh."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from papertrans import cli, exitcodes
from papertrans.server import cli as server_cli


def _missing(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    return handler


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(server_cli, "serve", _missing("uvicorn"))
    assert cli.main(["serve"]) == exitcodes.USAGE
    err = capsys.readouterr().err
    assert "papertrans serve: needs the 'server' extra" in err and "pip install 'papertrans[server]'" in err
    monkeypatch.setattr(server_cli, "serve", _missing("vllm.v1.engine"))
    assert cli.main(["serve"]) == exitcodes.USAGE
    assert "papertrans[cpu]" in capsys.readouterr().err


def test_other_missing_modules_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_cli, "serve", _missing("papertrans.server.nonexistent"))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["serve"])
