"""A whole night as the shipped systemd unit runs it, against a server on its defaults (fake engine, no model):
readers correct the starter's translations, ``papertrans refresh`` (the unit's command line as written) exports,
plans, "trains" (a copy of the parent: the engine's learning is simulated, see tests/_night.py), gates both sides
through the server as served, and publishes under the name readers are served. A night that learned nothing is
refused and leaves readers on the version they had."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from papertrans.cli import main
from papertrans.clients import Client
from papertrans.contract import STARTER_NAME
from papertrans.rl import refresh as refresh_mod
from papertrans.rl.recipe import Step
from papertrans.rl.refresh import RefreshOptions
from tests._night import ADMIN_KEY, LearningFake, fake_server, reader_documents, readers_correct
from tests.test_deploy import _as_run_here, refresh_commands


def _copy_parent(step: Step, out: Path, parent: Path | None, opts: RefreshOptions) -> Path:
    assert parent is not None and (parent / "adapter_config.json").is_file()
    shutil.copytree(parent, out)
    return out


def _night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, learns: bool) -> tuple[dict[str, object], str]:
    docs = reader_documents(n_eval=12, n_train=6)
    engine = LearningFake({en: zh for en, zh, _ in docs})
    root, server_data = tmp_path / "root", tmp_path / "server-data"
    argv, _ = refresh_commands()["systemd"]
    data_dir = root / argv[argv.index("--data-dir") + 1].lstrip("/")
    data_dir.parent.mkdir(parents=True)
    data_dir.symlink_to(server_data)
    monkeypatch.setattr(refresh_mod, "_train_step", _copy_parent)
    with fake_server(server_data, engine) as (url, _settings):
        readers_correct(url, docs)
        if learns:
            engine.learners.add(f"{STARTER_NAME}@2")  # the version the night will be staged as
        monkeypatch.setenv("PAPERTRANS_SERVER", url)
        monkeypatch.setenv("PAPERTRANS_ADMIN_KEY", ADMIN_KEY)
        code = main([*_as_run_here(argv, root, url), "--regression-max-rows", "8"])
        assert code == 0
        work = Path(_as_run_here(argv, root, url)[argv.index("--work-dir") + 1])
        report = json.loads(Path(json.loads((work / "state.json").read_text())["last_report"]).read_text())
        with Client(url, admin_key=ADMIN_KEY) as client:
            after = client.translate(docs[0][0])  # a held-out sentence, as a reader asks for it now
            listing = {a["name"]: a for a in client.adapters()}[STARTER_NAME]
        return report | {"listing": listing}, str(after.adapter)


def test_a_night_that_learned_is_promoted_and_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, served = _night(tmp_path, monkeypatch, learns=True)
    assert report["outcome"] == "promoted", report.get("gate")
    assert report["target"]["name"] == STARTER_NAME and report["target"]["source"] == f"server:{STARTER_NAME}@1"
    assert [s["method"] for s in report["plan"]] == ["sft", "dpo", "online-dpo"]
    gate = report["gate"]
    assert gate["as_served"] and gate["candidate"] == f"{STARTER_NAME}@2" and gate["baseline"] == f"{STARTER_NAME}@1"
    assert gate["new"]["n"] == 12 and gate["new"]["low"] > 0  # the readers' held-out rows, beyond noise
    assert gate["old"]["n"] == 8 and abs(gate["old"]["delta"]) <= 1.0  # the starter's domain kept
    assert gate["summary"][0].startswith("readers: chrF") and gate["summary"][1].startswith("regression: chrF")
    assert report["published"]["served_name"] == f"{STARTER_NAME}@2"
    assert served == f"{STARTER_NAME}@2"  # readers are served the night's adapter, with no name to pass
    assert report["listing"]["active"] == 2
    work_dir = Path(report["run_dir"]).parents[1]
    assert (work_dir / "replay.jsonl").is_file()  # the night's corrections are replayed on later nights


def test_a_night_that_learned_nothing_is_refused_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, served = _night(tmp_path, monkeypatch, learns=False)
    assert report["outcome"] == "refused_by_gate"
    assert any(r.startswith("no_gain_beyond_noise[readers]") for r in report["gate"]["reasons"])
    assert served == f"{STARTER_NAME}@1"
    assert [v["version"] for v in report["listing"]["versions"]] == [1]  # the staged candidate was deleted
