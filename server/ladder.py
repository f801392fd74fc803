"""The retry ladder of one segment: which attempts to make, and which of their outputs to keep.

An attempt is judged by :func:`protect.validate`. It *ships* when it has no hard reason (placeholders, echo), no failed
finish (truncated, a loop) and no engine error; it is *clean* when it also has no reason worth another attempt (copied
English, and the faithfulness checks: omission, placeholders displaced or written as numbers, markup changed or
unbalanced, repetition, touching formulas; a kept output with an unpaired ``**`` / ``*`` has it dropped by
:func:`protect.balance_markup`). A clean attempt ends the ladder. Otherwise the next rung runs:

1. ``first``: the whole segment (its chunk items), greedy; the placeholder constraint *releases* a model that wants to
   stop with placeholders pending (:class:`~papertrans.server.engine.SamplingOptions` ``early_stop``), so the attempt
   fails instead of writing them in a pile at the end of the paragraph;
2. ``strict``: the stricter prompt, greedy plus ``retry_candidates - 1`` samples (best-of-N, only here, i.e. only for
   segments that failed a check; 1 by default: 3 bought little on the dev data for 1.5x the time), still releasing;
3. ``pieces``: the segment cut into sentences (each piece carries few placeholders, so each lands in its sentence),
   greedy, and the constraint *closes* (every pending placeholder written before the stop): the last rung keeps the
   integrity guarantee.

The rungs are not all taken in order: :func:`next_rung` routes by the fault. A placement fault (placeholders missing,
displaced or written as numbers, formulas touching, an omission) goes from ``first`` straight to ``pieces``; after
``strict``, a shipping attempt left with markup or repetition faults only is kept for review. Each skipped rung is one
engine round trip less on the document's critical path (the ladder in order cost 2.2x the documents' time before).

When no attempt shipped (the released rungs came back with placeholders missing and the pieces rung failed too, e.g.
a loop cut by vLLM's detector), one *rescue* attempt translates the whole segment once more with the constraint
closing, as before the ladder released anything: its formulas may sit in a pile (restore keeps them apart; the
displacement check marks it ``needs_review``), but it is a translation rather than English.

The best attempt by :func:`rank` is kept (an omission weighs more than any other fault): a clean one, else a shipping
one marked ``needs_review`` (faithfulness reasons left) or ``retried`` (soft reasons only), else the segment falls
back to its source text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from papertrans import protect

__all__ = ["PLACEMENT_REASONS", "Attempt", "EarlyStop", "Rung", "next_rung", "rank", "rescue", "rungs", "sample_seed"]

EarlyStop = Literal["close", "release"]


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: its pieces (text, chunk context), prompt strictness, candidates and constraint mode."""

    kind: str  # first | strict | pieces (the metrics' label)
    pieces: list[tuple[str, protect.Chunk | None]]
    strict: bool
    candidates: int = 1  # greedy first, then samples
    early_stop: EarlyStop = "release"


@dataclass
class Attempt:
    """One candidate output of a segment (masked, as the model wrote it) and its judgement."""

    prompt: str
    output: str
    report: protect.SegmentReport
    finish: list[str] = field(default_factory=list)  # failure codes of finish reasons other than a stop
    engine_failed: bool = False

    @property
    def hard(self) -> list[str]:
        return [r for r in self.report.reasons if r in protect.HARD_REASONS]

    @property
    def ships(self) -> bool:
        """May be returned to a reader: every placeholder exactly once, a normal stop, no engine error."""
        return self.report.status == "ok" and not self.hard and not self.finish and not self.engine_failed

    @property
    def suspicious(self) -> list[str]:
        return [r for r in self.report.reasons if r in protect.FAITHFULNESS_REASONS]

    @property
    def clean(self) -> bool:
        """Ships and leaves nothing worth another attempt."""
        again = protect.RETRY_REASONS | protect.FAITHFULNESS_REASONS
        return self.ships and not any(r in again for r in self.report.reasons)

    @property
    def failure_codes(self) -> list[str]:
        codes = ["engine_error"] if self.engine_failed else []
        return codes + self.finish + (self.hard or self.report.reasons or ["invalid_output"])


