"""``papertrans memory import|export`` against a live server (fake engine), ``papertrans glossary convert`` between
TBX, CSV, TSV and JSON, and ``translate --glossary FILE.tbx`` reading a term base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans import exitcodes, protect
from papertrans.cli import main
from papertrans.clients import Client
from papertrans.clients._glossary import load_glossary
from papertrans.contract.tbx import parse_tbx, write_tbx
from papertrans.contract.tmx import parse_tmx

from .conftest import ADMIN_KEY

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "d2l_sample.tmx"


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("PAPERTRANS_SERVER", "PAPERTRANS_API_KEY", "PAPERTRANS_ADMIN_KEY", "PAPERTRANS_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def test_memory_import_then_export(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ["--server", live_server, "--admin-key", ADMIN_KEY]
    assert main(["memory", "import", str(SAMPLE), "--json", *key]) == exitcodes.OK
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["units"] == 12 and report["added"] + report["replaced"] == 12 and report["rejected_count"] == 0
    assert "12 unit(s)" in captured.err
    out = tmp_path / "memory.tmx"
    assert main(["memory", "export", str(out), *key]) == exitcodes.OK
    exported = {u.source_text(): u.target_text() for u in parse_tmx(out.read_bytes()).units}
    for unit in parse_tmx(SAMPLE.read_bytes()).units:
        assert exported[unit.source_text()] == unit.target_text()
    with Client(live_server, admin_key=ADMIN_KEY) as client:  # the library call the command makes
        assert client.export_memory() == out.read_bytes()


def test_memory_needs_the_admin_key(live_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "export", "-", "--server", live_server]) == exitcodes.USAGE
    assert "admin key" in capsys.readouterr().err
    assert main(["memory", "export", "-", "--server", live_server, "--admin-key", "wrong"]) == exitcodes.USAGE
    assert "admin_key_invalid" in capsys.readouterr().err


def test_a_bad_tmx_is_refused_with_its_reason(
    live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.tmx"
    bad.write_text('<!DOCTYPE tmx [<!ENTITY e "x">]><tmx version="1.4"><body/></tmx>', encoding="utf-8")
    assert main(["memory", "import", str(bad), "--server", live_server, "--admin-key", ADMIN_KEY]) == exitcodes.USAGE
    assert "xml_doctype" in capsys.readouterr().err


@pytest.mark.parametrize("middle", [".csv", ".tsv", ".json"])
def test_glossary_convert_round_trips_through_tbx(tmp_path: Path, middle: str) -> None:
    entries = [
        protect.GlossaryEntry("policy", "策略"),
        protect.GlossaryEntry("agent", "智能体, 主体"),
        protect.GlossaryEntry('reward "signal"', "奖励信号"),
    ]
    tbx = tmp_path / "terms.tbx"
    tbx.write_bytes(write_tbx(entries))
    other = tmp_path / f"terms{middle}"
    back = tmp_path / "back.tbx"
    assert main(["glossary", "convert", str(tbx), str(other)]) == exitcodes.OK
    assert load_glossary(other) == [(e.source, e.target) for e in entries]
    assert main(["glossary", "convert", str(other), str(back)]) == exitcodes.OK
    assert parse_tbx(back.read_bytes()).entries == entries


def test_glossary_convert_refuses_an_unknown_output_and_a_bad_tbx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "t.csv"
    src.write_text("attention,注意力\n", encoding="utf-8")
    assert main(["glossary", "convert", str(src), str(tmp_path / "t.xlsx")]) == exitcodes.USAGE
    bad = tmp_path / "bad.tbx"
    bad.write_text("<tbx><text><body><conceptEntry/>", encoding="utf-8")
    assert main(["glossary", "convert", str(bad), str(tmp_path / "o.csv")]) == exitcodes.USAGE
    assert "xml_invalid" in capsys.readouterr().err


def test_translate_reads_a_tbx_glossary(live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tbx = tmp_path / "terms.tbx"
    tbx.write_bytes(write_tbx([protect.GlossaryEntry("attention", "注意力")]))
    paper = tmp_path / "p.md"
    paper.write_text("The attention mechanism is useful.\n", encoding="utf-8")
    out = tmp_path / "p.zh.md"
    code = main(
        ["translate", str(paper), "-o", str(out), "--glossary", str(tbx), "--server", live_server, "-q", "--json"]
    )
    assert code == exitcodes.OK and out.exists()
    # the fake engine ignores glossaries; the adherence figure is there only when the request carried one
    assert json.loads(capsys.readouterr().out)["glossary_adherence"] is not None


@pytest.mark.parametrize("command", ["memory", "glossary"])
def test_help_has_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"papertrans {command}" in out and "exit codes" in out
