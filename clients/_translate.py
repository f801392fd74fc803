"""The pieces of ``papertrans translate``: input conversion, the resume state file, atomic output, progress, summary."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .client import TranslateResult
from .errors import InputError

__all__ = [
    "JobState",
    "ProgressView",
    "atomic_write",
    "default_output",
    "job_key",
    "load_source",
    "render_summary",
    "summary_dict",
]

STATE_FILE = ".papertrans-jobs.json"
#: Segment statuses the progress bar counts as they happen: the ones a reader should know about.
FLAGGED = ("retried", "fallback", "needs_review")
SHOWN_IDS = 10  # segment ids listed in the summary table (the JSON summary lists all)
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".txt")
TEX_SUFFIXES = (".tex", ".ltx", ".latex")


def _stem(source: Path) -> str:
    """``paper.tar.gz`` → ``paper``; ``arxiv:1706.03762`` → ``arxiv-1706.03762``."""
    name = str(source)
    if name.lower().startswith("arxiv:"):
        return "arxiv-" + name[6:].replace("/", "_")
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip", ".gz"):
        if source.name.lower().endswith(suffix):
            return source.name[: -len(suffix)]
    return source.stem


def default_output(source: Path) -> Path:
    """``paper.pdf`` / ``paper.tex`` / ``paper.md`` / ``paper.tar.gz`` → ``paper.zh.md`` beside it (``arxiv:ID`` →
    ``arxiv-ID.zh.md`` in the current folder)."""
    if str(source).lower().startswith("arxiv:"):
        return Path(f"{_stem(source)}.zh.md")
    return source.with_name(f"{_stem(source)}.zh.md")


def _from_latex_source(source: Path, output: Path) -> tuple[str, list[str]]:
    """An e-print archive or ``arxiv:ID``: unpacked into ``<stem>_source/`` beside the output (its figures stay
    linkable), its main .tex found and converted."""
    from .convert import extract_eprint, fetch_arxiv, tex_to_markdown

    dest = output.parent / f"{_stem(source)}_source"
    if str(source).lower().startswith("arxiv:"):
        main = fetch_arxiv(str(source), dest)
    else:
        main = extract_eprint(source, dest)
    doc = tex_to_markdown(main, out_dir=output.parent)
    return doc.markdown, [f"LaTeX source: {main}", *doc.warnings]


def load_source(source: Path, output: Path, *, latex_source: Path | None = None,
                pdf_backend: str | None = None) -> tuple[str, list[str]]:
    """The Markdown to translate, converting a ``.tex``, an e-print (``.tar.gz``/``.zip``, ``arxiv:ID``) or a ``.pdf``
    first; returns (markdown, warnings). When ``latex_source`` is given it wins over a PDF ``source``.

    Image links point from the output's folder; a PDF's images are written to ``<stem>_images/`` beside the output.
    """
    if latex_source is not None:
        markdown, warnings = load_source(latex_source, output)
        if source.suffix.lower() == ".pdf":
            warnings.insert(0, f"using the LaTeX source {latex_source} instead of the PDF {source.name}")
        return markdown, warnings
    from .convert import is_eprint

    if str(source).lower().startswith("arxiv:") or (source.is_file() and is_eprint(source)):
        return _from_latex_source(source, output)
    if not source.exists():
        raise InputError(f"{source}: no such file")
    if source.is_dir():
        raise InputError(f"{source}: is a folder; give the main .tex, the .pdf or the .md file")
    suffix = source.suffix.lower()
    if suffix == ".pdf":
        from .convert import DEFAULT_BACKEND, pdf_to_markdown

        pdf = pdf_to_markdown(source, image_dir=output.parent / f"{source.stem}_images", out_dir=output.parent,
                              backend=pdf_backend or DEFAULT_BACKEND)
        return pdf.markdown, []
    if suffix in TEX_SUFFIXES:
        from .convert import tex_to_markdown

        doc = tex_to_markdown(source, out_dir=output.parent)
        return doc.markdown, doc.warnings
    if suffix in MARKDOWN_SUFFIXES or suffix == "":
        with source.open("rb") as fh:
            if fh.read(5) == b"%PDF-":
                raise InputError(f"{source}: is a PDF; name it .pdf")
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: not UTF-8 text") from exc
        if not text.strip():
            raise InputError(f"{source}: the file is empty")
        return text, []
    raise InputError(f"{source}: unsupported input type {suffix!r} (expected .md, .tex, .pdf, or an e-print "
                     ".tar.gz/.zip / arxiv:ID)")


def job_key(
    markdown: str,
    adapter: str | None,
    glossary: list[tuple[str, str]] | None,
    output: str,
    keep: Mapping[str, bool] | None = None,
) -> str:
    """Identifies one translation request: the same key means the same job can be resumed (``keep``, what the
    request keeps as it is, counts only when given: keys of requests without it are unchanged)."""
    fields: list[Any] = [markdown, adapter, glossary or [], output]
    if keep:
        fields.append(sorted(keep.items()))
    payload = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class JobState:
    """``.papertrans-jobs.json`` beside the output: request key → the job that is translating it."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, server: str) -> str | None:
        entry = self._load().get(key)
        if isinstance(entry, dict) and entry.get("server") == server and isinstance(entry.get("job_id"), str):
            return str(entry["job_id"])
        return None

    def put(self, key: str, server: str, job_id: str, output: Path) -> None:
        data = self._load()
        data[key] = {"job_id": job_id, "server": server, "output": output.name, "started": time.time()}
        atomic_write(self.path, json.dumps(data, indent=1))

    def remove(self, key: str) -> None:
        data = self._load()
        if data.pop(key, None) is None:
            return
        if data:
            atomic_write(self.path, json.dumps(data, indent=1))
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


