"""The retry ladder repairs unfaithful outputs (issue 20): a pile of formulas at the end, a placeholder number, an
omission are retried; the best candidate by the translation reward is kept (best-of-N on the strict rung); what stays
suspicious is kept and marked ``needs_review``; the constraint releases early stops on the first rungs and closes on
the last; restore never writes two formulas touching."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from papertrans import protect
from papertrans.server.engine import Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.ladder import Attempt, next_rung, rank, rungs
from tests.server._preserve import assert_document_intact
from tests.server.conftest import serve

DOC = "Let $a$ be the input and $b$ the output of the layer. The loss is small.\n"
# what the pipeline sends (masked): "Let ⟦1⟧ be the input and ⟦2⟧ the output of the layer. The loss is small."
GOOD = "设⟦1⟧为该层的输入，⟦2⟧为该层的输出。损失很小。"
PILE = "设为该层的输入，为该层的输出。损失很小。⟦1⟧⟦2⟧"  # what the closing constraint writes for a model that stopped
NUMBER = "设 1 为该层的输入，⟦2⟧为该层的输出。损失很小。⟦1⟧"
_RID = re.compile(r"-(\d+)s(\d+)-(\d+)$")  # ...-<rung>s<candidate>-<piece>


class _ByRung(FakeEngine):
    """Answers by (rung, candidate) from the request id; records every request's options."""

    def __init__(self, answers: dict[tuple[int, ...], str], default: str | None = None) -> None:
        super().__init__()
        self.answers, self.default = answers, default
        self.seen: list[tuple[int, int, int, SamplingOptions]] = []

    async def generate(self, prompt: str, options: SamplingOptions, **kw: Any) -> Generation:
        gen = await super().generate(prompt, options, **kw)
        m = _RID.search(kw["request_id"])
        assert m is not None, kw["request_id"]
        rung, cand, piece = (int(g) for g in m.groups())
        self.seen.append((rung, cand, piece, options))
        text = self.answers.get((rung, cand, piece), self.answers.get((rung, cand), self.default))
        return gen if text is None else replace(gen, text=text)


async def _translate(app_factory: Any, engine: FakeEngine, doc: str = DOC, **translate: Any) -> dict[str, Any]:
    async with serve(app_factory(engine, translate=translate)) as c:
        r = await c.post("/translate", json={"markdown": doc})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert_document_intact(doc, body)
    return body


async def test_a_pile_at_the_end_is_retried_and_the_faithful_candidate_kept(app_factory: Any) -> None:
    engine = _ByRung({(0, 0): PILE, (1, 0): PILE, (1, 1): GOOD, (1, 2): NUMBER})
    # best-of-3 on the strict rung (no pieces rung with one retry: a pile would go to the pieces otherwise)
    body = await _translate(app_factory, engine, retry_candidates=3, max_retries=1)
    (seg,) = body["segments"]
    assert seg["status"] == "retried", seg
    assert "placeholders_displaced" in seg["reasons"]  # the first attempt's fault stays on the record
    assert seg["translation"] == "设$a$为该层的输入，$b$为该层的输出。损失很小。"  # the sampled candidate won
    assert body["stats"]["needs_review"] == 0
    strict = [o for rung, _, _, o in engine.seen if rung == 1]
    assert len(strict) == 3 and strict[0].temperature == 0.0 and all(o.temperature > 0 for o in strict[1:])
    assert len({o.seed for o in strict[1:]}) == 2  # two different, fixed seeds


async def test_a_clean_first_attempt_costs_one_request(app_factory: Any) -> None:
    engine = _ByRung({(0, 0): GOOD})
    body = await _translate(app_factory, engine)
    assert body["segments"][0]["status"] == "ok" and body["stats"]["retries"] == 0
    assert len(engine.seen) == 1 and engine.seen[0][3].early_stop == "release"


async def test_what_stays_suspicious_is_kept_and_marked_needs_review(app_factory: Any) -> None:
    engine = _ByRung({}, default=PILE)
    body = await _translate(app_factory, engine, max_retries=1)  # no pieces rung: every attempt piles
    (seg,) = body["segments"]
    assert seg["status"] == "needs_review" and "placeholders_displaced" in seg["reasons"]
    assert seg["translation"] != seg["source"]  # kept: every formula is there, a reader should look at it
    assert body["stats"]["needs_review"] == 1 and body["stats"]["fallbacks"] == 0
    # the last rung closes (integrity guaranteed), the earlier ones release
    assert [o.early_stop for rung, _, _, o in engine.seen if rung == 0] == ["release"]
    assert {o.early_stop for rung, _, _, o in engine.seen if rung == 1} == {"close"}


