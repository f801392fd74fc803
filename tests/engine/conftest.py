"""Engine-test fixtures: random PEFT adapters for the embedded model (made once per session, in a tmp folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.contract.model import resolve_model
from papertrans.server.settings import Settings
from tests.engine._peft_lora import make_peft_loras


@pytest.fixture(scope="session")
def peft_adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    settings = Settings()
    model_dir = resolve_model(settings.model, settings.cache_dir)
    assert isinstance(model_dir, Path)
    # "small" fits max_lora_rank (16 by default); "huge" must be refused by the engine.
    return make_peft_loras(model_dir, tmp_path_factory.mktemp("loras"), {"small": 8, "huge": 64})
