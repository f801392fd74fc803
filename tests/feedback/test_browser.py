"""The review page in a real headless Chromium (Debian's ``chromium`` driven by Playwright) against the real server:
translate a corpus paragraph, thumbs, a correction (and a rejected one), an A/B choice; then read the rows back."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from papertrans.server.settings import Settings
from papertrans.server.store import Comparison, Feedback, open_store

from ._server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("PAPERTRANS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _paragraph(corpus_dir: Path) -> str:
    """A short corpus paragraph with inline math and a citation or reference (two placeholders or more)."""
    for line in (corpus_dir / "d2l_en_zh.jsonl").read_text(encoding="utf-8").splitlines():
        unit = json.loads(line)
        if unit["unit_type"] == "paragraph" and "inline_math" in unit["features"] and len(unit["en"]) < 700:
            return str(unit["en"])
    raise AssertionError("no suitable corpus paragraph")


async def _rows(settings: Settings) -> tuple[list[Feedback], list[Comparison]]:
    store = await open_store(settings)
    try:
        async with store.read_session() as session:
            fb = list((await session.scalars(select(Feedback).order_by(Feedback.id))).all())
            cmp = list((await session.scalars(select(Comparison))).all())
        return fb, cmp
    finally:
        await store.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (scripts/ci_services.sh)")
async def test_review_page_end_to_end(settings: Settings, corpus_dir: Path, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    paragraph = _paragraph(corpus_dir)
    server = ServerProcess(settings, tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
            await page.goto(f"{server.url}/review")
            await expect(page.locator("body")).to_have_attribute("data-ready", "1")

            await page.fill("#markdown", paragraph)
            await page.click("#translate")
            segments = page.locator("#segments > li")
            await expect(segments.first).to_be_visible(timeout=60_000)
            await expect(page.locator("#status")).to_contain_text("Translated")
            assert await page.locator("#segments .katex").count() > 0, "math is rendered by the bundled KaTeX"
            tid = await page.locator("#tid").inner_text()
            first = segments.first
            seg_id = await first.get_attribute("data-segment-id")

            await first.locator("button.up").click()  # thumbs up by mouse
            await expect(first.locator(".done")).to_have_text("👍 saved")

            await page.keyboard.press("d")  # thumbs down by keyboard on the current (first) segment
            await expect(page.locator("#status")).to_contain_text("Saved")

            # A correction that drops the math is refused with the placeholder named; then a valid one is accepted.
            await page.keyboard.press("e")
            box = first.locator("textarea")
            await expect(box).to_be_focused()
            original = await box.input_value()
            await box.fill("这句话没有公式。")
            await page.keyboard.press("Control+Enter")
            await expect(page.locator("#status")).to_contain_text("placeholder_mismatch")
            corrected = original + "（已校对）"
            await box.fill(corrected)
            await first.locator("button.save").click()
            await expect(first.locator(".done")).to_have_text("✎ correction saved")

            await page.keyboard.press("c")  # A/B
            await expect(page.locator("#ab")).to_be_visible()
            await expect(page.locator("#ab-a .text")).not_to_be_empty()
            await page.keyboard.press("1")
            await expect(page.locator("#ab-a .label")).not_to_be_empty()
            await expect(page.locator("#ab-a")).to_have_class("ab-variant winner")
            shot = tmp_path / "review.png"
            await page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("PAPERTRANS_SCREENSHOT_DIR"):
                shutil.copy(shot, Path(os.environ["PAPERTRANS_SCREENSHOT_DIR"]) / "review.png")
            await page.keyboard.press("Escape")
            await expect(page.locator("#ab")).to_be_hidden()
            await browser.close()
        assert not errors, errors
    finally:
        server.stop()

    feedback, comparisons = await _rows(settings)
    assert [(f.translation_id, f.segment_id, f.rating) for f in feedback if f.rating] == [
        (tid, seg_id, "up"), (tid, seg_id, "down")]
    corrections = [f for f in feedback if f.correction]
    assert len(corrections) == 1 and corrections[0].correction == corrected
    assert corrections[0].correction_masked and "$" not in corrections[0].correction_masked  # masked for training
    assert len(comparisons) == 1 and comparisons[0].choice == "a" and comparisons[0].segment_id == seg_id
    assert shot.stat().st_size > 10_000