@dataclass
class ProgressView:
    """A rich progress bar (segments done/total, elapsed, ETA) fed by ``Client.wait_job``'s callback."""

    console: Console
    enabled: bool = True

    def __post_init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("segments"),
            TextColumn("[yellow]{task.fields[flagged]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.enabled,
            transient=False,
        )
        self._task = self._progress.add_task("translating", total=None, flagged="")
        self._statuses: Counter[str] = Counter()

    @contextlib.contextmanager
    def running(self) -> Iterator[ProgressView]:
        with self._progress:
            yield self

    def __call__(self, done: int, total: int, event: dict[str, Any] | None) -> None:
        segment = (event or {}).get("segment")
        if isinstance(segment, dict) and segment.get("status") in FLAGGED:
            self._statuses[str(segment["status"])] += 1
        flagged = ", ".join(f"{n} {s}" for s, n in sorted(self._statuses.items()))
        self._progress.update(self._task, completed=done, total=total or None, flagged=flagged)


def summary_dict(result: TranslateResult, output: Path, elapsed: float, job_id: str | None) -> dict[str, Any]:
    """The run's summary (``--json`` prints it as is): counts per status, and which segments a reader should look at:
    ``fallback`` ones kept their source text, ``needs_review`` ones kept a translation that a faithfulness check
    flagged (every protected item intact)."""
    reasons: Counter[str] = Counter()
    review_reasons: Counter[str] = Counter()
    for seg in result.segments:
        if seg.status == "fallback":
            reasons.update(seg.reasons or ["unknown"])
        elif seg.status == "needs_review":
            review_reasons.update(seg.reasons or ["unknown"])
    stats = result.stats
    return {
        "output": str(output),
        "translation_id": result.translation_id,
        "job_id": job_id,
        "model": result.model,
        "adapter": result.adapter,
        "segments": {
            "total": len(result.segments) or stats.segments,
            "ok": result.count("ok"),
            "retried": result.count("retried"),
            "fallback": result.count("fallback"),
            "needs_review": result.count("needs_review"),
            "memory": result.count("memory"),  # a reader's accepted correction reused
            "cached": result.count("cached"),  # the server's output cache answered (no model call)
        },
        "fallback_reasons": dict(reasons),
        "fallback_segments": [s.id for s in result.segments if s.status == "fallback"],
        "needs_review_reasons": dict(review_reasons),
        "needs_review_segments": [
            {"id": s.id, "reasons": list(s.reasons)} for s in result.segments if s.status == "needs_review"
        ],
        "glossary_adherence": stats.glossary_adherence,
        "seconds": {"server": stats.seconds, "total": round(elapsed, 3)},
        "tokens": {"in": stats.tokens_in, "out": stats.tokens_out},
    }


def _tally(reasons: dict[str, int]) -> str:
    return ", ".join(f"{escape(r)} ×{n}" for r, n in sorted(reasons.items()))


def _first(items: list[str]) -> str:
    return ", ".join(items[:SHOWN_IDS]) + (" …" if len(items) > SHOWN_IDS else "")


def render_summary(console: Console, summary: dict[str, Any]) -> None:
    seg = summary["segments"]
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_row("output", escape(summary["output"]))
    table.add_row("translation id", str(summary["translation_id"]))
    table.add_row("model", f"{summary['model']}" + (f" + adapter {summary['adapter']}" if summary["adapter"] else ""))
    review, reused = seg.get("needs_review", 0), (f"{seg[s]} {s}" for s in ("memory", "cached") if seg.get(s))
    table.add_row(
        "segments",
        f"{seg['total']} total: [green]{seg['ok']} ok[/], [yellow]{seg['retried']} retried[/], "
        f"[red]{seg['fallback']} fallback[/]" + (f", [magenta]{review} needs review[/]" if review else "")
        + "".join(f", [cyan]{r}[/]" for r in reused),
    )
    if summary["fallback_reasons"]:
        ids = [escape(i) for i in summary["fallback_segments"]]
        table.add_row("fallback reasons", f"{_tally(summary['fallback_reasons'])} (source text kept in: {_first(ids)})")
    if summary.get("needs_review_segments"):
        flagged = [f"{escape(s['id'])} ({escape(', '.join(s['reasons']))})" for s in summary["needs_review_segments"]]
        table.add_row("needs review", f"{_tally(summary['needs_review_reasons'])} (check: {_first(flagged)})")
    adherence = summary["glossary_adherence"]
    table.add_row("glossary adherence", "n/a (no glossary terms)" if adherence is None else f"{adherence:.0%}")
    secs = summary["seconds"]
    table.add_row("time", f"{secs['total']:.1f} s (server {secs['server']:.1f} s)")
    table.add_row("tokens", f"{summary['tokens']['in']} in, {summary['tokens']['out']} out")
    console.print(table)
