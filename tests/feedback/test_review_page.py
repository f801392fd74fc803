"""The review page without a browser: the elements its script uses exist, it stays free of inline script (the CSP
forbids it), it offers the jump to ``needs_review`` segments, and the read-back it opens carries their reasons.
(What the page does in a real browser: test_browser.py and test_review_xss.py, which need Chromium.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from papertrans.server.routes.feedback import REVIEW_CSP, REVIEW_DIR

from .conftest import make_record

HTML = (REVIEW_DIR / "index.html").read_text(encoding="utf-8")
JS = (REVIEW_DIR / "review.js").read_text(encoding="utf-8")


class _Page(HTMLParser):
    """Ids, script tags (with their body) and event-handler attributes of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "id" in attributes and attributes["id"]:
            self.ids[attributes["id"]] = (tag, attributes)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self.scripts.append((attributes, ""))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            attributes, body = self.scripts[-1]
            self.scripts[-1] = (attributes, body + data)


def _page() -> _Page:
    page = _Page()
    page.feed(HTML)
    return page


def test_every_element_the_script_looks_up_exists() -> None:
    page = _page()
    # $("#id") and querySelectorAll("#id ..."); a template such as `#ab-${side}` leaves a prefix ending in "-"
    wanted = {w for w in re.findall(r"""["'`]#([a-z][\w-]*)""", JS) if not w.endswith("-")}
    assert "next-review" in wanted and "review-count" in wanted
    missing = sorted(w for w in wanted if w not in page.ids)
    assert not missing, f"review.js looks up ids that index.html lacks: {missing}"


def test_no_inline_script_or_handlers() -> None:
    page = _page()
    assert page.scripts and all(attrs.get("src") and not body.strip() for attrs, body in page.scripts)
    assert page.handlers == []
    assert "script-src 'self'" in REVIEW_CSP and "unsafe-inline" not in REVIEW_CSP.split("script-src")[1].split(";")[0]


def test_the_page_offers_a_jump_to_needs_review_segments() -> None:
    page = _page()
    tag, attrs = page.ids["next-review"]
    assert tag == "button" and "hidden" in attrs  # shown once a document with flagged segments is open
    assert page.ids["review-count"][1].get("class") == "count"
    assert re.search(r'\$\("#next-review"\)\.addEventListener\("click", nextReview\)', JS)
    assert re.search(r"\bn: \(\) => nextReview\(\)", JS)  # the keyboard shortcut, listed in the help
    assert "<kbd>n</kbd>" in HTML.split('id="help"')[1]
    assert 'const NEEDS_REVIEW = "needs_review";' in JS  # the status the server sends (server/pipeline.py)


async def test_served_page_and_read_back_carry_what_the_page_shows(app_client: Any) -> None:
    r = await app_client.get("/review")
    assert r.status_code == 200 and r.headers["content-security-policy"] == REVIEW_CSP
    assert 'id="next-review"' in r.text
    rec = make_record()
    rec.segments[1].status, rec.segments[1].reasons = "needs_review", ["omission", "repetition"]
    await app_client.store.record_translation(rec)
    got = (await app_client.get(f"/translations/{rec.id}")).json()
    assert [(s["status"], s["reasons"]) for s in got["segments"]] == [
        ("ok", []), ("needs_review", ["omission", "repetition"])]