def rank(attempt: Attempt) -> tuple[int, int, int, int, int]:
    """The project's translation reward as a sort key (higher is better): shipping first, then no omission (the
    first rule of a faithful translation: a formula out of place or a lost bold is a blemish, a missing sentence is
    a wrong translation), then fewer faithfulness faults, then fewer reasons to retry (copied English), then fewer
    soft reasons of any kind."""
    retry = sum(r in protect.RETRY_REASONS for r in attempt.report.reasons)
    omits = int("omission" in attempt.report.reasons)
    return (int(attempt.ships), -omits, -len(attempt.suspicious), -retry, -len(attempt.report.reasons))


def rungs(
    whole: Sequence[tuple[str, protect.Chunk | None]],
    sentences: Sequence[str],
    *,
    max_retries: int,
    candidates: int,
    early_stop: EarlyStop,
) -> list[Rung]:
    """The ladder for one segment: ``whole`` its chunk items, ``sentences`` its sentence pieces (``[]``: none)."""
    ctx0 = whole[0][1] if whole else None
    ladder = [
        Rung("first", list(whole), strict=False, early_stop=early_stop),
        Rung("strict", list(whole), strict=True, candidates=max(1, candidates), early_stop=early_stop),
    ]
    if sentences:
        ladder.append(Rung("pieces", [(s, ctx0) for s in sentences], strict=True, early_stop="close"))
    ladder = ladder[: 1 + max(0, max_retries)]
    last = ladder[-1]
    # the last rung must keep every placeholder, so it closes (a one-sentence segment has no pieces rung)
    ladder[-1] = Rung(last.kind, last.pieces, last.strict, last.candidates, "close")
    return ladder


#: Faults of where the formulas went or what was left out. Sentence pieces repair them (each piece carries a few
#: placeholders and little to leave out), the stricter whole-segment prompt mostly repeats them: a segment whose first
#: attempt has one goes straight to the pieces rung, which saves one engine round trip on the document's critical path.
PLACEMENT_REASONS = frozenset(
    {"placeholder_missing", "placeholders_displaced", "placeholder_number", "formulas_touching", "omission"}
)


def next_rung(ladder: Sequence[Rung], n: int, attempt: Attempt) -> int | None:
    """The index of the rung to try after rung ``n`` gave ``attempt`` (not clean), ``None`` to stop.

    After ``first``: the pieces rung for a placement fault (above), else ``strict``. After ``strict``: the pieces rung
    only if the attempt does not ship or still has a placement fault or copied English; a shipping attempt whose
    faults are markup or repetition is kept for review rather than cut into sentences, which cannot bring markup back
    and costs another round trip."""
    kinds = [r.kind for r in ladder]
    reasons = {*attempt.report.reasons}
    placement = bool(PLACEMENT_REASONS & reasons)
    kind = ladder[n].kind
    if kind == "first" and placement and "pieces" in kinds:
        return kinds.index("pieces")
    if kind == "strict" and attempt.ships and not placement and not protect.RETRY_REASONS & reasons:
        return None
    return n + 1 if n + 1 < len(ladder) else None


def rescue(ladder: Sequence[Rung]) -> Rung | None:
    """The last-chance rung when no attempt of ``ladder`` shipped: the whole segment, closing (``None`` when the
    ladder's first rung already closed: it would only repeat it)."""
    first = ladder[0]
    if first.early_stop == "close":
        return None
    return Rung("rescue", first.pieces, strict=False, early_stop="close")


def sample_seed(segment_text: str, index: int) -> int:
    """A stable seed per segment and candidate: the same document samples the same candidates (reproducible)."""
    digest = hashlib.sha256(f"{index}\x00{segment_text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
