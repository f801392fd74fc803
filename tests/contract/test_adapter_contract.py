"""The contract's adapter facts: the metadata file round-trips, and the shipped starter is where the contract says,
trained on the base model it names, with the prompt style it is served with."""

from __future__ import annotations

import json
from pathlib import Path

from papertrans.contract import (
    METADATA_FILE,
    STARTER_BASE_MODEL,
    AdapterMetadata,
    read_metadata,
    starter_folder,
    write_metadata,
)
from papertrans.contract.prompts import PROMPT_STYLES, ZEROSHOT


def test_metadata_round_trips_and_drops_unknown_fields(tmp_path: Path) -> None:
    meta = AdapterMetadata(method="sft", base_model="embedded:x", base_fingerprint="ab12", prompt_style=ZEROSHOT)
    path = write_metadata(tmp_path, meta)
    assert path == tmp_path / METADATA_FILE
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "from_a_newer_version": 1}))
    assert read_metadata(tmp_path) == meta
    assert read_metadata(tmp_path / "elsewhere") is None


def test_the_packaged_starter_fits_its_base_model_and_names_its_style() -> None:
    folder = starter_folder()
    assert folder is not None, "the starter adapter is package data of papertrans.contract"
    meta = read_metadata(folder)
    assert meta is not None and meta.base_model == STARTER_BASE_MODEL
    assert meta.prompt_style == ZEROSHOT and meta.prompt_style in PROMPT_STYLES
