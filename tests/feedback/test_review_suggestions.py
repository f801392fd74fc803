"""The review page shows translation-memory suggestions (without a browser: test_browser.py drives Chromium): each
segment's template has a hidden suggestion box with its score and a Use button, the script fills it from
``GET /translations/{id}/suggestions`` with text only (textContent / KaTeX without trust), and the suggestion goes into
the correction box, never into a request to translate."""

from __future__ import annotations

import re

from papertrans.server.routes.feedback import REVIEW_DIR

HTML = (REVIEW_DIR / "index.html").read_text(encoding="utf-8")
JS = (REVIEW_DIR / "review.js").read_text(encoding="utf-8")


def _function(name: str) -> str:
    start = JS.index(f"function {name}(")
    end = JS.index("\n}\n", start)
    return JS[start:end]


def test_the_segment_template_has_a_hidden_suggestion_box() -> None:
    template = HTML.split('<template id="segment-tpl">')[1].split("</template>")[0]
    box = re.search(r'<div class="suggestion" hidden[^>]*>(.*?)</div>', template, re.S)
    assert box is not None
    assert 'class="tm-score"' in box.group(1) and 'class="math tm-text"' in box.group(1)
    assert 'class="use-suggestion"' in box.group(1)


def test_the_script_fills_it_from_the_suggestions_endpoint_with_text_only() -> None:
    load = _function("loadSuggestions")
    assert "/suggestions`" in load and '"GET"' in load
    assert 'renderMath($(".tm-text", box), hint.target)' in load and ".textContent" in load
    assert "innerHTML" not in JS
    assert "loadSuggestions(tid)" in _function("showDocument")
    use = _function("useSuggestion")
    assert "startEdit(i)" in use and '$("textarea", item(i)).value = hint.target' in use


def test_no_suggestion_reaches_a_translate_request() -> None:
    assert "suggestion" not in _function("translate")
    assert "suggestion" not in _function("compare")
