"""Client subcommands of ``papertrans``: ``pdf2md``, ``tex2md``, ``translate``, ``feedback``, ``compare`` (and
``memory``, ``glossary`` from :mod:`._interchange`).

Exit codes: the one table of every ``papertrans`` command, :mod:`papertrans.exitcodes` (docs/clients.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from papertrans import exitcodes

from .errors import ApiError, ClientError, InputError, JobFailed, ServerUnavailable

if TYPE_CHECKING:  # imported by the commands themselves: `papertrans --help` stays light
    from ._translate import JobState
    from .client import Client, Job

__all__ = ["register"]


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the client's exceptions into one clear line on stderr and a documented exit code."""

    def run(args: argparse.Namespace) -> int:
        err = _stderr()
        try:
            return func(args)
        except ClientError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            if isinstance(exc, ServerUnavailable):
                err.print("is the server running? start one with `papertrans serve`, or pass --server URL")
            return exc.exit_code
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            return exitcodes.INTERRUPTED

    return run


# --- shared options ---------------------------------------------------------------------------------------------


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server connection (flags > environment > config file)")
    group.add_argument("--server", metavar="URL", help="server URL [env PAPERTRANS_SERVER; default http://127.0.0.1:8000]")
    group.add_argument("--api-key", metavar="KEY", help="X-API-Key for write endpoints [env PAPERTRANS_API_KEY]")
    group.add_argument("--timeout", type=float, metavar="S", help="HTTP timeout in seconds [env PAPERTRANS_TIMEOUT]")
    group.add_argument("--config", metavar="FILE",
                       help="TOML config file [env PAPERTRANS_CONFIG; default ~/.config/papertrans/config.toml]")


def _config(args: argparse.Namespace) -> Any:
    from .client.config import load_config

    flags = {k: getattr(args, k, None) for k in ("server", "api_key", "timeout", "adapter", "glossary")}
    return load_config(flags, getattr(args, "config", None))


def _client(args: argparse.Namespace) -> Any:
    from .client import Client

    cfg = _config(args)
    return Client(cfg.server, api_key=cfg.api_key, admin_key=cfg.admin_key, timeout=cfg.timeout), cfg


def _parser(sub: Any, name: str, help_: str, description: str, examples: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_,
        description=description,
        epilog=f"examples:\n{examples}\n\n{exitcodes.HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


# --- pdf2md / tex2md --------------------------------------------------------------------------------------------


@_guarded
def _cmd_pdf2md(args: argparse.Namespace) -> int:
    from ._translate import atomic_write
    from .convert import pdf_to_markdown

    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_suffix(".md")
    if output.resolve() == source.resolve():
        raise InputError("the output would overwrite the input; pass -o")
    image_dir = Path(args.image_dir) if args.image_dir else output.parent / f"{output.stem}_images"
    doc = pdf_to_markdown(source, image_dir=image_dir, out_dir=output.parent, password=args.password,
                          backend=args.backend)
    if args.output == "-":
        sys.stdout.write(doc.markdown)
        return exitcodes.OK
    atomic_write(output, doc.markdown)
    images = f", {len(doc.images)} image(s) in {image_dir}" if doc.images else ""
    _stderr().print(f"wrote {output} ({doc.pages} page(s){images})")
    return exitcodes.OK


@_guarded
def _cmd_tex2md(args: argparse.Namespace) -> int:
    from ._translate import atomic_write
    from .convert import tex_to_markdown

    source = Path(args.input)
    to_stdout = args.output in (None, "-")
    output = None if to_stdout else Path(args.output)
    doc = tex_to_markdown(source, out_dir=Path.cwd() if output is None else output.parent)
    err = _stderr()
    for warning in doc.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if output is None:
        sys.stdout.write(doc.markdown)
    else:
        atomic_write(output, doc.markdown)
        err.print(f"wrote {output} (from {len(doc.files)} file(s))")
    return exitcodes.OK


# --- translate ---------------------------------------------------------------------------------------------------


def _resumable_job(client: Client, state: JobState, key: str, server: str, err: Console) -> str | None:
    """The id of this input's earlier job when the server still has it and it has not failed, else None."""
    job_id: str | None = state.get(key, server)
    if job_id is None:
        return None
    job: Job | None
    try:
        job = client.job(job_id)
    except ApiError as exc:
        if exc.status != 404:
            raise
        job = None
    if job is None or job.failed:
        why = "is unknown to the server" if job is None else f"had failed ({job.error or job.status})"
        err.print(f"previous job {job_id} {why}; starting a new one")
        state.remove(key)
        return None
    err.print(f"resuming job {job_id} ({job.done}/{job.total or '?'} segments done)")
    return job_id


def _keep(args: argparse.Namespace) -> dict[str, bool]:
    """The parts of the paper this request keeps as they are (True) or translates (False) against the server's
    settings; a part not named follows the server (references and byline kept, captions translated)."""
    keep: dict[str, bool] = {}
    if args.translate_references:
        keep["references"] = False
    if args.translate_authors:
        keep["authors"] = False
    if args.keep_captions:
        keep["captions"] = True
    return keep


@_guarded
def _cmd_translate(args: argparse.Namespace) -> int:
    from ._glossary import load_glossary
    from ._translate import (
        JobState,
        ProgressView,
        atomic_write,
        default_output,
        job_key,
        load_source,
        render_summary,
        summary_dict,
    )

    started = time.monotonic()
    err = _stderr()
    source = Path(args.input)
    output = Path(args.output) if args.output else default_output(source)
    if source.exists() and output.resolve() == source.resolve():
        raise InputError("the output would overwrite the input; pass -o")
    cfg = _config(args)
    if args.export_terms and Path(args.export_terms).suffix.lower() not in (".csv", ".tsv", ".json", ".tbx"):
        raise InputError(f"--export-terms {args.export_terms}: the format is chosen by its extension: "
                         ".csv, .tsv, .json, .tbx")
    glossary = load_glossary(Path(cfg.glossary)) if cfg.glossary else None
    markdown, warnings = load_source(source, output, latex_source=Path(args.source) if args.source else None,
                                     pdf_backend=args.backend)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if args.save_source:
        atomic_write(Path(args.save_source), markdown)
    mode = "bilingual" if args.bilingual else "zh"

    from .client import Client

    state = JobState(output.parent)
    keep = _keep(args)
    key = job_key(markdown, cfg.adapter, glossary, mode, keep)
    with Client(cfg.server, api_key=cfg.api_key, admin_key=cfg.admin_key, timeout=cfg.timeout) as client:
        job_id = None if args.restart else _resumable_job(client, state, key, cfg.server, err)
        if job_id is None:
            job_id = client.submit_job(markdown, adapter=cfg.adapter, glossary=glossary, output=mode, keep=keep)
            state.put(key, cfg.server, job_id, output)
            err.print(f"job {job_id} submitted to {cfg.server}")
        view = ProgressView(err, enabled=not args.quiet)
        try:
            with view.running():
                result = client.wait_job(job_id, on_progress=view, use_events=not args.poll)
        except JobFailed:
            state.remove(key)  # a failed job cannot be resumed; the next run starts afresh
            raise
        except KeyboardInterrupt:
            err.print(f"[yellow]interrupted[/]: job {job_id} keeps running on the server; "
                      "run the same command again to resume it")
            return exitcodes.INTERRUPTED
    atomic_write(output, result.markdown)
    if args.export_terms:
        from ._interchange import _glossary_text

        terms = result.document_glossary()
        atomic_write(Path(args.export_terms), _glossary_text(terms, Path(args.export_terms).suffix.lower()))
        err.print(f"wrote the document's terminology to {args.export_terms} ({len(terms)} terms)")
    state.remove(key)
    summary = summary_dict(result, output, time.monotonic() - started, job_id)
    if args.json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    else:
        render_summary(_stdout(), summary)
    if args.strict and summary["segments"]["fallback"]:
        err.print(f"[red]--strict:[/] {summary['segments']['fallback']} segment(s) fell back to the source text")
        return exitcodes.INCOMPLETE
    # needs_review is a warning, never a failure: the translation is there and keeps every protected item; only a
    # reader can tell whether the check that flagged it was right (--strict counts fallbacks only).
    return exitcodes.OK


# --- feedback / compare ------------------------------------------------------------------------------------------


@_guarded
def _cmd_feedback(args: argparse.Namespace) -> int:
    correction = args.correction
    if args.correction_file:
        try:
            correction = Path(args.correction_file).read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{args.correction_file}: cannot read ({exc})") from exc
    client, _ = _client(args)
    with client:
        out = client.feedback(args.translation_id, args.segment_id, rating=args.rating, correction=correction,
                              comment=args.comment)
    what = [args.rating] + (["correction"] if correction else []) + (["comment"] if args.comment else [])
    _stderr().print(f"feedback recorded ({', '.join(what)}) on {args.translation_id}/{args.segment_id}"
                    + (f" — id {out['id']}" if isinstance(out, dict) and "id" in out else ""))
    return exitcodes.OK


def _read_choice(console: Console) -> str:
    answers = {"a": "a", "b": "b", "s": "same", "same": "same"}
    while True:
        try:
            raw = console.input("Which is better? [bold]a[/], [bold]b[/] or [bold]s[/] (same): ").strip().lower()
        except EOFError as exc:
            raise InputError("no choice given (stdin closed); pass --choice a|b|same") from exc
        if raw in answers:
            return answers[raw]
        console.print("please answer a, b or s")


@_guarded
def _cmd_compare(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    out = _stdout()
    with client:
        variants = [args.a, args.b] if args.a or args.b else None
        if variants is not None and None in variants:
            raise InputError("give both --a and --b, or neither")
        comparison = client.create_comparison(args.translation_id, args.segment_id, variants=variants)
        if comparison.source:
            out.print(Panel(escape(comparison.source), title="source", title_align="left"))
        table = Table(show_lines=True, expand=True)
        table.add_column("a", ratio=1)
        table.add_column("b", ratio=1)
        table.add_row(escape(comparison.a), escape(comparison.b))
        out.print(table)
        choice = {"s": "same"}.get(args.choice or "", args.choice) or _read_choice(out)
        answer = client.choose(comparison.id, choice)
    labels = f" (a = {answer.get('a')}, b = {answer.get('b')})" if isinstance(answer, dict) and "a" in answer else ""
    _stderr().print(f"choice '{choice}' recorded for comparison {comparison.id}{labels}")
    return exitcodes.OK


# --- registration ------------------------------------------------------------------------------------------------


# the PDF backends (clients.convert.PDF_BACKENDS; spelled out so that `papertrans --help` imports nothing heavy)
PDF_BACKEND_CHOICES = ("pdfplumber", "pymupdf4llm", "nougat", "marker", "mineru")


def register(sub: Any) -> None:
    """Declare the client subcommands (no heavy imports here: ``papertrans --help`` stays fast)."""
    p = _parser(
        sub, "pdf2md", "convert a PDF to Markdown (formulas kept as protected LaTeX spans)",
        "Convert a PDF to Markdown: reading order (two columns), headings, lists, tables, figures; formulas are\n"
        "detected from math fonts, glyphs and script geometry and written as $...$ / $$...$$ (display formulas also\n"
        "as cropped images), so that translation never touches them. Backends: pdfplumber (default; MIT, with\n"
        "pypdfium2, Apache-2.0/BSD), pymupdf4llm (AGPL-3.0, extra 'pdf', no formula detection), nougat / marker /\n"
        "mineru (math OCR, only if you installed one with its weights). With the LaTeX source, use tex2md.",
        "  papertrans pdf2md paper.pdf                 # -> paper.md and paper_images/\n"
        "  papertrans pdf2md paper.pdf -o out/paper.md\n"
        "  papertrans pdf2md locked.pdf --password secret -o - | less",
    )
    p.add_argument("input", metavar="PDF")
    p.add_argument("-o", "--output", metavar="FILE", help="output Markdown ('-' = stdout; default: PDF name with .md)")
    p.add_argument("--image-dir", metavar="DIR", help="where images go (default: <output stem>_images/ beside it)")
    p.add_argument("--password", help="password of an encrypted PDF")
    p.add_argument("--backend", default="pdfplumber", choices=PDF_BACKEND_CHOICES,
                   help="PDF converter (default: %(default)s)")
    p.set_defaults(handler=_cmd_pdf2md)

    p = _parser(
        sub, "tex2md", "convert a LaTeX project to Markdown (formulas kept byte for byte)",
        "Convert a LaTeX project to Markdown that the translator understands: follows \\input/\\include, strips\n"
        "comments, turns sections, lists, emphasis, figures and simple tables into Markdown, and keeps every formula,\n"
        "math environment, \\cite, \\ref, \\eqref, \\label, \\url and \\href exactly as written.",
        "  papertrans tex2md main.tex                  # Markdown on stdout\n"
        "  papertrans tex2md arxiv-src/main.tex -o paper.md",
    )
    p.add_argument("input", metavar="MAIN.tex")
    p.add_argument("-o", "--output", metavar="FILE", help="output Markdown (default: stdout)")
    p.set_defaults(handler=_cmd_tex2md)

    p = _parser(
        sub, "translate", "translate a .md, .tex or .pdf paper to Chinese Markdown",
        "Translate a paper into Chinese through a papertrans server: converts .tex/.pdf first, runs a job with a\n"
        "progress bar, resumes an interrupted job (state in .papertrans-jobs.json beside the output), writes the\n"
        "output atomically and prints a summary (ok / retried / fallback / needs-review segments and why, glossary\n"
        "adherence, time, tokens).",
        "  papertrans translate paper.pdf                       # -> paper.zh.md\n"
        "  papertrans translate main.tex -o paper.zh.md --bilingual\n"
        "  papertrans translate paper.md --glossary terms.csv --adapter d2l --server http://gpu-box:8000\n"
        "  papertrans translate paper.md --strict --json > summary.json",
    )
    p.add_argument("input", metavar="INPUT",
                   help=".md, .tex (main file), .pdf, an arXiv e-print (.tar.gz/.zip) or arxiv:ID (fetched if online)")
    p.add_argument("--source", metavar="SRC", help="the paper's LaTeX source (.tex, e-print .tar.gz/.zip or arxiv:ID); "
                                                   "it wins over a PDF INPUT: formulas come back as the authors' LaTeX")
    p.add_argument("--backend", default="pdfplumber", choices=PDF_BACKEND_CHOICES,
                   help="PDF converter for a .pdf INPUT (default: %(default)s)")
    p.add_argument("-o", "--output", metavar="FILE", help="output Markdown (default: <input stem>.zh.md beside it)")
    p.add_argument("--bilingual", action="store_true", help="source and translation side by side, block by block")
    p.add_argument("--translate-references", action="store_true",
                   help="translate the references section too (by default the server keeps it as it is)")
    p.add_argument("--translate-authors", action="store_true",
                   help="translate the author and affiliation lines too (by default kept as they are)")
    p.add_argument("--keep-captions", action="store_true",
                   help="keep figure and table captions as they are (by default translated)")
    p.add_argument("--glossary", metavar="FILE",
                   help="term list (.csv/.tsv 'source,target', .json, .toml) [env PAPERTRANS_GLOSSARY]")
    p.add_argument("--export-terms", metavar="FILE",
                   help="write the document's terminology (each term and the translation the server enforced) to "
                        "FILE (.csv/.tsv/.json/.tbx): review or edit it and pass it back with --glossary")
    p.add_argument("--adapter", metavar="NAME", help="LoRA adapter: NAME (its active version) or NAME@VERSION "
                                                     "[env PAPERTRANS_ADAPTER]")
    p.add_argument("--strict", action="store_true",
                   help="exit 4 when any segment fell back to the source text (needs_review segments are a warning: "
                        "listed, exit 0)")
    p.add_argument("--restart", action="store_true", help="start a new job even if an unfinished one exists")
    p.add_argument("--poll", action="store_true", help="poll the job instead of following its event stream")
    p.add_argument("--save-source", metavar="FILE", help="also write the English Markdown converted from .tex/.pdf")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_client_options(p)
    p.set_defaults(handler=_cmd_translate)

    p = _parser(
        sub, "feedback", "rate a translated segment (thumbs up/down, correction, comment)",
        "Send feedback on one segment of a stored translation (ids are in the translate summary and in\n"
        "GET /translations/ID). A correction must keep the segment's formulas, code and references.",
        "  papertrans feedback 3f2a... s12 up\n"
        "  papertrans feedback 3f2a... s12 down --correction '注意力机制让模型关注相关的词元。'\n"
        "  papertrans feedback 3f2a... s12 down --correction-file fixed.md --comment 'term 令牌 is wrong'",
    )
    p.add_argument("translation_id")
    p.add_argument("segment_id")
    p.add_argument("rating", choices=("up", "down"))
    p.add_argument("--correction", metavar="TEXT", help="your corrected translation of the segment")
    p.add_argument("--correction-file", metavar="FILE", help="read the correction from a file")
    p.add_argument("--comment", metavar="TEXT", help="a free-text comment")
    _add_client_options(p)
    p.set_defaults(handler=_cmd_feedback)

    p = _parser(
        sub, "compare", "A/B: judge two translations of a segment in the terminal",
        "Ask the server for two variants of a stored segment (shown in random order as a and b), then answer\n"
        "a, b or s (same). By default the server compares the stored output with the previous adapter version or\n"
        "the base model; --a/--b name the variants: current, base, base:sample, ADAPTER, ADAPTER@VERSION.",
        "  papertrans compare 3f2a... s12\n"
        "  papertrans compare 3f2a... s12 --a d2l@2 --b base\n"
        "  papertrans compare 3f2a... s12 --choice same          # non-interactive",
    )
    p.add_argument("translation_id")
    p.add_argument("segment_id")
    p.add_argument("--a", metavar="VARIANT", help="first variant to produce")
    p.add_argument("--b", metavar="VARIANT", help="second variant to produce")
    p.add_argument("--choice", choices=("a", "b", "s", "same"), help="answer without prompting")
    _add_client_options(p)
    p.set_defaults(handler=_cmd_compare)

    from ._interchange import register as register_interchange  # here: that module imports this one's helpers

    register_interchange(sub)  # memory import|export, glossary convert
