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
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from papertrans import exitcodes
from papertrans._distill_run import DistillConfig, Endpoint, Tallies

__all__ = ["DistillConfig", "Endpoint", "EngineFactory", "chat_engine", "distill", "register", "run"]


#: ``endpoint -> a started engine``: the chat provider in use, fakes in tests.
EngineFactory = Callable[[Endpoint], Awaitable[Any]]


async def chat_engine(endpoint: Endpoint, *, transport: Any = None) -> Any:
    """The teacher (or judge) as a :class:`papertrans.server.engine.chat.ChatEngine`. Every other provider setting
    (concurrency, rate limit, timeouts, retries, extra stop strings, a local tokenizer, the constraint) comes from the
    server's environment, ``PAPERTRANS_ENGINE__PROVIDER__*`` (``docs/engine.md``); the key only from
    ``endpoint``'s variable or file. ``transport``: an ``httpx`` transport (tests: a fake provider)."""
    from papertrans.server.engine.chat import ChatEngine
    from papertrans.server.settings import Settings

    settings = Settings()
    update: dict[str, Any] = {"kind": "openai-chat", "base_url": endpoint.url, "model": endpoint.model}
    if endpoint.api_key_env or endpoint.api_key_file:
        update.update(api_key=None, api_key_env=endpoint.api_key_env, api_key_file=endpoint.api_key_file)
    provider = settings.engine.provider.model_copy(update=update)
    if provider.constrain is None and not settings.engine.constrain_placeholders:
        provider = provider.model_copy(update={"constrain": False})
    tokenizer = None
    if provider.tokenizer:  # chunking counts tokens with the teacher's own tokenizer when one is named
        from transformers import AutoTokenizer

        from papertrans.contract.model import resolve_model

        folder = await asyncio.to_thread(resolve_model, provider.tokenizer, settings.cache_dir)
        tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, str(folder))
    return await ChatEngine.start(provider, tokenizer=tokenizer, transport=transport)


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


async def _translate_all(run: Any, units: list[Any], in_flight: int) -> None:
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
    from papertrans._distill_run import Run
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
        teacher = await build_engine(config.teacher)
        if config.judge is not None:
            judge = await build_engine(config.judge)
        await _translate_all(Run(config, teacher, judge, glossary, tallies), units, config.units_in_flight)
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
    p.add_argument("--teacher", required=True, help="the teacher's OpenAI-compatible base URL (e.g. .../v1)")
    p.add_argument("--model", required=True, help="the teacher's model name at that URL")
    p.add_argument("--api-key-env", help="environment variable holding the teacher's API key")
    p.add_argument("--api-key-file", type=Path, help="file holding the teacher's API key")
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
    p.add_argument("--judge-api-key-env", help="environment variable holding the judge's API key")
    p.add_argument("--judge-api-key-file", type=Path, help="file holding the judge's API key")
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
    from pydantic import ValidationError

    from papertrans.rl.datasets import DataError

    teacher = Endpoint(args.teacher, args.model, args.api_key_env, args.api_key_file)
    judge = None
    if args.judge:
        judge = Endpoint(args.judge, args.judge_model or args.model, args.judge_api_key_env, args.judge_api_key_file)
    config = DistillConfig(
        teacher=teacher,
        data=args.data,
        out=args.out,
        report=args.report,
        judge=judge,
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
    except ValidationError as exc:  # PAPERTRANS_* settings (the ladder, the provider) that do not validate
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(json.dumps({"error": "invalid_settings", "detail": detail}, ensure_ascii=False), file=sys.stderr)
        return exitcodes.USAGE
    print(_summary(report))
    if report["error"]:
        print(
            json.dumps({"error": report["error"]["code"], "detail": report["error"]["detail"]}, ensure_ascii=False),
            file=sys.stderr,
        )
        return int(report["error"]["exit_code"])
    return exitcodes.OK if report["rows"] else exitcodes.INCOMPLETE
