"""``papertrans distill``: a strong teacher model translates English units, what passes is written as SFT rows.

Every unit goes through the server's whole translate pipeline (:class:`papertrans.server.pipeline.Pipeline`:
protect, the placeholder constraint where the provider supports it, validation, the retry ladder) with the teacher
as its engine, so a row holds only a translation the server itself would have shipped: a segment is kept when its
status is ``ok`` or ``retried``, never ``fallback`` or ``needs_review``. An optional LLM judge then compares the
teacher's translation with another one (the data's own human translation of the segment where it has one, else a
second teacher sample) in both orders (:mod:`papertrans._judge`): the teacher's must win both times.

The rows are what ``papertrans train --method sft`` takes, built for the *student*: the prompt is the serving prompt
of the student's style (``contract.prompts.build_prompt`` on a completion-only model, like ``rl/corpus.py``'s rows
from parallel text), not the teacher's chat prompt; the completion is the masked translation as the server cuts an
answer. This module sits on top of server and rl (the layout's rules: neither may import the other).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from papertrans import exitcodes

__all__ = ["DistillConfig", "EngineFactory", "chat_engine", "distill", "register", "run"]

#: ``(base_url, model) -> a started engine``: the chat provider in use, a fake one in tests.
EngineFactory = Callable[[str, str], Awaitable[Any]]
log = logging.getLogger(__name__)
_LETTERS = re.compile(r"[A-Za-z]{2,}")


@dataclass
class DistillConfig:
    """The options of one run (the command line's, one to one)."""

    teacher: str  # OpenAI-compatible base URL of the teacher
    model: str  # the teacher's model name at that URL
    data: Path  # .jsonl (parallel or English rows), a Markdown file, or a folder of Markdown files
    out: Path  # SFT rows (JSONL)
    report: Path | None = None  # default: <out>.report.json
    judge: str | None = None  # OpenAI-compatible base URL of the judge (None: no judge)
    judge_model: str | None = None  # default: the teacher's model name
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
            "teacher": {"url": config.teacher, "model": config.model},
            "judge": {"url": config.judge, "model": config.judge_model or config.model} if config.judge else None,
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


async def chat_engine(base_url: str, model: str) -> Any:
    """The teacher (and judge): an OpenAI-compatible chat provider, ``server.engine.chat``. Its key comes from the
    environment or a file as the provider settings read it (``docs/engine.md``), never from the command line."""
    chat = importlib.import_module("papertrans.server.engine.chat")
    settings = chat.ProviderSettings(base_url=base_url, model=model)
    return await chat.ChatEngine.start(settings)


def _has_text(seg: Any) -> bool:
    bare = seg.text
    for key in seg.placeholders:
        bare = bare.replace(key, " ")
    return bool(_LETTERS.search(bare))


class _Run:
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
        kept = 0
        for outcome in result.segments:
            row = await self._segment(unit, segs[outcome.id], outcome, refs.get(outcome.id))
            if row is not None:
                self.t.rows.append(row)
                kept += 1
        self.t.units_kept += kept > 0

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
                "teacher": self.config.model,
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


async def _close(engine: Any) -> None:
    if engine is not None:
        await engine.close()


def _stopped(exc: BaseException) -> dict[str, Any]:
    """The report's ``error`` for an engine failure that ended the run (and its exit code)."""
    from papertrans.server.engine import EngineUnavailableError

    unavailable = isinstance(exc, EngineUnavailableError)
    return {
        "code": "engine_unavailable" if unavailable else "engine_error",
        "detail": str(exc),
        "exit_code": exitcodes.UNAVAILABLE if unavailable else exitcodes.FAILED,
    }


async def _translate_all(run: _Run, units: list[Any], in_flight: int) -> None:
    gate = asyncio.Semaphore(max(1, in_flight))

    async def one(unit: Any) -> None:
        async with gate:
            await run.unit(unit)

    async with asyncio.TaskGroup() as group:  # one failure (a dead teacher) cancels the others
        for unit in units:
            group.create_task(one(unit))


async def distill(config: DistillConfig, *, build_engine: EngineFactory = chat_engine) -> dict[str, Any]:
    """Translate, filter, write the rows and the report; returns the report. Input errors raise
    :class:`papertrans.rl.datasets.DataError` before any engine is built. An engine that fails as a whole (the
    teacher unreachable or gone) stops the run: the rows kept so far are still written, and the report's ``error``
    says what happened (with the exit code)."""
    from papertrans._distill_data import read_units
    from papertrans.contract.prompts import PROMPT_STYLES
    from papertrans.rl.corpus import load_glossary
    from papertrans.rl.datasets import DataError, validate_rows, write_rows
    from papertrans.server.engine import EngineError

    if config.prompt_style not in PROMPT_STYLES:
        raise DataError("invalid_option", f"--prompt-style {config.prompt_style!r}: one of {', '.join(PROMPT_STYLES)}")
    units = read_units(config.data, max_units=config.max_units)
    glossary = load_glossary(config.glossary)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tallies = Tallies(units_read=len(units))
    teacher = judge = None
    error: dict[str, Any] | None = None
    try:
        teacher = await build_engine(config.teacher, config.model)
        if config.judge:
            judge = await build_engine(config.judge, config.judge_model or config.model)
        await _translate_all(_Run(config, teacher, judge, glossary, tallies), units, config.units_in_flight)
    except* EngineError as failed:
        error = _stopped(failed.exceptions[0])
    finally:
        await _close(judge)
        await _close(teacher)
    if tallies.rows:
        validate_rows("sft", tallies.rows)  # what train --method sft checks, before the file exists
    tmp = config.out.with_name(config.out.name + ".tmp")
    write_rows(tmp, tallies.rows)
    os.replace(tmp, config.out)
    report = tallies.report(config, time.monotonic() - started, error)
    report_path = config.report or config.out.with_name(config.out.name + ".report.json")
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    report["report"] = str(report_path)
    return report


# -- the command line -------------------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "distill",
        help="a teacher model translates English units through the pipeline; what passes becomes SFT rows",
        description="Translate English units (a .jsonl of parallel or English rows, a Markdown file or a folder of "
        "them) with a teacher (an OpenAI-compatible chat endpoint) through the full translate pipeline; keep the "
        "segments that pass validation (ok/retried), optionally only those an LLM judge prefers in both orders; write "
        "SFT rows for `papertrans train --method sft` with the student's serving prompt, and a JSON report.\n\n"
        "example: papertrans distill --teacher http://127.0.0.1:11434 --model qwen2.5:7b-instruct "
        "--data units.jsonl --out distilled.jsonl\n\n" + exitcodes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, help="the teacher's OpenAI-compatible base URL")
    p.add_argument("--model", required=True, help="the teacher's model name at that URL")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="English units: .jsonl rows with en/source/text (a zh/target side is the judge's reference), "
        "a Markdown file, or a folder of Markdown files",
    )
    p.add_argument("-o", "--out", type=Path, default=Path("distilled.jsonl"), help="SFT rows (default: %(default)s)")
    p.add_argument("--report", type=Path, help="report JSON (default: <out>.report.json)")
    p.add_argument("--judge", help="an OpenAI-compatible base URL of an LLM judge (default: no judge)")
    p.add_argument("--judge-model", help="the judge's model name (default: the teacher's)")
    p.add_argument(
        "--prompt-style",
        default="zeroshot",
        choices=["zeroshot", "fewshot"],
        help="the student's serving prompt style the rows are built with (default: %(default)s, the "
        "style `train --method sft` defaults to)",
    )
    p.add_argument(
        "--glossary", help="term=translation,... or a glossary file (in the teacher's and the rows' prompts)"
    )
    p.add_argument("--max-units", type=int, help="distill at most this many units")
    p.add_argument("--max-segment-chars", type=int, help="drop English segments longer than this")
    p.add_argument("--units-in-flight", type=int, default=4, help="units translated at once (default: %(default)s)")
    p.add_argument(
        "--sample-temperature",
        type=float,
        default=0.7,
        help="the judge's second teacher sample, for units without a human translation (default: %(default)s)",
    )
    p.set_defaults(handler=run)


