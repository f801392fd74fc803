"""What stays as it is, through the server (issue 21): a paper's references section and byline come back byte for
byte and cost no engine request; the fake engine counts the requests and records every prompt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from papertrans import protect
from papertrans.server.engine.fake import FakeEngine, item_of
from papertrans.server.jobs import request_from_json, request_json
from papertrans.server.settings import Settings
from papertrans.server.translator import TranslateInput
from tests.server.conftest import serve

PAPER = Path(__file__).resolve().parents[1] / "data" / "papers" / "sparse-attention-paper.md"
# one request per segment: no retry rung, no terminology requests (their own step), no output cache (the same
# segments translated twice in one test would be answered from it)
ONE_PASS: dict[str, Any] = {"max_retries": 0, "terminology": False, "cache": False}


def _recording() -> tuple[FakeEngine, list[str]]:
    prompts: list[str] = []

    def source_of(prompt: str) -> str:
        prompts.append(prompt)
        return item_of(prompt)

    return FakeEngine(source_of=source_of), prompts


def _kept_lines(text: str) -> list[str]:
    """The non-blank lines of the paper's byline and references section (as the source writes them)."""
    head, _, rest = text.partition("## Abstract")
    refs = rest[rest.index("## References") : rest.index("## Appendix")]
    byline = head.split("\n", 1)[1]
    return [ln.strip() for ln in (byline + refs).splitlines() if ln.strip()]


async def test_references_and_byline_cost_no_request(app_factory: Callable[..., Litestar]) -> None:
    paper = PAPER.read_text(encoding="utf-8")
    engine, prompts = _recording()
    async with serve(app_factory(engine, translate=ONE_PASS)) as c:
        r = await c.post("/translate", json={"markdown": paper})
    assert r.status_code == 200, r.text
    body = r.json()
    kept = protect.protect(paper, verbatim=protect.Verbatim())
    # 26 segments without the option; the byline (2 paragraphs) and the references (heading + 3 items) are 6 of them
    assert len(protect.protect(paper).segments) == 26
    assert len(kept.segments) == 20
    assert len(engine.requests) == 20 == body["stats"]["segments"] == len(body["segments"])
    assert body["stats"]["verbatim_blocks"] == 3
    for block in kept.verbatim:
        assert block.text in body["markdown"]
    refs = paper[paper.index("## References") : paper.index("## Appendix")]
    assert refs in body["markdown"]
    lines = _kept_lines(paper)
    assert len(lines) == 12
    for prompt in prompts:
        for line in lines:
            assert line not in prompt, line
        assert "Beltagy" not in prompt and "Okafor" not in prompt and "ed.ac.uk" not in prompt
    # what is around them is translated as before: the appendix after the references, the footnote, the captions
    assert "## 译：Appendix" in body["markdown"] and "[^1]: 译：" in body["markdown"]
    assert "译：Figure 1:" in body["markdown"]


async def test_settings_switch_references_off(app_factory: Callable[..., Litestar]) -> None:
    paper = PAPER.read_text(encoding="utf-8")
    engine, prompts = _recording()
    async with serve(app_factory(engine, translate={**ONE_PASS, "keep_references": False})) as c:
        body = (await c.post("/translate", json={"markdown": paper})).json()
    assert len(engine.requests) == 24  # the references heading and its three entries are translated again
    assert body["stats"]["verbatim_blocks"] == 2
    assert any("Beltagy" in p for p in prompts) and not any("Okafor" in p for p in prompts)


async def test_captions_option(app_factory: Callable[..., Litestar]) -> None:
    paper = PAPER.read_text(encoding="utf-8")
    engine, prompts = _recording()
    async with serve(app_factory(engine, translate={**ONE_PASS, "keep_captions": True})) as c:
        body = (await c.post("/translate", json={"markdown": paper})).json()
    assert len(engine.requests) == 17 and body["stats"]["verbatim_blocks"] == 6
    assert "\nFigure 1: The sparsity pattern of window attention with $g = 2$ global tokens.\n" in body["markdown"]
    assert not any("Figure 1:" in item_of(p) for p in prompts)


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAPERTRANS_TRANSLATE__KEEP_REFERENCES", "false")
    monkeypatch.setenv("PAPERTRANS_TRANSLATE__KEEP_CAPTIONS", "true")
    s = Settings(data_dir=tmp_path).translate
    assert (s.keep_references, s.keep_authors, s.keep_captions) == (False, True, True)
    for name in ("keep_references", "keep_authors", "keep_captions"):
        assert type(s).model_fields[name].description


async def test_a_request_chooses_for_itself(app_factory: Callable[..., Litestar]) -> None:
    paper = PAPER.read_text(encoding="utf-8")
    engine, prompts = _recording()
    async with serve(app_factory(engine, translate=ONE_PASS)) as c:
        r = await c.post("/translate", json={"markdown": paper, "keep_references": False, "keep_captions": True})
        assert r.status_code == 200, r.text
        assert len(engine.requests) == 21  # 20 - 3 captions + 4 references; the byline stays (server setting)
        assert r.json()["stats"]["verbatim_blocks"] == 5
        bad = await c.post("/translate", json={"markdown": paper, "keep_references": "no"})
        assert bad.status_code == 400, bad.text
        # a job keeps the request's choice with its request (through a restart too: request_json)
        before = len(engine.requests)
        job_id = (await c.post("/jobs", json={"markdown": paper, "keep_authors": False})).json()["id"]
        for _ in range(200):
            job = (await c.get(f"/jobs/{job_id}")).json()
            if job["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    assert len(engine.requests) - before == 22  # the byline's two paragraphs are translated; the references are not
    assert any("Okafor" in p for p in prompts[before:]) and not any("Beltagy" in p for p in prompts[before:])


def test_job_requests_keep_the_choice() -> None:
    req = TranslateInput("# T\n", keep_references=False, keep_captions=True)
    again = request_from_json(json.loads(json.dumps(request_json(req))))
    assert (again.keep_references, again.keep_authors, again.keep_captions) == (False, None, True)
    old = request_from_json({"markdown": "# T\n"})  # a job kept before the option existed: the server's settings
    assert (old.keep_references, old.keep_authors, old.keep_captions) == (None, None, None)
