"""The prompt template version recorded with a translation is the one of the prompts actually built: the starter's
zero-shot style for the starter, the few-shot one for the base model (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans.contract import STARTER_NAME
from papertrans.contract.prompts import FEWSHOT, ZEROSHOT, template_version
from papertrans.server import starter
from papertrans.server.app import create_app
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import make_adapter, make_settings, serve


@pytest.fixture
def zeroshot_starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the packaged starter whose metadata names the zero-shot prompt, as the real one does."""
    folder = make_adapter(tmp_path / "pkg", STARTER_NAME)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "papertrans-adapter.json").write_text(json.dumps({"method": "sft", "prompt_style": ZEROSHOT}))
    monkeypatch.setattr(starter, "starter_folder", lambda: folder)
    return folder


async def test_recorded_version_follows_the_adapters_prompt_style(tmp_path: Path, zeroshot_starter: Path) -> None:
    assert template_version(ZEROSHOT) != template_version(FEWSHOT)  # else this test could not tell them apart
    app = create_app(make_settings(tmp_path, default_adapter=STARTER_NAME), engine=FakeEngine(chat_template=False))
    async with serve(app) as c:
        recorded = {}
        for adapter in (None, "none"):  # the default (the starter), then the base model
            body = (await c.post("/translate", json={"markdown": "The model learns.", "adapter": adapter})).json()
            rec = (await c.get(f"/translations/{body['translation_id']}")).json()
            recorded[body["adapter"]] = rec["prompt_template_version"]
    assert recorded == {f"{STARTER_NAME}@1": template_version(ZEROSHOT), None: template_version(FEWSHOT)}


def test_unknown_style_has_no_version() -> None:
    with pytest.raises(ValueError, match="unknown prompt style"):
        template_version("fivefold")