def _summary(report: dict[str, Any]) -> str:
    units, segs, tokens = report["units"], report["segments"], report["tokens"]
    lines = [
        f"distill: {units['read']} units read, {units['kept']} gave rows, {units['dropped']} none",
        f"  segments: {segs['total']} ({segs['no_text']} without text), {segs['kept']} kept, {segs['dropped']} dropped",
    ]
    lines += [f"    dropped {code}: {n}" for code, n in report["dropped"].items()]
    if report["validation_reasons"]:
        lines.append(
            "  validation reasons of the dropped: "
            + ", ".join(f"{code} {n}" for code, n in report["validation_reasons"].items())
        )
    if report["judge"]:
        pairs = report["judge_pairs"]
        lines.append(
            f"  judge: {pairs['compared']} pairs, {pairs['disagreements']} disagreements "
            f"({', '.join(f'{k} {v}' for k, v in pairs.items() if k not in ('compared', 'disagreements'))})"
        )
    lines.append(
        f"  tokens: teacher {tokens['teacher_in']} in / {tokens['teacher_out']} out, "
        f"judge {tokens['judge_in']} in / {tokens['judge_out']} out; {report['seconds']} s"
    )
    lines.append(f"  rows: {report['rows']} -> {report['out']}; report -> {report['report']}")
    if report["error"]:
        lines.append(f"  stopped: {report['error']['code']}: {report['error']['detail']}")
    return "\n".join(lines)


def run(args: argparse.Namespace, *, build_engine: EngineFactory = chat_engine) -> int:
    """The handler: input errors and a teacher that cannot serve end in one JSON line on stderr and their exit code
    (:mod:`papertrans.exitcodes`), never a traceback; no row kept is "finished, not good enough" (4)."""
    from papertrans.rl.datasets import DataError

    config = DistillConfig(
        teacher=args.teacher,
        model=args.model,
        data=args.data,
        out=args.out,
        report=args.report,
        judge=args.judge,
        judge_model=args.judge_model,
        prompt_style=args.prompt_style,
        glossary=args.glossary,
        max_units=args.max_units,
        max_segment_chars=args.max_segment_chars,
        units_in_flight=args.units_in_flight,
        sample_temperature=args.sample_temperature,
    )
    try:
        report = asyncio.run(distill(config, build_engine=build_engine))
    except DataError as exc:
        print(json.dumps({"error": exc.code, "detail": exc.detail}, ensure_ascii=False), file=sys.stderr)
        return exitcodes.USAGE
    print(_summary(report))
    if report["error"]:
        print(
            json.dumps({"error": report["error"]["code"], "detail": report["error"]["detail"]}, ensure_ascii=False),
            file=sys.stderr,
        )
        return int(report["error"]["exit_code"])
    return exitcodes.OK if report["rows"] else exitcodes.INCOMPLETE