async def test_the_pieces_rung_closes_and_translates_sentence_by_sentence(app_factory: Any) -> None:
    # whole-segment attempts pile; sentence by sentence each formula lands in its sentence
    engine = _ByRung({(2, 0, 0): "设⟦1⟧为该层的输入，⟦2⟧为该层的输出。", (2, 0, 1): "损失很小。"}, default=PILE)
    body = await _translate(app_factory, engine)
    (seg,) = body["segments"]
    pieces = [(p, o) for rung, _, p, o in engine.seen if rung == 2]
    assert sorted(p for p, _ in pieces) == [0, 1] and {o.early_stop for _, o in pieces} == {"close"}
    assert seg["status"] == "retried" and seg["translation"] == "设$a$为该层的输入，$b$为该层的输出。损失很小。"


async def test_restore_never_writes_touching_formulas(app_factory: Any) -> None:
    glued = "设⟦1⟧⟦2⟧为该层的输入与输出。损失很小。"
    body = await _translate(app_factory, _ByRung({}, default=glued), max_retries=0)
    (seg,) = body["segments"]
    assert "$a$$b$" not in body["markdown"] and "$a$$b$" not in seg["translation"]
    assert "$a$ $b$" in seg["translation"] and seg["status"] == "needs_review"


def test_rank_prefers_shipping_then_faithful() -> None:
    (seg,) = protect.protect(DOC).segments

    def attempt(text: str, finish: list[str] | None = None) -> Attempt:
        return Attempt("p", text, protect.validate(seg, text), finish or [])

    good, pile, broken = attempt(GOOD), attempt(PILE), attempt("设为输入。")
    assert good.clean and pile.ships and not pile.clean and not broken.ships
    assert rank(good) > rank(pile) > rank(broken)
    assert not attempt(GOOD, ["truncated"]).ships


def test_rank_puts_a_complete_translation_before_a_tidier_one_that_omits() -> None:
    doc = "Let $a$ be the input and $b$ the output of the layer. The loss is small. We train the model on a large "
    (seg,) = protect.protect(doc + "corpus of text for many epochs.\n").segments
    short = "设⟦1⟧为该层的输入，⟦2⟧为该层的输出。"  # two sentences dropped, every formula in place
    whole = "设**⟦1⟧**为该层的输入，为该层的输出。损失很小。我们在大型文本语料库上训练模型多个周期。⟦2⟧"
    a, b = (Attempt("p", t, protect.validate(seg, t)) for t in (short, whole))
    assert a.suspicious == ["omission"] and sorted(b.suspicious) == ["markup_changed", "placeholders_displaced"]
    assert rank(b) > rank(a)  # two blemishes on a whole translation beat one missing half
    full = "设⟦1⟧为该层的输入，⟦2⟧为该层的输出。损失很小。我们在大型文本语料库上训练模型多个周期。"
    assert rank(Attempt("p", full, protect.validate(seg, full))) > rank(b)  # and a faithful one beats both


def test_rungs_release_first_and_close_last() -> None:
    whole: list[tuple[str, protect.Chunk | None]] = [("x", None)]
    ladder = rungs(whole, ["a.", "b."], max_retries=2, candidates=3, early_stop="release")
    assert [(r.kind, r.candidates, r.early_stop) for r in ladder] == [
        ("first", 1, "release"), ("strict", 3, "release"), ("pieces", 1, "close")
    ]
    assert [r.early_stop for r in rungs(whole, [], max_retries=2, candidates=3, early_stop="release")] == [
        "release", "close"
    ]
    assert [r.early_stop for r in rungs(whole, [], max_retries=0, candidates=3, early_stop="release")] == ["close"]
    assert {r.early_stop for r in rungs(whole, ["a.", "b."], max_retries=2, candidates=1, early_stop="close")} == {
        "close"
    }


async def test_when_nothing_ships_a_closing_rescue_keeps_a_translation(app_factory: Any) -> None:
    """Released rungs that come back with placeholders missing, and a pieces rung cut by a loop: one more whole-segment
    attempt with the constraint closing keeps the translation (marked for review) instead of the English."""
    missing = "设为该层的输入，为该层的输出。损失很小。"
    engine = _ByRung({(0, 0): missing, (1, 0): missing, (1, 1): missing, (1, 2): missing,
                      (2, 0, 0): "", (2, 0, 1): "", (3, 0): PILE})
    body = await _translate(app_factory, engine, retry_candidates=3)
    (seg,) = body["segments"]
    assert seg["status"] == "needs_review" and "placeholder_missing" in seg["reasons"]
    assert "$a$" in seg["translation"] and "$b$" in seg["translation"] and body["stats"]["fallbacks"] == 0
    assert [o.early_stop for rung, _, _, o in engine.seen if rung == 3] == ["close"]
    # missing placeholders go from the first rung straight to the pieces (rung 2), then the rescue: no strict rung
    assert body["stats"]["retries"] == 2 and not [r for r, _, _, _ in engine.seen if r == 1]


