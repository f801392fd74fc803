"""The review page treats everything it shows as untrusted: a hostile source paragraph, a model output that is HTML
(stored as if the model had produced it), a hostile correction typed by a reader and math that tries ``\\href``.
In a real headless Chromium nothing runs: no script executes, no element with a handler or a ``javascript:`` link is
created, and the Content-Security-Policy blocks inline script even when it is injected on purpose."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import httpx
import pytest

from papertrans.server.settings import Settings
from papertrans.server.store import SegmentRecord, TranslationRecord, open_store

from ._server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("PAPERTRANS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

# Each payload, if it ran, would set window.__pwned (or call alert): the test reads both.
PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    '<img src="x" onerror="window.__pwned = \'img\'">',
    '<svg onload="window.__pwned = \'svg\'"></svg>',
    '<a href="javascript:window.__pwned=\'link\'">link</a>',
    "[md link](javascript:window.__pwned='mdlink')",
    "$\\href{javascript:window.__pwned='href'}{click}$",
    "$\\url{javascript:alert(1)}$",
    "$\\htmlData{onclick=alert(1)}{x}$",
    '<iframe src="javascript:window.__pwned=\'iframe\'"></iframe>',
]
HOSTILE = " ".join(PAYLOADS)


async def _store_hostile_output(settings: Settings) -> str:
    """A translation whose model output is HTML, as a misbehaving model would produce it."""
    store = await open_store(settings)
    try:
        rec = TranslationRecord(
            id="hostile-output",
            doc_hash="0" * 64,
            model="fake",
            segments=[SegmentRecord("s0", "The model.", "prompt", HOSTILE, "模型 " + HOSTILE, "ok")],
        )
        await store.record_translation(rec)
    finally:
        await store.close()
    return rec.id


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (scripts/ci_services.sh)")
async def test_hostile_text_never_runs_in_the_review_page(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    settings = Settings(data_dir=tmp_path / "data")
    tid = await _store_hostile_output(settings)
    server = ServerProcess(settings, tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    try:
        page_headers = httpx.get(f"{server.url}/review/").headers
        csp = page_headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page()
            dialogs: list[str] = []
            violations: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            await page.goto(f"{server.url}/review")
            await expect(page.locator("body")).to_have_attribute("data-ready", "1")

            async def assert_inert(where: str) -> None:
                segs = page.locator("#segments")
                assert await page.evaluate("window.__pwned") is None, where
                assert not dialogs, (where, dialogs)
                for sel in ("script", "img", "svg:not(.katex svg)", "iframe", "a", "[onerror]", "[onload]",
                            "[onclick]", "[href^='javascript']"):
                    assert await segs.locator(sel).count() == 0, (where, sel)

            # 1. a hostile source document, translated by the (fake) model: shown as text, math rendered
            await page.fill("#markdown", f"The model reads this.\n\nThe paper says {HOSTILE}\n\nThe attention $x^2$ on tokens.")
            await page.click("#translate")
            await expect(page.locator("#status")).to_contain_text("Translated")
            await asyncio.sleep(0.3)
            await assert_inert("translated")
            assert await page.locator("#segments .katex").count() > 0  # real math still renders
            assert "<script>" in await page.locator("#segments").inner_text()  # the payload is visible as text

            # 2. a correction typed by a reader, rendered after saving
            first = page.locator("#segments > li").first
            await first.click()
            await page.keyboard.press("e")
            box = first.locator("textarea")
            await box.fill(await box.input_value() + " <img src=x onerror=\"window.__pwned='correction'\">")
            await first.locator("button.save").click()
            await expect(first.locator(".done")).to_have_text("✎ correction saved")
            await assert_inert("corrected")

            # 3. a stored model output that is HTML, opened by id
            await page.fill("#open-id", tid)
            await page.click("#open")
            await expect(page.locator("#status")).to_contain_text("Opened")
            await asyncio.sleep(0.3)
            await assert_inert("opened")
            text = await page.locator("#segments").inner_text()
            assert "onerror" in text and "javascript:" in text

            # 4. defence in depth: even HTML injected on purpose cannot run inline script under the policy
            await page.evaluate(
                "document.body.insertAdjacentHTML('beforeend', '<img src=x onerror=\"window.__pwned=1\">');"
                "const s = document.createElement('script'); s.textContent = 'window.__pwned = 2';"
                "document.body.appendChild(s);"
            )
            await asyncio.sleep(0.5)
            assert await page.evaluate("window.__pwned") is None
            assert violations, "the browser reported the blocked inline script"
            await browser.close()
        assert "Traceback" not in (tmp_path / "server.log").read_text()
    finally:
        server.stop()
