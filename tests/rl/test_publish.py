"""Publish an adapter to a running server while it translates, then roll back: no request fails.

The server runs in-process (uvicorn in a thread) on the fake engine with a per-request delay, so translations are in
flight while the adapter is registered, activated and rolled back. Readers translate both through the adapter's name
(the alias that publish and rollback flip) and on the base model. The subject is the adapter plumbing; the engine
engineer covers the real engine's hot-swap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from papertrans.clients import Client
from papertrans.rl.publish import PublishError, publish, rollback
from papertrans.server.app import create_app
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.settings import Settings

ADMIN_KEY = "rl-admin"


def _adapter(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA", "lora_alpha": 16}))
    (path / "adapter_model.safetensors").write_bytes(b"fake weights: the fake engine never reads them")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = Settings(data_dir=tmp_path / "data", admin_key=ADMIN_KEY)
    app = create_app(settings, engine=FakeEngine(delay=0.05))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (srv.started and srv.servers):
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


def test_publish_while_translating_then_rollback(server: tuple[str, Settings], tmp_path: Path) -> None:
    url, settings = server
    failures: list[str] = []
    done = {"d2l": 0, None: 0}
    stop = threading.Event()

    def reader(adapter: str | None) -> None:
        with Client(url, timeout=60) as c:
            while not stop.is_set():
                try:
                    result = c.translate("The attention mechanism $a_t$ lets the model focus.\n\nSee :cite:`X.2020`.",
                                         adapter=adapter)
                    assert "$a_t$" in result.markdown and ":cite:`X.2020`" in result.markdown
                    done[adapter] += 1
                except Exception as exc:  # any failure is the test's failure
                    failures.append(f"{adapter}: {exc!r}")

    with Client(url, admin_key=ADMIN_KEY, timeout=60) as admin:
        first = publish(admin, _adapter(tmp_path, "v1"), "d2l", settings.adapter_dir)
        readers = [threading.Thread(target=reader, args=(a,)) for a in ("d2l", "d2l", None)]
        for t in readers:
            t.start()
        try:
            time.sleep(0.3)  # requests through the alias are in flight before the swap
            second = publish(admin, _adapter(tmp_path, "v2"), "d2l", settings.adapter_dir)
            assert (first.version, second.version) == (1, 2)
            assert second.previous_active == 1
            listing = {a["name"]: a for a in admin.adapters()}
            assert listing["d2l"]["active"] == 2
            # The published copy lives inside the server's store, never at the caller's path.
            assert (settings.adapter_dir / second.folder / "adapter_config.json").is_file()
            time.sleep(0.3)
            back = rollback(admin, "d2l")
            assert back["version"] == 1
            assert {a["name"]: a for a in admin.adapters()}["d2l"]["active"] == 1
            time.sleep(0.3)
        finally:
            stop.set()
            for t in readers:
                t.join(timeout=60)
    assert not failures, failures
    assert done["d2l"] > 0 and done[None] > 0, done


def test_publish_refuses_a_folder_that_is_not_an_adapter(server: tuple[str, Settings], tmp_path: Path) -> None:
    url, settings = server
    empty = tmp_path / "empty"
    empty.mkdir()
    with Client(url, admin_key=ADMIN_KEY) as admin, pytest.raises(Exception, match="not_an_adapter"):
        publish(admin, empty, "d2l", settings.adapter_dir)
    assert not any(settings.adapter_dir.glob("d2l/*")) if settings.adapter_dir.exists() else True


def test_failed_smoke_leaves_previous_version_active(server: tuple[str, Settings], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url, settings = server
    with Client(url, admin_key=ADMIN_KEY) as admin:
        publish(admin, _adapter(tmp_path, "good"), "d2l", settings.adapter_dir)

        def broken(client: object, adapter: str) -> None:
            raise PublishError("smoke_failed", f"simulated failure through {adapter}")

        monkeypatch.setattr("papertrans.rl.publish._smoke", broken)
        with pytest.raises(PublishError, match="activation_failed"):
            publish(admin, _adapter(tmp_path, "bad"), "d2l", settings.adapter_dir)
        entry = {a["name"]: a for a in admin.adapters()}["d2l"]
        assert entry["active"] == 1
        assert [v["version"] for v in entry["versions"]] == [1]
