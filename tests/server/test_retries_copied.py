"""What constrained decoding cannot guarantee still goes through retry and fallback: English copied from the source
(soft, retried), echoed prompt text (hard), and a finish other than a stop (truncation, repetition loop)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from papertrans.server.engine import Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from tests.server._preserve import assert_document_intact
from tests.server.conftest import serve

DOC = "The model maps every input $x$ to an output with a small network of three layers.\n"


class _Scripted(FakeEngine):
    """The fake, except that attempt ``n`` of the segment answers ``script[n]`` (text, finish reason) when given."""

    def __init__(self, script: list[tuple[str | None, str]]) -> None:
        super().__init__()
        self.script = script
        self.calls = 0

    async def generate(self, prompt: str, options: SamplingOptions, **kw: Any) -> Generation:
        gen = await super().generate(prompt, options, **kw)
        n, self.calls = self.calls, self.calls + 1
        text, finish = self.script[n] if n < len(self.script) else (None, "stop")
        return replace(gen, text=gen.text if text is None else text, finish_reason=finish)


COPY = "The model maps every input ⟦1⟧ to an output with a small network of three layers."
ECHO = "如⟦1⟧所示，在实践中，我们很少从头开始训练这样的网络。"


async def _translate(app_factory: Any, engine: FakeEngine) -> dict[str, Any]:
    # one candidate per retry: the script counts engine calls, one per attempt (best-of-N: tests/server/test_ladder.py);
    # no output cache: each call scripts another engine under the same model name, which the cache cannot tell apart
    async with serve(app_factory(engine, translate={"retry_candidates": 1, "cache": False})) as c:
        body: dict[str, Any] = (await c.post("/translate", json={"markdown": DOC})).json()
    assert_document_intact(DOC, body)
    return body


async def test_copied_english_is_retried_and_the_better_answer_kept(app_factory: Any) -> None:
    body = await _translate(app_factory, _Scripted([(COPY, "stop")]))
    (seg,) = body["segments"]
    assert seg["status"] == "retried" and "untranslated_sentences" in seg["reasons"]
    assert seg["translation"].startswith("译：") and body["stats"]["retries"] == 1


async def test_copied_english_is_kept_when_no_retry_does_better(app_factory: Any) -> None:
    body = await _translate(app_factory, _Scripted([(COPY, "stop")] * 8))
    (seg,) = body["segments"]
    assert seg["status"] == "needs_review" and body["stats"]["retries"] >= 1  # English left: a reader should look
    assert seg["translation"] == seg["source"]  # soft: the copy is kept (and reported), not a fallback
    assert "untranslated_sentences" in seg["reasons"] and body["stats"]["fallbacks"] == 0


async def test_echoed_example_is_a_hard_failure(app_factory: Any) -> None:
    body = await _translate(app_factory, _Scripted([(ECHO, "stop")]))
    (seg,) = body["segments"]
    assert seg["status"] == "retried" and "prompt_echo" in seg["reasons"]
    body = await _translate(app_factory, _Scripted([(ECHO, "stop")] * 8))
    (seg,) = body["segments"]
    assert seg["status"] == "fallback" and "prompt_echo" in seg["reasons"] and seg["translation"] == seg["source"]


async def test_a_finish_other_than_stop_fails_the_attempt(app_factory: Any) -> None:
    body = await _translate(app_factory, _Scripted([(None, "length"), (None, "repetition")]))
    (seg,) = body["segments"]
    assert seg["status"] == "retried" and {"truncated", "repetition_loop"} <= set(seg["reasons"])
    assert body["stats"]["retries"] == 2
