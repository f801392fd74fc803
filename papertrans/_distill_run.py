"""One ``papertrans distill`` run's parts: its options, what it counts, and what it does with each unit's segments
(:class:`Run`: the teacher's pipeline, the judge, the row for the student). The command is :mod:`papertrans.distill`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DistillConfig", "Endpoint", "Run", "Tallies"]

log = logging.getLogger(__name__)
_LETTERS = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible chat endpoint: the teacher or the judge. The API key is read from an environment variable
    or a file (never taken on the command line, never logged or written to the report)."""

    url: str  # base URL (``/v1`` added when it has no path)
    model: str
    api_key_env: str | None = None
    api_key_file: Path | None = None


@dataclass
class DistillConfig:
    """The options of one run (the command line's, one to one)."""

    teacher: Endpoint
    data: Path  # .jsonl (parallel or English rows), a Markdown file, or a folder of Markdown files
    out: Path  # SFT rows (JSONL)
    report: Path | None = None  # default: <out>.report.json
    judge: Endpoint | None = None  # None: no judge
    prompt_style: str = "zeroshot"  # the student's serving prompt style (contract.prompts.PROMPT_STYLES)
    glossary: str | None = None  # term=translation,... or a glossary file: in the teacher's and the rows' prompts
    max_units: int | None = None
    max_segment_chars: int | None = None  # drop longer English segments (training cost)
    units_in_flight: int = 4  # units translated at once (their segments all go to the teacher together)
    sample_temperature: float = 0.7  # the judge's second teacher sample, where the data has no human translation


@dataclass
class Tallies:
    units_read: int = 0
    units_kept: int = 0  # units with at least one row
    segments: int = 0
    no_text: int = 0  # only placeholders/numbers: never sent to a model, no row
    dropped: Counter[str] = field(default_factory=Counter)  # by reason code
    validation: Counter[str] = field(default_factory=Counter)  # the pipeline's reasons of the dropped segments
    judge: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def report(self, config: DistillConfig, seconds: float, error: dict[str, Any] | None) -> dict[str, Any]:
        judged = sum(self.judge[k] for k in ("agree", "disagree", "prefers_other", "unparsed"))
        return {
            "teacher": {"url": config.teacher.url, "model": config.teacher.model},
            "judge": {"url": config.judge.url, "model": config.judge.model} if config.judge else None,
            "data": str(config.data),
            "out": str(config.out),
            "prompt_style": config.prompt_style,
            "units": {"read": self.units_read, "kept": self.units_kept, "dropped": self.units_read - self.units_kept},
            "segments": {
                "total": self.segments,
                "no_text": self.no_text,
                "kept": len(self.rows),
                "dropped": sum(self.dropped.values()),
            },
            "dropped": dict(sorted(self.dropped.items())),
            "validation_reasons": dict(sorted(self.validation.items())),
            "judge_pairs": {
                "compared": judged,
                "disagreements": self.judge["disagree"],
                **dict(sorted(self.judge.items())),
            },
            "tokens": {k: self.tokens[k] for k in ("teacher_in", "teacher_out", "judge_in", "judge_out")},
            "rows": len(self.rows),
            "seconds": round(seconds, 1),
            "error": error,
        }


def _has_text(seg: Any) -> bool:
    bare = seg.text
    for key in seg.placeholders:
        bare = bare.replace(key, " ")
    return bool(_LETTERS.search(bare))


