"""TMX import and export through the HTTP API (fake engine, SQLite and PostgreSQL): imported pairs answer
``/translate`` with status ``memory`` and no engine request; the admin key guards both ends; bad files are 4xx with
a reason; rejected units are reported, never stored; corrections win over imported entries; import → export gives
the same units with their placeholders as ``<ph>``; fuzzy matches reach the review page's suggestions, never the
prompt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from papertrans import protect
from papertrans.contract.tmx import MAX_TMX_BYTES, Inline, parse_tmx
from papertrans.server.app import create_app
from papertrans.server.engine.fake import FakeEngine, item_of
from papertrans.server.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "d2l_sample.tmx"
ADMIN = {"X-Admin-Key": "tm-admin"}
UNITS = parse_tmx(SAMPLE.read_bytes()).units


@asynccontextmanager
async def _served(settings: Settings, engine: FakeEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings.admin_key = ADMIN["X-Admin-Key"]
    app = create_app(settings, engine=engine)
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait_for(started.wait(), 60)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client
    finally:
        stop.set()
        await task


def _recording() -> tuple[FakeEngine, list[str]]:
    prompts: list[str] = []

    def source_of(prompt: str) -> str:
        prompts.append(prompt)
        return item_of(prompt)

    return FakeEngine(source_of=source_of), prompts


def _words(unit: Any) -> str:
    """A run of the unit's English that its masked text holds too (the longest text part's first 40 characters)."""
    return max((p for p in unit.source if isinstance(p, str)), key=len).strip()[:40]


async def _import(client: httpx.AsyncClient, data: bytes, **headers: str) -> httpx.Response:
    return await client.post(
        "/memory/import", content=data, headers={"content-type": "application/xml", **ADMIN, **headers}
    )


async def _translate(client: httpx.AsyncClient, markdown: str) -> dict[str, Any]:
    r = await client.post("/translate", json={"markdown": markdown})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _tmx(en: str, zh: str) -> bytes:
    return (
        '<tmx version="1.4"><header srclang="en"/><body><tu><tuv xml:lang="en"><seg>'
        + en
        + '</seg></tuv><tuv xml:lang="zh-CN"><seg>'
        + zh
        + "</seg></tuv></tu></body></tmx>"
    ).encode()


async def test_imported_pairs_answer_translate_as_memory(settings: Settings) -> None:
    engine = FakeEngine()
    async with _served(settings, engine) as client:
        r = await _import(client, SAMPLE.read_bytes(), **{"x-filename": "d2l_sample.tmx"})
        assert r.status_code == 201, r.text
        assert r.json() == {"units": 12, "added": 12, "replaced": 0, "rejected_count": 0, "rejected": []}
        doc = "\n\n".join(u.source_text() for u in UNITS) + "\n\nA last paragraph nobody translated before.\n"
        out = await _translate(client, doc)
        segments = out["segments"]
        assert [s["status"] for s in segments] == ["memory"] * 12 + ["ok"]
        assert [s["translation"] for s in segments[:12]] == [u.target_text() for u in UNITS]
        # no engine request for a remembered segment (requests for other things, e.g. terms, may come and go)
        texts = [r.source for r in engine.requests]
        assert not [u for u in UNITS if any(_words(u) in t for t in texts)]
        assert any("A last paragraph" in t for t in texts)
        again = await _import(client, SAMPLE.read_bytes())
        assert again.json()["added"] == 0 and again.json()["replaced"] == 12


async def test_the_admin_key_guards_import_and_export(settings: Settings) -> None:
    async with _served(settings, FakeEngine()) as client:
        r = await client.post("/memory/import", content=SAMPLE.read_bytes())
        assert r.status_code == 401 and r.json()["error"] == "admin_key_missing"
        r = await client.post("/memory/import", content=SAMPLE.read_bytes(), headers={"X-Admin-Key": "wrong"})
        assert r.status_code == 403 and r.json()["error"] == "admin_key_invalid"
        r = await client.get("/memory/export")
        assert r.status_code == 401
        assert (await client.get("/memory/export", headers=ADMIN)).status_code == 200


async def test_bad_files_are_4xx_with_a_reason(settings: Settings) -> None:
    async with _served(settings, FakeEngine()) as client:
        cases = {
            b'<!DOCTYPE tmx [<!ENTITY x SYSTEM "file:///etc/passwd">]><tmx version="1.4"><body/></tmx>': (
                400,
                "xml_doctype",
            ),
            b'<tmx version="2.0"><header srclang="en"/><body/></tmx>': (400, "tmx_version"),
            b"<tmx": (400, "xml_invalid"),
            b'<tbx type="TBX-Basic"/>': (400, "not_tmx"),
            b"   ": (400, "empty_body"),
            b" " * (MAX_TMX_BYTES + 1): (413, "payload_too_large"),
        }
        for data, (status, code) in cases.items():
            r = await _import(client, data)
            assert (r.status_code, r.json()["error"]) == (status, code), data[:60]
        exported = await client.get("/memory/export", headers=ADMIN)
        assert parse_tmx(exported.content).units == []  # nothing was stored


async def test_rejected_units_are_reported_and_not_stored(settings: Settings) -> None:
    body = _tmx("Weights <ph>$w$</ph> and <ph>$b$</ph> are learned.", "权重 $w$ 是学到的。").replace(  # $b$ lost
        b"</body>",
        b'<tu><tuv xml:lang="en"><seg>First.\n\nSecond.</seg></tuv>'
        b'<tuv xml:lang="zh"><seg>x</seg></tuv></tu>'
        b'<tu><tuv xml:lang="en"><seg>Only English.</seg></tuv></tu></body>',
    )
    engine = FakeEngine()
    async with _served(settings, engine) as client:
        r = await _import(client, body)
        assert r.status_code == 201
        report = r.json()
        assert report["added"] == 0 and report["units"] == 3
        assert sorted((x["index"], x["reason"]) for x in report["rejected"]) == [
            (0, "placeholder_mismatch"),
            (1, "not_aligned"),
            (2, "no_target"),
        ]
        out = await _translate(client, "Weights $w$ and $b$ are learned.\n")
        assert out["segments"][0]["status"] == "ok" and len(engine.requests) == 1


async def test_a_unit_of_several_blocks_gives_one_entry_per_block(settings: Settings) -> None:
    en = "## Loss <ph>$L$</ph>\n\nThe loss <ph>$L$</ph> falls.\n\n- one <ph>`x`</ph> item"
    zh = "## 损失 <ph>$L$</ph>\n\n损失 <ph>$L$</ph> 下降。\n\n- 一个 <ph>`x`</ph> 条目"
    engine = FakeEngine()
    async with _served(settings, engine) as client:
        report = (await _import(client, _tmx(en, zh))).json()
        assert (report["added"], report["rejected_count"]) == (3, 0)
        out = await _translate(client, "## Loss $L$\n\nThe loss $L$ falls.\n\n- one `x` item\n")
        assert [(s["status"], s["translation"]) for s in out["segments"]] == [
            ("memory", "损失 $L$"),
            ("memory", "损失 $L$ 下降。"),
            ("memory", "一个 `x` 条目"),
        ]
        assert out["markdown"] == "## 损失 $L$\n\n损失 $L$ 下降。\n\n- 一个 `x` 条目\n"
        assert not [r for r in engine.requests if "loss" in r.source.lower()]


async def test_a_correction_wins_over_an_imported_entry(settings: Settings) -> None:
    async with _served(settings, FakeEngine()) as client:
        await _import(client, _tmx("The loss <ph>$L$</ph> falls.", "损失 $L$ 下降。"))
        first = await _translate(client, "The loss $L$ falls.\n")
        assert first["segments"][0]["status"] == "memory"
        fix = "损失函数 $L$ 在下降。"
        r = await client.post(
            "/feedback", json={"translation_id": first["translation_id"], "segment_id": "s0", "correction": fix}
        )
        assert r.status_code == 201, r.text
        again = await _translate(client, "The loss $L$ falls.\n")
        assert again["segments"][0]["status"] == "memory" and again["segments"][0]["translation"] == fix
        units = parse_tmx((await client.get("/memory/export", headers=ADMIN)).content).units
        assert [(u.target_text(), dict(u.props)["x-papertrans-origin"]) for u in units] == [(fix, "correction")]
        assert any(isinstance(p, Inline) and p.code == "$L$" for p in units[0].target)


async def test_import_then_export_gives_the_same_units(settings: Settings) -> None:
    async with _served(settings, FakeEngine()) as client:
        assert (await _import(client, SAMPLE.read_bytes())).status_code == 201
        r = await client.get("/memory/export", headers=ADMIN)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-tmx+xml")
        assert r.headers["x-papertrans-skipped"] == "0"
        assert b'<tmx version="1.4">' in r.content and b'<ph x="1">' in r.content
        exported = parse_tmx(r.content).units
        key = [(u.source, u.target, u.source_lang, u.target_lang) for u in UNITS]
        assert [(u.source, u.target, u.source_lang, u.target_lang) for u in exported] == key
        # and the exported file imports again to the same memory
        assert (await _import(client, r.content)).json()["replaced"] == 12


async def test_a_fuzzy_match_is_a_suggestion_and_never_in_the_prompt(settings: Settings, tmp_path: Path) -> None:
    unit = UNITS[3]  # ":numref:`fig_jupyter` shows the possible output after you run the Jupyter Notebook. ..."
    near = unit.source_text().replace("The last row", "The final row")
    doc = f"{near}\n\nSomething unrelated to any memory entry, about convolutions.\n"
    bare_engine, bare_prompts = _recording()
    async with _served(Settings(data_dir=tmp_path / "bare"), bare_engine) as bare:
        await _translate(bare, doc)
    engine, prompts = _recording()
    async with _served(settings, engine) as client:
        await _import(client, SAMPLE.read_bytes())
        out = await _translate(client, doc)
        assert [s["status"] for s in out["segments"]] == ["ok", "ok"]  # not an exact match: the model translates
        assert sorted(prompts) == sorted(bare_prompts)  # the memory changed no prompt
        assert not any(unit.target_text()[:12] in p for p in prompts)
        r = await client.get(f"/translations/{out['translation_id']}/suggestions")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["threshold"] == 0.7 and list(body["suggestions"]) == ["s0"]
        hint = body["suggestions"]["s0"]
        assert 0.9 < hint["score"] < 1.0 and hint["origin"] == "import"
        assert hint["target"] == unit.target_text() and hint["source"] == unit.source_text()
        missing = await client.get("/translations/nope/suggestions")
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_translation"


def test_the_sample_is_d2l_training_data_with_placeholders() -> None:
    assert len(UNITS) == 12
    for u in UNITS:
        seg = protect.protect(u.source_text()).segments[0]
        assert seg.placeholders and [p.code for p in u.source if isinstance(p, Inline)] == list(
            seg.placeholders.values()
        )
        assert dict(u.props)["x-unit-id"].startswith("d2l-train-")
