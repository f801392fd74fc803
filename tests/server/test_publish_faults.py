"""A publish that fails midway leaves the active version serving (issue 12): the copy into the adapter store fails
(disk full) before the server hears of it, or the real engine refuses a version whose weights are garbage."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import pytest

from papertrans.rl.publish import publish
from papertrans.server.app import create_app
from tests.server._lora import make_random_lora
from tests.server.conftest import ADMIN, make_adapter, make_settings, serve


class RecordingClient:
    """Stands where the HTTP client would be; any call means the server was told about a half-copied adapter."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        raise AssertionError(f"the server must not be called: {name}")


def test_disk_full_during_the_copy_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = make_adapter(tmp_path, "trained")
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 4096)
    store = tmp_path / "store"
    real_copy = shutil.copy2

    def copy_then_fail(src: str, dst: str, **kw: Any) -> Any:
        if str(src).endswith(".safetensors"):
            Path(dst).write_bytes(b"\0" * 100)  # half a file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst, **kw)

    real_copytree = shutil.copytree
    monkeypatch.setattr(shutil, "copytree", lambda src, dst, **kw: real_copytree(src, dst, copy_function=copy_then_fail))
    client = RecordingClient()
    with pytest.raises(OSError, match="No space left"):  # copytree reports it as shutil.Error (an OSError)
        publish(client, adapter, "d2l", store)
    assert client.calls == []
    assert not [p for p in store.rglob("*") if p.is_file()], "no half copy is left in the adapter store"


@pytest.mark.engine
async def test_garbage_weights_are_refused_and_the_active_version_keeps_serving(
    real_engine: Any, tmp_path: Path
) -> None:
    from papertrans.contract.model import resolve_model

    settings = make_settings(tmp_path)
    store = settings.adapter_dir
    make_random_lora(Path(resolve_model(settings.model, settings.cache_dir)), store / "good", seed=1)
    bad = store / "bad"
    shutil.copytree(store / "good", bad)
    (bad / "adapter_model.safetensors").write_bytes(b"this is not a safetensors file" * 100)
    async with serve(create_app(settings, engine=real_engine)) as c:
        assert (await c.post("/adapters/flt/versions", json={"folder": "good"}, headers=ADMIN)).status_code == 201
        assert (await c.post("/adapters/flt/activate", json={"version": 1}, headers=ADMIN)).status_code == 200
        r = await c.post("/adapters/flt/versions", json={"folder": "bad"}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["error"] == "adapter_load_failed", r.text
        listing = (await c.get("/adapters", headers=ADMIN)).json()
        assert listing[0]["active"] == 1 and [v["version"] for v in listing[0]["versions"]] == [1]
        t = await c.post("/translate", json={"markdown": "The model reads $x$.", "adapter": "flt"})
        assert t.status_code == 200 and t.json()["adapter"] == "flt@1"
        health = await c.get("/health")
        assert health.status_code == 200 and health.json()["engine"]["state"] == "ok"
