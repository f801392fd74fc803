"""Export to TRL formats: kinds, dedupe, split by document, class balance, filters, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from papertrans import protect
from papertrans.server.settings import Settings
from papertrans.server.store import Store
from papertrans.server.store.export import export, split_of

from .conftest import PLACEHOLDERS, make_record


async def populate(store: Store, docs: int = 12) -> list[str]:
    """``docs`` documents, each with thumbs, a correction and an A/B choice; returns the translation ids."""
    ids = []
    for d in range(docs):
        rec = make_record(f"t{d}", doc_hash=f"doc-{d}", adapter="d2l" if d % 2 else None, version=1 if d % 2 else None,
                          tag=f" d{d}")
        await store.record_translation(rec)
        ids.append(rec.id)
        fb = {"translation_id": rec.id, "rating": None, "correction": None, "correction_masked": None, "comment": None, "who": None,
                  "idempotency_key": None, "req_hash": "h"}
        await store.add_feedback(**{**fb, "segment_id": "s0", "rating": "up"})
        await store.add_feedback(**{**fb, "segment_id": "s0", "rating": "up"})  # the same vote twice: one row out
        await store.add_feedback(**{**fb, "segment_id": "s1", "rating": "down"})
        corr = f"更好的 $x$ 译文{d} :cite:`Bahdanau.2014`。"
        await store.add_feedback(**{**fb, "segment_id": "s1", "correction": corr,
                                    "correction_masked": protect.mask(corr, PLACEHOLDERS)})
        seg = rec.segments[0]
        cmp = (await store.add_comparison(
            {"translation_id": rec.id, "segment_id": "s0", "prompt": seg.prompt,
             "a_label": "base", "a_adapter": None, "a_adapter_version": None, "a_output": seg.output,
             "a_text": seg.translation, "b_label": "base:sample", "b_adapter": None, "b_adapter_version": None,
             "b_output": f"样本{d} ⟦1⟧ ⟦2⟧。", "b_text": "样本 $x$ :cite:`Bahdanau.2014`。"},
            who=None, idempotency_key=None, req_hash="h")).body
        await store.choose(cmp["id"], "b" if d % 3 else "same", who=None, idempotency_key=None, req_hash="h")
    return ids


async def test_kinds_formats_and_balance(store: Store) -> None:
    await populate(store)
    kto = await export(store, "kto")
    assert {tuple(sorted(k for k in r if k not in ("meta", "placeholders", "glossary"))) for r in kto.rows} == {
        ("completion", "label", "prompt")}
    assert kto.summary["desirable"] == 12 and kto.summary["undesirable"] == 12  # duplicate up-votes collapsed
    assert kto.summary["suggested"] == {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    assert all(r["placeholders"] == list(PLACEHOLDERS) for r in kto.rows)

    dpo = await export(store, "dpo")
    assert dpo.summary["sources"] == {"correction": 12, "ab": 8}  # "same" gives no pair
    corr = next(r for r in dpo.rows if r["meta"]["segment_id"] == "s1")
    assert corr["chosen"].startswith("更好的 ⟦1⟧") and corr["rejected"].startswith("注意力 ⟦1⟧ 第1号")
    assert corr["prompt"].endswith("Chinese:")  # the prompt exactly as stored
    ab = next(r for r in dpo.rows if r["meta"]["segment_id"] == "s0")
    assert ab["chosen"].startswith("样本") and ab["rejected"].startswith("注意力")

    sft = await export(store, "sft")
    assert sft.summary["sources"] == {"thumbs_up": 12, "correction": 12}
    prompts = await export(store, "prompts")
    assert prompts.summary["rows"] == 24 and sum("reference" in r for r in prompts.rows) == 12


async def test_split_is_by_document(store: Store) -> None:
    await populate(store, docs=30)
    rows = (await export(store, "dpo")).rows
    by_doc: dict[str, set[str]] = {}
    for r in rows:
        by_doc.setdefault(r["meta"]["doc_hash"], set()).add(r["meta"]["split"])
    assert all(len(s) == 1 for s in by_doc.values())
    assert {s for v in by_doc.values() for s in v} == {"train", "eval"}
    assert all(r["meta"]["split"] == split_of(r["meta"]["doc_hash"]) for r in rows)
    ev = await export(store, "dpo", split="eval")
    tr = await export(store, "dpo", split="train")
    assert ev.summary["rows"] + tr.summary["rows"] == len(rows) and ev.summary["rows"] > 0


async def test_filters(store: Store) -> None:
    await populate(store, docs=4)
    only = await export(store, "kto", adapter="d2l@1")
    assert only.rows and {r["meta"]["adapter"] for r in only.rows} == {"d2l@1"}
    base = await export(store, "kto", adapter="base")
    assert {r["meta"]["adapter"] for r in base.rows} == {"base"}
    future = await export(store, "kto", since=datetime.now(UTC) + timedelta(hours=1))
    assert future.rows == []


async def test_cli_writes_jsonl(store: Store, settings: Settings, tmp_path: Path, capsys: Any) -> None:
    await populate(store, docs=3)
    from papertrans.cli import main

    out = tmp_path / "kto.jsonl"
    args = ["export", "--kind", "kto", "-o", str(out), "--data-dir", str(settings.data_dir)]
    if settings.store.url:
        args += ["--store-url", settings.store.url]
    import asyncio

    code = await asyncio.to_thread(main, args)
    assert code == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 6 and all(isinstance(r["label"], bool) for r in lines)
    summary = json.loads(capsys.readouterr().out)
    assert summary["desirable"] == 3 and summary["undesirable"] == 3


async def test_rows_from_needs_review_segments_are_marked(store: Store) -> None:
    from datasets import Dataset

    from papertrans.rl.datasets import reward_columns, validate_rows

    rec = make_record("t-review", doc_hash="doc-review")
    flagged = rec.segments[1]
    flagged.status, flagged.reasons = "needs_review", ["omission", "markup_changed"]
    await store.record_translation(rec)
    fb = {"translation_id": rec.id, "rating": None, "correction": None, "correction_masked": None, "comment": None,
          "who": None, "idempotency_key": None, "req_hash": "h"}
    await store.add_feedback(**{**fb, "segment_id": "s1", "rating": "up"})  # on the flagged segment: still a positive
    await store.add_feedback(**{**fb, "segment_id": "s0", "rating": "down"})
    corr = "完整的 $x$ 译文 :cite:`Bahdanau.2014`。"
    await store.add_feedback(**{**fb, "segment_id": "s1", "correction": corr,
                                "correction_masked": protect.mask(corr, PLACEHOLDERS)})

    def marked(rows: list[dict[str, Any]]) -> dict[str, tuple[bool, list[str]]]:
        return {r["meta"]["segment_id"]: (r["meta"]["needs_review"], r["meta"]["review_reasons"]) for r in rows}

    mark = (True, ["omission", "markup_changed"])
    sft = await export(store, "sft")
    thumbs = {r["meta"]["segment_id"]: r for r in sft.rows if r["completion"] == rec.segments[1].output}
    assert set(thumbs) == {"s1"}  # the flagged output rated up is an SFT row, marked
    assert marked([thumbs["s1"]]) == {"s1": mark}
    assert sft.summary["needs_review"] == 2  # its thumbs-up row and its correction
    kto = await export(store, "kto")
    assert marked(kto.rows) == {"s0": (False, []), "s1": mark}
    assert kto.summary["needs_review"] == 1 and {r["meta"]["segment_id"]: r["label"] for r in kto.rows} == {
        "s0": False, "s1": True}
    dpo = await export(store, "dpo")
    assert marked(dpo.rows) == {"s1": mark} and dpo.rows[0]["rejected"] == flagged.output
    prompts = await export(store, "prompts")
    assert marked(prompts.rows) == {"s0": (False, []), "s1": mark}

    # The mark lives in meta: the training loader's checks pass, and a mixed file keeps one column schema.
    for method, rows in (("sft", sft.rows), ("kto", kto.rows), ("dpo", dpo.rows)):
        validate_rows(method, rows)
    assert all(set(reward_columns(r)) == {"reference", "placeholders", "glossary", "source"} for r in prompts.rows)
    data = Dataset.from_list(kto.rows)
    assert sorted((m["needs_review"], m["review_reasons"]) for m in data["meta"]) == [(False, []), mark]
