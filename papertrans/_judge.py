"""The pairwise LLM judge of ``papertrans distill``: is the teacher's translation better than another one?

The judge is any engine behind the server's engine protocol (in use: an OpenAI-compatible chat provider, built like
the teacher). Judges favour whichever answer they read first (position bias), so each pair is asked twice, once in
each order; the teacher's translation is kept only when it wins both times. One win each way is a disagreement and
drops the segment; so does an answer with no verdict in it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

from papertrans.server.engine import Engine, SamplingOptions

__all__ = ["JUDGE_INSTRUCTION", "PairJudge", "Verdict", "parse_choice"]

JUDGE_INSTRUCTION = (
    "You compare two Chinese translations of the same English text from an academic paper. Judge faithfulness first "
    "(nothing added, nothing left out, meaning kept), then fluency and terminology. Formulas, code and links must be "
    "kept as they are. Answer with one letter only: A if translation A is better, B if translation B is better."
)

# A reasoning model's hidden text, in case the provider passes it through.
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_CHOICE = re.compile(r"(?<![A-Za-z])([AB])(?![A-Za-z])")

Outcome = Literal["agree", "disagree", "prefers_other", "unparsed"]


def parse_choice(answer: str) -> Literal["A", "B"] | None:
    """The first standalone ``A`` or ``B`` of an answer (after any ``<think>`` block); None when there is none."""
    match = _CHOICE.search(_THINK.sub("", answer))
    if match is None:
        return None
    return "A" if match.group(1) == "A" else "B"


@dataclass(frozen=True)
class Verdict:
    """Both orders' answers. ``outcome``: ``agree`` (the teacher won twice: keep), ``prefers_other`` (the other
    translation won twice), ``disagree`` (one win each: position bias, the judge cannot tell), ``unparsed``."""

    outcome: Outcome
    first: str | None  # the letter chosen with the teacher's translation as A
    second: str | None  # ... with the teacher's translation as B
    tokens_in: int
    tokens_out: int

    @property
    def keep(self) -> bool:
        return self.outcome == "agree"


class PairJudge:
    """Ask ``engine`` which of two translations is better, in both orders."""

    def __init__(self, engine: Engine, *, max_tokens: int = 16) -> None:
        self.engine = engine
        self.max_tokens = max_tokens

    def question(self, source: str, a: str, b: str) -> str:
        """The prompt of one order (the provider's chat template applied to one user turn)."""
        text = f"{JUDGE_INSTRUCTION}\n\nEnglish:\n{source}\n\nTranslation A:\n{a}\n\nTranslation B:\n{b}\n\nBetter:"
        return self.engine.apply_chat_template([{"role": "user", "content": text}])

    async def _ask(self, prompt: str, request_id: str) -> tuple[str | None, int, int]:
        options = SamplingOptions(max_tokens=self.max_tokens, temperature=0.0)
        gen = await self.engine.generate(prompt, options, request_id=request_id)
        return parse_choice(gen.text), gen.tokens_in, gen.tokens_out

    async def compare(self, source: str, teacher: str, other: str, *, request_id: str) -> Verdict:
        """``teacher`` vs ``other`` as translations of ``source`` (restored texts, as a reader sees them)."""
        (first, in1, out1), (second, in2, out2) = await asyncio.gather(
            self._ask(self.question(source, teacher, other), f"{request_id}-ab"),
            self._ask(self.question(source, other, teacher), f"{request_id}-ba"),
        )
        outcome: Outcome
        if first is None or second is None:
            outcome = "unparsed"
        elif first == "A" and second == "B":
            outcome = "agree"
        elif first == "B" and second == "A":
            outcome = "prefers_other"
        else:
            outcome = "disagree"
        return Verdict(outcome, first, second, in1 + in2, out1 + out2)