class Run:
    """One distillation: the teacher's pipeline, the judge, the rows and the tallies."""

    def __init__(self, config: DistillConfig, teacher: Any, judge: Any, glossary: Any, tallies: Tallies) -> None:
        from papertrans._judge import PairJudge
        from papertrans.server.pipeline import Pipeline
        from papertrans.server.segments import SegmentTranslator
        from papertrans.server.settings import Settings

        settings = Settings().translate  # the ladder as the server is configured (PAPERTRANS_TRANSLATE__*)
        self.config, self.glossary = config, glossary
        self.pipeline = Pipeline(teacher, settings)
        sampled = settings.model_copy(update={"temperature": config.sample_temperature})
        self.sampler = SegmentTranslator(teacher, sampled, self.pipeline.metrics)
        self.judge = PairJudge(judge) if judge is not None else None
        self.t = tallies

    async def unit(self, unit: Any) -> None:
        from papertrans import protect
        from papertrans._distill_data import references

        tid = f"distill-{unit.id}"
        result = await self.pipeline.translate(unit.text, glossary=self.glossary, translation_id=tid)
        self.t.tokens["teacher_in"] += result.stats["tokens_in"]
        self.t.tokens["teacher_out"] += result.stats["tokens_out"]
        doc = protect.protect(unit.text, self.glossary)  # the pipeline's segments again (same ids): their context
        segs = {s.id: s for s in doc.segments}
        refs = references(doc, unit)
        # the judge's questions (and second samples) of all segments at once, rows kept in document order
        rows = await asyncio.gather(*(self._segment(unit, segs[o.id], o, refs.get(o.id)) for o in result.segments))
        kept = [row for row in rows if row is not None]
        self.t.rows.extend(kept)
        self.t.units_kept += bool(kept)

    async def _segment(self, unit: Any, seg: Any, outcome: Any, reference: str | None) -> dict[str, Any] | None:
        from papertrans.contract.prompts import CompletionOnly, build_prompt, one_item

        self.t.segments += 1
        if not _has_text(seg):
            self.t.no_text += 1
            return None
        if outcome.status not in ("ok", "retried"):
            self.t.dropped[outcome.status] += 1
            self.t.validation.update(outcome.reasons)
            return None
        target = one_item(outcome.output)
        if target == one_item(seg.text):  # shipped as is (a name, a code-like line): it teaches only copying
            self.t.dropped["identical_to_source"] += 1
            return None
        if self.config.max_segment_chars is not None and len(seg.text) > self.config.max_segment_chars:
            self.t.dropped["too_long"] += 1
            return None
        verdict = await self._judged(unit, seg, outcome, reference)
        if verdict is not None and verdict != "agree":
            self.t.dropped[f"judge_{verdict}"] += 1
            return None
        prompt, _ = build_prompt(
            CompletionOnly(),
            seg.text,
            heading_path=list(seg.heading_path),
            glossary_entries=list(seg.glossary),
            style=self.config.prompt_style,
        )
        return {
            "prompt": prompt,
            "completion": target + "\n\n",  # the server cuts an answer at a blank line: the student must write one
            "source": seg.text,
            "reference": target,
            "placeholders": list(seg.placeholders),
            "glossary": [[e.source, e.target] for e in seg.glossary],
            "meta": {
                "translation_id": None,
                "segment_id": seg.id,
                "doc_hash": unit.id,
                "adapter": None,
                "split": "train",
                "teacher": self.config.teacher.model,
                "status": outcome.status,
                "judge": verdict,
            },
        }

    async def _judged(self, unit: Any, seg: Any, outcome: Any, reference: str | None) -> str | None:
        """The judge's outcome (``agree`` = keep), or None when there is no judge or nothing to compare with."""
        from papertrans import protect
        from papertrans.server.engine import EngineError, EngineUnavailableError
        from papertrans.server.segments import Tally

        if self.judge is None:
            return None
        if reference is not None:
            other, against = protect.unmask(reference, seg.placeholders, seg.style), "reference"
        else:
            tally = Tally()
            alt = await self.sampler.translate(
                seg, [], self.glossary, adapter=None, tid=f"distill-{unit.id}-alt", tally=tally
            )
            self.t.tokens["teacher_in"] += tally.tokens_in
            self.t.tokens["teacher_out"] += tally.tokens_out
            if alt.status not in ("ok", "retried") or alt.output.strip() == outcome.output.strip():
                self.t.judge["no_alternative"] += 1  # the sample failed or said the same: nothing to judge
                return None
            other, against = alt.translation, "sample"
        try:
            verdict = await self.judge.compare(
                outcome.source, outcome.translation, other, request_id=f"judge-{unit.id}-{seg.id}"
            )
        except EngineUnavailableError:
            raise  # the judge is gone: the run stops
        except EngineError as exc:  # one failed question (after the provider's own retries) costs this segment
            log.warning("judge request for %s/%s failed: %s", unit.id, seg.id, exc)
            return "error"
        self.t.judge[f"against_{against}"] += 1
        self.t.judge[verdict.outcome] += 1
        self.t.tokens["judge_in"] += verdict.tokens_in
        self.t.tokens["judge_out"] += verdict.tokens_out
        return verdict.outcome
