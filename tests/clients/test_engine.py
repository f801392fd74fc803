"""The CLI end to end on the REAL engine (embedded model): a multi-file LaTeX project and a generated PDF.

The server runs in this test's event loop (the session's vLLM engine belongs to it) and the blocking CLI in a
worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from papertrans.cli import main
from papertrans.clients import math_spans

from ._fixtures import PDF_LINES, project_sources, write_pdf, write_small_latex_project
from .conftest import make_app

pytestmark = pytest.mark.engine


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(120):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server exited during start-up")
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def test_latex_project_and_pdf_on_the_real_engine(
    real_engine: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main_tex = write_small_latex_project(tmp_path / "proj")
    formulas = math_spans(project_sources(main_tex.parent))
    assert len(formulas) == 3
    pdf = write_pdf(tmp_path / "paper.pdf") if _has_pdf_support() else None
    async with _serve(make_app(tmp_path / "server", real_engine)) as url:
        out = tmp_path / "proj.zh.md"
        rc = await asyncio.to_thread(main, ["translate", str(main_tex), "-o", str(out), "--server", url, "--json"])
        summary = json.loads(capsys.readouterr().out)
        assert rc == 0, summary
        text = out.read_text(encoding="utf-8")
        assert [f for f in formulas if f not in text] == []  # every formula of the LaTeX source, byte for byte
        for ref in ("\\cite{bahdanau2014}", "\\label{sec:intro}", "\\eqref{eq:w}"):
            assert ref in text
        assert summary["segments"]["total"] >= 4
        assert re.search("[\u4e00-\u9fff]", text)  # the model did translate something
        if pdf is not None:
            rc = await asyncio.to_thread(main, ["translate", str(pdf), "--server", url, "--json"])
            capsys.readouterr()
            assert rc == 0
            translated = (tmp_path / "paper.zh.md").read_text(encoding="utf-8")
            image = next((tmp_path / "paper_images").iterdir())
            assert f"(paper_images/{image.name})" in translated
            assert PDF_LINES[0] not in translated or re.search("[\u4e00-\u9fff]", translated)


def _has_pdf_support() -> bool:
    try:
        import pymupdf4llm  # noqa: F401
    except ImportError:
        return False
    return True