async def test_no_rescue_when_the_ladder_already_closed(app_factory: Any) -> None:
    engine = _ByRung({}, default="")
    body = await _translate(app_factory, engine, early_stop="close", max_retries=1)
    (seg,) = body["segments"]
    assert seg["status"] == "fallback" and seg["translation"] == seg["source"]
    assert {rung for rung, _, _, _ in engine.seen} == {0, 1}  # no extra rung


async def test_an_unclosed_bold_is_kept_repaired_not_sent_back_in_english(app_factory: Any) -> None:
    # every attempt leaves "**" unclosed: before 0.3 this was hard and the segment fell back to its English source
    doc = "The **loss** is small and $a$ is the input.\n"
    engine = _ByRung({}, default="**损失很小，⟦1⟧是输入。")
    body = await _translate(app_factory, engine, doc=doc)
    (seg,) = body["segments"]
    assert seg["status"] == "needs_review" and "markup_unbalanced" in seg["reasons"], seg
    assert seg["translation"] == "损失很小，$a$是输入。"  # the unpaired delimiter dropped, the words and formula kept
    assert body["markdown"].count("**") % 2 == 0 and "$a$" in body["markdown"]
    assert body["stats"]["fallbacks"] == 0


async def test_a_placeholder_number_left_after_the_ladder_becomes_its_formula(app_factory: Any) -> None:
    # every attempt writes "1" where ⟦1⟧ belongs and the formula at the end (the pile): the kept output gets the
    # formula where the number was, instead of "Let 1 be the input" with $a$ after the last sentence
    body = await _translate(app_factory, _ByRung({}, default=NUMBER))
    (seg,) = body["segments"]
    assert seg["status"] == "needs_review" and "placeholder_number" in seg["reasons"], seg
    assert seg["translation"] == "设 $a$ 为该层的输入，$b$为该层的输出。损失很小。"
    assert body["stats"]["fallbacks"] == 0


async def test_a_placement_fault_goes_straight_to_the_pieces(app_factory: Any) -> None:
    engine = _ByRung({(2, 0, 0): "设⟦1⟧为该层的输入，⟦2⟧为该层的输出。", (2, 0, 1): "损失很小。"}, default=PILE)
    body = await _translate(app_factory, engine)
    (seg,) = body["segments"]
    assert seg["status"] == "retried" and body["stats"]["retries"] == 1
    assert sorted({rung for rung, _, _, _ in engine.seen}) == [0, 2]  # the strict whole-segment rung is skipped


async def test_a_markup_fault_gets_the_strict_rung_and_no_pieces(app_factory: Any) -> None:
    doc = "The **loss** of $a$ is small. It is the input.\n"
    changed = "⟦1⟧的损失很小。它是输入。"  # the bold dropped: markup_changed, every formula in place
    body = await _translate(app_factory, _ByRung({}, default=changed), doc=doc)
    (seg,) = body["segments"]
    assert seg["status"] == "needs_review" and "markup_changed" in seg["reasons"]
    assert body["stats"]["retries"] == 1  # first, then strict; cutting it into sentences would not bring the bold back


def test_next_rung_routes_by_the_fault() -> None:
    (seg,) = protect.protect(DOC).segments
    whole: list[tuple[str, protect.Chunk | None]] = [(seg.text, None)]
    ladder = rungs(whole, ["a.", "b."], max_retries=2, candidates=1, early_stop="release")

    def attempt(text: str) -> Attempt:
        return Attempt("p", text, protect.validate(seg, text))

    assert next_rung(ladder, 0, attempt(PILE)) == 2
    assert next_rung(ladder, 0, attempt("设为该层的输入。")) == 2  # placeholders missing: a placement fault too
    assert next_rung(ladder, 0, attempt("Let ⟦1⟧ be the input and ⟦2⟧ the output of the layer. 损失很小。")) == 1
    assert next_rung(ladder, 1, attempt(PILE)) == 2 and next_rung(ladder, 2, attempt(PILE)) is None
    no_pieces = rungs(whole, [], max_retries=2, candidates=1, early_stop="release")
    assert next_rung(no_pieces, 0, attempt(PILE)) == 1 and next_rung(no_pieces, 1, attempt(PILE)) is None
