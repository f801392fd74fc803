"""Model resolution without the real model: spec parsing, errors, the cache's integrity check, atomic conversion."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from papertrans.contract import model as model_mod
from papertrans.contract.model import ModelError, embedded_model_dir, resolve_model, verify_folder


def test_local_folder_resolves_to_itself(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == tmp_path.resolve()


@pytest.mark.parametrize("spec", ["./no/such/model", "/definitely/not/here", "~/nope-papertrans-model", "a/b/c"])
def test_missing_local_path_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(spec)


def test_folder_without_config_and_plain_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model(str(tmp_path / "w.bin"))


@pytest.mark.parametrize("spec", ["Qwen/Qwen2.5-7B-Instruct", "gpt2"])
def test_anything_else_is_a_hub_id(spec: str) -> None:
    assert resolve_model(spec) == spec


def test_unknown_embedded_model_and_empty_spec(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown embedded model"):
        resolve_model("embedded:llama-9000", tmp_path)
    with pytest.raises(ModelError, match="empty"):
        resolve_model("  ")


@pytest.fixture()
def fake_conversion(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace GGUF assembly and the transformers conversion by a cheap writer; returns a log of conversions."""
    calls: list[str] = []

    def assemble(workdir: Path) -> tuple[Path, str]:
        (workdir / "m.gguf").write_bytes(b"gguf")
        return workdir, "m.gguf"

    def convert(folder: Path, gguf_name: str, out: Path) -> None:
        calls.append(gguf_name)
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"model_type": "toy"}))
        (out / "model.safetensors").write_bytes(b"\0" * 1000)

    monkeypatch.setitem(model_mod.EMBEDDED_MODELS, "toy", assemble)
    monkeypatch.setattr(model_mod, "_gguf_to_safetensors", convert)
    return calls


def test_embedded_model_is_converted_once_and_reused(tmp_path: Path, fake_conversion: list[str]) -> None:
    first = resolve_model("embedded:toy", tmp_path)
    assert first == embedded_model_dir("toy", tmp_path) and verify_folder(Path(first))
    assert resolve_model("embedded:toy", tmp_path) == first
    assert fake_conversion == ["m.gguf"]
    # nothing but the model folder and its lock is left in the cache (the temp folder was renamed or removed)
    assert sorted(p.name for p in Path(first).parent.iterdir() if not p.name.endswith(".lock")) == [Path(first).name]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path: Path, fake_conversion: list[str], damage: str) -> None:
    folder = Path(resolve_model("embedded:toy", tmp_path))
    weights = folder / "model.safetensors"
    if damage == "flip":
        weights.write_bytes(b"\1" + weights.read_bytes()[1:])
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:10])
    elif damage == "delete":
        weights.unlink()
    else:
        (folder / "papertrans-manifest.json").write_text("{not json")
    assert not verify_folder(folder)
    assert resolve_model("embedded:toy", tmp_path) == folder
    assert verify_folder(folder)
    assert len(fake_conversion) == 2


def test_concurrent_first_use_converts_once(tmp_path: Path, fake_conversion: list[str]) -> None:
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolve_model("embedded:toy", tmp_path))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(map(str, results))) == 1 and len(results) == 4
    assert fake_conversion == ["m.gguf"]


def test_failed_conversion_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(workdir: Path) -> tuple[Path, str]:
        raise OSError("disk full")

    monkeypatch.setitem(model_mod.EMBEDDED_MODELS, "toy", broken)
    with pytest.raises(ModelError, match="disk full"):
        resolve_model("embedded:toy", tmp_path)
    assert not embedded_model_dir("toy", tmp_path).exists()
    assert [p for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []
