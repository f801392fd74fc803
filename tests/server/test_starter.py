"""The shipped starter adapter and ``default_adapter``: registered + activated at start, used for requests that name
no adapter, served with the prompt style recorded in its metadata; ``none`` serves the base model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from papertrans.server import starter
from papertrans.server.app import create_app
from papertrans.server.engine import AdapterRef, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import ADMIN, make_adapter, make_settings, serve

DOC = "The model learns."


class PromptRecorder(FakeEngine):
    """A fake base-model engine (no chat template) that keeps every prompt it was given."""

    def __init__(self) -> None:
        super().__init__(chat_template=False)
        self.prompts: list[tuple[str, str | None]] = []

    async def generate(self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None,
                       request_id: str) -> Generation:
        self.prompts.append((prompt, adapter.name if adapter else None))
        return await super().generate(prompt, options, adapter=adapter, request_id=request_id)


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the packaged starter folder (PEFT files + metadata naming the zero-shot prompt)."""
    folder = make_adapter(tmp_path / "pkg", "papertrans-zh")
    (folder / "adapter_model.safetensors").write_bytes(b"weights-v1")
    (folder / "papertrans-adapter.json").write_text(json.dumps({"method": "sft", "prompt_style": "zeroshot"}))
    monkeypatch.setattr(starter, "starter_folder", lambda: folder)
    return folder


async def _translate(c: Any, **extra: Any) -> dict[str, Any]:
    r = await c.post("/translate", json={"markdown": DOC, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_starter_is_installed_activated_and_the_default(tmp_path: Path, packaged: Path) -> None:
    engine = PromptRecorder()
    app = create_app(make_settings(tmp_path, default_adapter="papertrans-zh"), engine=engine)
    async with serve(app) as c:
        listed = (await c.get("/adapters", headers=ADMIN)).json()
        entry = next(a for a in listed if a["name"] == "papertrans-zh")
        assert entry["active"] == 1 and entry["versions"][0]["folder"].startswith("starter/papertrans-zh-")
        body = await _translate(c)
        assert body["adapter"] == "papertrans-zh@1"
        prompt, used = engine.prompts[-1]
        assert used == "papertrans-zh@1" and prompt.startswith("把英文翻译成中文") and prompt.count("英文：") == 1
        base = await _translate(c, adapter="none")
        assert base["adapter"] is None
        prompt, used = engine.prompts[-1]
        assert used is None and prompt.count("英文：") > 1  # the base model keeps its few-shot prompt
    # a restart finds the same content registered: no second version
    again = create_app(make_settings(tmp_path, default_adapter="papertrans-zh"), engine=PromptRecorder())
    async with serve(again) as c:
        assert (await _translate(c))["adapter"] == "papertrans-zh@1"


async def test_new_starter_content_becomes_a_new_version(tmp_path: Path, packaged: Path) -> None:
    async with serve(create_app(make_settings(tmp_path, default_adapter="papertrans-zh"), engine=FakeEngine())) as c:
        assert (await _translate(c))["adapter"] == "papertrans-zh@1"
    (packaged / "adapter_model.safetensors").write_bytes(b"weights-v2")
    async with serve(create_app(make_settings(tmp_path, default_adapter="papertrans-zh"), engine=FakeEngine())) as c:
        assert (await _translate(c))["adapter"] == "papertrans-zh@2"


@pytest.mark.parametrize("setting", [None, "none"])
async def test_base_model_without_the_starter(tmp_path: Path, packaged: Path, setting: str | None) -> None:
    # An engine handed to create_app gets the starter only when default_adapter names it; "none" never does.
    engine = FakeEngine()
    async with serve(create_app(make_settings(tmp_path, default_adapter=setting), engine=engine)) as c:
        assert (await _translate(c))["adapter"] is None
        assert await engine.list_adapters() == []


def test_default_resolution() -> None:
    assert starter.resolve_default_adapter("none", starter.STARTER_BASE_MODEL) is None
    assert starter.resolve_default_adapter("mine", "some/other-model") == "mine"
    assert starter.resolve_default_adapter(None, "some/other-model") is None  # the starter fits one base model only
