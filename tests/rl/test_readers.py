"""Simulated readers (rl/readers.py) against ``create_app`` on the fake engine, through the HTTP client.

The fake engine "translates" by swapping a few English words, so text-only chrF against the human translation is low
for every segment: thresholds pick the mix. An adapter ``good`` of :class:`Knowing` answers with the human
translation, so A/B choices between it and the base model have a right answer.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from papertrans.clients import AsyncClient
from papertrans.rl.corpus import parallel_rows
from papertrans.rl.datasets import load_rows
from papertrans.rl.readers import ReadersConfig, aligned_units, read_night, readers_help
from papertrans.server.app import create_app
from papertrans.server.engine import AdapterRef, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import ADMIN, make_adapter, make_settings, serve

UNITS = load_rows(Path(__file__).resolve().parents[1] / "data" / "d2l_en_zh.jsonl")


class Knowing(FakeEngine):
    """The fake engine, except that adapters named ``good@...`` answer with the human translation (masked)."""

    def __init__(self) -> None:
        super().__init__()
        rows, _ = parallel_rows(UNITS, style=None)
        self.known = {r["source"].strip(): r["reference"] for r in rows}

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        source = self.source_of(prompt).strip()
        if adapter is not None and adapter.name.startswith("good@") and source in self.known:
            text = self.known[source]
            return Generation(text=text, tokens_in=1, tokens_out=len(text), finish_reason="stop")
        return await super().generate(prompt, options, adapter=adapter, request_id=request_id)


async def _night(tmp_path: Path, cfg: ReadersConfig, engine: FakeEngine | None = None) -> tuple[Any, dict[str, Any]]:
    """One night on a fresh app; returns the readers' report and the server's feedback statistics."""
    app = create_app(make_settings(tmp_path), engine=engine or FakeEngine())
    async with serve(app) as admin:
        if isinstance(engine, Knowing):
            make_adapter(tmp_path / "data" / "adapters", "good-1")
            r = await admin.post("/adapters/good/versions", json={"folder": "good-1"}, headers=ADMIN)
            assert r.status_code == 201, r.text
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient("http://testserver", transport=transport, timeout=600) as client:
            report = await read_night(client, UNITS, cfg)
        stats = (await admin.get("/stats/feedback")).json()
    return report, stats


def test_every_field_has_help() -> None:
    assert all(text.strip() for text in readers_help().values())


def test_documents_cover_the_volume_reproducibly() -> None:
    docs = aligned_units(UNITS, 40, seed=3)
    assert docs == aligned_units(UNITS, 40, seed=3)
    assert docs != aligned_units(UNITS, 40, seed=4)
    segments = sum(len(parallel_rows([u], style=None)[0]) for u in docs)
    assert 40 <= segments < 40 + max(len(parallel_rows([u], style=None)[0]) for u in docs)


async def test_volume_mix_and_the_store_agree(tmp_path: Path) -> None:
    # fake outputs score chrF 0..~20 against the human translations: correct under 3, thumbs up from 8
    cfg = ReadersConfig(segments=30, correct_below=3.0, thumbs_up_from=8.0, compare_share=0.2, seed=1)
    report, stats = await _night(tmp_path, cfg)
    c = report.counts
    assert c["segments"] == 30
    assert c["corrections"] + c["up"] + c["down"] == 30
    assert c["corrections"] > 0 and c["up"] > 0 and c["down"] > 0, c
    feedback = [r for r in report.reactions if r.kind != "comparison"]
    for r in feedback:  # each reaction follows its rule
        bad = r.status in ("needs_review", "fallback") or r.chrf < 3.0
        assert r.kind == ("correction" if bad else "up" if r.chrf >= 8.0 else "down"), r
    assert c["comparisons"] + c["comparisons_refused"] == 6  # exactly 20 % of 30
    assert c["choice_a"] + c["choice_b"] + c["choice_same"] == c["comparisons"]
    totals = stats["totals"]
    assert totals["corrections"] == c["corrections"]
    assert totals["up"] == c["up"] and totals["down"] == c["down"] + c["corrections"]  # corrections carry a down
    assert totals["comparisons_judged"] == c["comparisons"]


async def test_noise_share_is_honoured(tmp_path: Path) -> None:
    cfg = ReadersConfig(segments=24, correct_below=0.0, thumbs_up_from=8.0, wrong_thumbs=0.25, seed=2)
    report, stats = await _night(tmp_path, cfg)
    thumbs = [r for r in report.reactions if r.kind in ("up", "down")]
    # only the segments the server flagged (needs_review, fallback) are corrected at correct_below 0
    assert report.counts["corrections"] == report.counts["flagged"] == 24 - len(thumbs)
    assert len(thumbs) >= 12
    wrong = [r for r in thumbs if r.wrong]
    assert len(wrong) == report.counts["wrong_thumbs"] == round(0.25 * len(thumbs))
    for r in thumbs:  # a wrong thumb is the opposite of what the output deserved
        honest = "up" if r.chrf >= 8.0 else "down"
        assert (r.kind != honest) == r.wrong, r
    assert stats["totals"]["up"] + stats["totals"]["down"] == 24


async def test_same_seed_same_night(tmp_path: Path) -> None:
    cfg = ReadersConfig(segments=20, correct_below=3.0, thumbs_up_from=8.0, wrong_thumbs=0.2, compare_share=0.25)
    first, _ = await _night(tmp_path / "a", cfg)
    again, _ = await _night(tmp_path / "b", cfg)
    other, _ = await _night(tmp_path / "c", ReadersConfig(**{**cfg.__dict__, "seed": 9}))

    # translation ids are new on every server, and the server shows a comparison's variants in a random left/right
    # order (blind), so a reader's "a"/"b" follows that order: what must repeat is the verdict from the first
    # variant's side (good/same/bad)
    def key(report: Any) -> list[tuple[Any, ...]]:
        return [(r.kind, r.unit, r.segment_id, r.chrf, r.wrong, r.gsb) for r in report.reactions]

    def counts(report: Any) -> dict[str, int]:
        c = {k: v for k, v in report.counts.items() if k not in ("choice_a", "choice_b")}
        return {**c, "choice_a_or_b": report.counts["choice_a"] + report.counts["choice_b"]}

    assert key(first) == key(again) and counts(first) == counts(again)
    assert any(r.kind == "comparison" and r.gsb in ("good", "bad") for r in first.reactions)  # the check has teeth
    assert key(other) != key(first)


async def test_choices_prefer_the_human_translation(tmp_path: Path) -> None:
    # readers' documents on the base model; each comparison: the adapter that knows the answer vs the base model
    cfg = ReadersConfig(segments=12, correct_below=0.0, compare_share=1.0, compare_variants=["good@1", "base"])
    report, stats = await _night(tmp_path, cfg, Knowing())
    c = report.counts
    assert c["comparisons"] == 12 and c["good"] == 12 and c["bad"] == 0, c
    assert stats["adapters"]["good@1"]["good"] == 12
    cfg = ReadersConfig(
        segments=12, correct_below=0.0, compare_share=1.0, compare_variants=["good@1", "base"], wrong_choices=0.5
    )
    noisy, _ = await _night(tmp_path / "noisy", cfg, Knowing())
    assert noisy.counts["bad"] == noisy.counts["wrong_choices"] == 6


async def _corrections(data: Path) -> list[tuple[str, str]]:
    """(masked source, masked correction) of every correction in the store, from the training export."""
    from papertrans.server.engine.fake import item_of
    from papertrans.server.store import open_store
    from papertrans.server.store.export import export

    store = await open_store(make_settings(data))
    try:
        rows = (await export(store, "sft")).rows
    finally:
        await store.close()
    return [(item_of(r["prompt"]).strip(), r["completion"].strip()) for r in rows if r["meta"] and r.get("reference")]


@pytest.mark.parametrize("noise", [False, True])
async def test_corrections_are_the_human_translation_unless_a_noise_night(tmp_path: Path, noise: bool) -> None:
    every = {"segments": 16, "correct_below": 101.0}  # every segment corrected
    cfg = ReadersConfig.noise_night(**every) if noise else ReadersConfig(**every)
    report, stats = await _night(tmp_path, cfg)
    assert report.counts["corrections"] == 16 and stats["totals"]["corrections"] == 16  # the server took all 16
    assert report.counts["shuffled_corrections"] == (16 if noise else 0)
    known = Knowing().known
    stored = await _corrections(tmp_path)
    assert len(stored) == 16
    right = Counter(known[source] == correction.strip() for source, correction in stored)
    assert right == ({False: 16} if noise else {True: 16})


@pytest.mark.parametrize("share", [0.0, 1.0])
async def test_correct_share(tmp_path: Path, share: float) -> None:
    cfg = ReadersConfig(segments=10, correct_below=101.0, correct_share=share)
    report, _ = await _night(tmp_path, cfg)
    assert report.counts["corrections"] == round(10 * share)
    assert report.counts["down"] == 10 - round(10 * share)


async def test_a_correction_the_server_refuses_leaves_a_thumbs_down(tmp_path: Path) -> None:
    """The mldocs train split has four segments like this one: a literal ``[`` (``[!TIP]``) beside a link's ``[``,
    so the restored human translation holds one ``[`` more than the protected spans; the server answers 422
    placeholder_mismatch, and the reader, as a person would, is left with a thumbs down (night 2 of the loop
    benchmark died on it before)."""
    units = [
        {"id": "links", "en": "> [!TIP]\n> Read the [guide](https://example.org/guide) before you start.",
         "zh": "> [!TIP]\n> 开始之前请先阅读[指南](https://example.org/guide)。"},
        UNITS[0],
    ]
    cfg = ReadersConfig(segments=2, correct_below=100.0, compare_share=0.0, seed=0)
    app = create_app(make_settings(tmp_path), engine=FakeEngine())
    async with serve(app) as admin:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient("http://testserver", transport=transport, timeout=600) as client:
            report = await read_night(client, units, cfg)
        stats = (await admin.get("/stats/feedback")).json()
    c = report.counts
    assert c["corrections_refused"] >= 1 and c["wrong_thumbs"] == 0
    refused = [r for r in report.reactions if r.unit == "links"]
    assert refused and all(r.kind == "down" for r in refused)
    assert stats["totals"]["corrections"] == c["corrections"]
    assert stats["totals"]["down"] == c["down"] + c["corrections"]
