"""Translation quality and faithfulness on the dev data, through the real server, or re-scored from a saved run.

Every dev unit (``../shared/data/dev/d2l_en_zh.jsonl``, 115 with a human translation) and both dev documents
(``../shared/data/dev/docs/*.md``, English only) go through ``POST /translate`` of the in-process app on ONE real
engine (default settings unless told otherwise). The figures come from what the server returned (the markdown and
the public segments), never from the reasons it reported, so a run of a server without some check is scored the same
way (``benchmarks/quality_figures.py`` defines them). Printed as one table, with issue 20's targets:

* quality, units, on the words alone (code, math, URLs, roles and HTML removed from both sides, because kept code and
  math alone give a copy of the English a high chrF): corpus chrF and BLEU (``tokenize="zh"``), the share of
  Chinese among the output's letters, and the same for an unchanged copy of the English as the floor;
* integrity, units and documents: segments falling back to English (target <= 2 %) and their reasons; must-preserve
  items lost (each ``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``, code span, role, ``\\cite``-like reference and URL
  of the source must be in the output as often; target 0);
* faithfulness, units: units whose translated words are under 0.75 (target <= 5 %) and under 0.6 (target: none) of
  the human translation's length, length on the words alone as CJK characters + Latin words + numbers, and the
  shortest 5; units with an odd ``**`` or single ``*`` count where the source's is even (math, code and other
  protected items removed first, bullets not counted; target: none) and units whose ``**`` count differs from the
  source's (target <= 5 %); the same per document, by segment;
* faithfulness, units and documents: touching inline formulas (``$a$$b$``) that the source does not have (target 0);
  each kept segment's translation re-masked with the placeholders of the source protected again, and the segments
  ``protect.validate`` flags with each faithfulness reason (``placeholder_number``: target 0); statuses and the
  ``needs_review`` share;
* terminology, documents (issue 21): per document, the share of the occurrences of its terms seen 3 times or more
  whose segment translation holds the term's chosen translation (the document terminology the server reported;
  ``quality_figures.term_consistency``), and the terms by source layer;
* wall time: all units, both documents, and each document's own request (the documents are sent at once).

It starts vLLM: on the shared machine run it under the heavy lock::

    .venv/bin/python benchmarks/bench_quality.py [--limit N] [--no-docs]
        [--adapter FOLDER|none] [--model SPEC] [--no-constrain] [--terminology on|off|both] [--no-term-base]
        [--json out.json]

``--adapter`` registers a PEFT folder as adapter ``bench`` and translates with it (``none``: the base model; default:
whatever the server's default is). ``--model`` overrides ``PAPERTRANS_MODEL``. ``--json`` keeps every output (source,
reference, markdown, segments, seconds, terminology) and the figures.

``--terminology both`` translates everything twice on the same engine, first with the document terminology step off
(today's server: ``PAPERTRANS_TRANSLATE__TERMINOLOGY=false``), then on, and prints the two side by side; the run
without the step is scored for term consistency against the terms the run with it chose. ``--json out.json`` then
writes ``out.terminology-off.json`` and ``out.terminology-on.json``. ``--no-term-base`` turns the shipped term base
off (``PAPERTRANS_TRANSLATE__TERM_BASE=false``).

Re-scoring a saved ``--json`` run (pure Python, no engine; a run saved before the sources were kept takes them from
``--dev`` by unit id and document order); two files or more print side by side, e.g. before | after::

    .venv/bin/python benchmarks/bench_quality.py --rescore before.json [--rescore after.json]

Without the dev data (``--dev``, default ``../shared/data/dev``) where it is needed, it says so and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder_trace import record_ladder
from quality_figures import Output, Run, Terms, chosen_terms, figures, table

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
ADMIN_KEY = "bench-admin"


class DevDataMissing(Exception):
    """The dev data folder (or one of its files) is not there."""


def load_units(dev: Path) -> list[dict[str, Any]]:
    path = dev / "d2l_en_zh.jsonl"
    if not path.is_file():
        raise DevDataMissing(path)
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_docs(dev: Path) -> list[tuple[str, str]]:
    """``(file name, markdown)`` of each dev document, in name order (the order a run sends them)."""
    paths = sorted((dev / "docs").glob("*.md"))
    if not paths:
        raise DevDataMissing(dev / "docs")
    return [(p.name, p.read_text(encoding="utf-8")) for p in paths]


def _unit(saved: dict[str, Any], dev_units: dict[str, dict[str, Any]]) -> Output:
    """A saved unit; without its source and reference (a run saved before they were kept), the dev data's."""
    if "source" not in saved and saved["id"] not in dev_units:
        raise DevDataMissing(f"unit {saved['id']} of the run")
    dev = dev_units.get(saved["id"], {})
    source, reference = saved.get("source", dev.get("en", "")), saved.get("reference", dev.get("zh", ""))
    return Output(saved["id"], source, saved["markdown"], saved["segments"], reference, saved.get("seconds"),
                  saved.get("terminology", []))


def _doc(saved: dict[str, Any], dev_doc: tuple[str, str] | None) -> Output:
    """A saved document; without its name and source, the dev document sent in its place (name order)."""
    name, source = dev_doc or ("", "")
    return Output(saved.get("name", name), saved.get("source", source), saved["markdown"], saved["segments"],
                  seconds=saved.get("seconds"), terminology=saved.get("terminology", []))


def run_from_json(data: dict[str, Any], dev: Path) -> Run:
    """A saved run (either format: the dev data is read only for outputs saved without their source)."""
    outputs, doc_outputs = data.get("outputs", []), data.get("doc_outputs", [])
    dev_units = {u["id"]: u for u in load_units(dev)} if any("source" not in o for o in outputs) else {}
    dev_docs: list[tuple[str, str] | None] = [None] * len(doc_outputs)
    if any("source" not in o for o in doc_outputs):
        dev_docs = list(load_docs(dev))
        if len(dev_docs) != len(doc_outputs):
            raise DevDataMissing(f"{len(doc_outputs)} documents in the run, {len(dev_docs)} in {dev / 'docs'}")
    return Run(
        [_unit(o, dev_units) for o in outputs],
        [_doc(o, d) for o, d in zip(doc_outputs, dev_docs, strict=True)],
        data.get("units", {}).get("seconds"),
        data.get("docs", {}).get("seconds"),
    )


def run_to_json(run: Run, terms: Terms | None = None) -> dict[str, Any]:
    """What ``--rescore`` reads back (and :func:`run_from_json` takes without the dev data)."""
    return {
        "units": {"seconds": run.units_seconds},
        "docs": {"seconds": run.docs_seconds},
        "outputs": [
            {"id": u.name, "source": u.source, "reference": u.reference, "markdown": u.markdown,
             "segments": u.segments, "seconds": u.seconds, "terminology": u.terminology}
            for u in run.units
        ],
        "doc_outputs": [
            {"name": d.name, "source": d.source, "markdown": d.markdown, "segments": d.segments, "seconds": d.seconds,
             "terminology": d.terminology}
            for d in run.docs
        ],
        "figures": figures(run, terms),
    }


def rescore(paths: list[Path], dev: Path) -> None:
    """Print the figures of saved runs side by side, one column per file; a run without a document terminology (the
    step off) is scored for term consistency against the first run's that has one."""
    runs = [(path.name, run_from_json(json.loads(path.read_text(encoding="utf-8")), dev)) for path in paths]
    chosen = next((terms for _, run in runs if (terms := chosen_terms(run.docs))), {})
    columns = [(name, figures(run, chosen_terms(run.docs) or chosen)) for name, run in runs]
    print(table(columns), flush=True)


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[Any]:
    """The app's lifespan in this event loop + an httpx client over ASGI (no sockets)."""
    import httpx

    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    await started.wait()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=7200
        ) as client:
            yield client
    finally:
        stop.set()
        await task


async def register_adapter(client: Any, settings: Any, folder: Path) -> str:
    target = settings.adapter_dir / "bench"
    shutil.copytree(folder, target)
    headers = {"X-Admin-Key": ADMIN_KEY}
    r = await client.post("/adapters/bench/versions", json={"folder": "bench"}, headers=headers)
    r.raise_for_status()
    version = r.json()["version"]
    r = await client.post("/adapters/bench/activate", json={"version": version}, headers=headers)
    r.raise_for_status()
    return "bench"


async def translate_all(client: Any, docs: list[str], adapter: str | None) -> list[tuple[dict[str, Any], float]]:
    """Every document at once; each body with the seconds its own request took."""

    async def one(markdown: str) -> tuple[dict[str, Any], float]:
        body: dict[str, Any] = {"markdown": markdown}
        if adapter is not None:
            body["adapter"] = adapter
        t0 = time.perf_counter()
        r = await client.post("/translate", json=body)
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result, round(time.perf_counter() - t0, 1)

    return list(await asyncio.gather(*(one(d) for d in docs)))


def settings_for(args: argparse.Namespace, tmp: Path, terminology: bool = True) -> Any:
    from papertrans.server.settings import Settings

    overrides: dict[str, Any] = {
        "data_dir": tmp / "data",
        "admin_key": ADMIN_KEY,
        # every document in flight at once: no 429/503 from the admission limits (they do not touch quality)
        "limits": {
            "translate_per_client": 10_000,
            "translate_running": 10_000,
            "translate_waiting": 10_000,
            "wait_timeout_s": 86_400,
        },
    }
    if args.model:
        overrides["model"] = args.model
    if args.adapter is not None and args.adapter.lower() in ("none", "base"):
        overrides["default_adapter"] = "none"
    settings = Settings(**overrides)
    if args.adapter is None:
        # the server's default, spelled out: an engine handed to create_app gets no starter unless it is named
        from papertrans.server.starter import resolve_default_adapter

        settings.default_adapter = resolve_default_adapter(None, settings.model) or "none"
    if args.no_constrain:
        settings.engine.constrain_placeholders = False
    settings.translate.terminology = terminology
    if args.no_term_base:
        settings.translate.term_base = False
    return settings


async def start_engine(settings: Any) -> Any:
    t0 = time.perf_counter()
    engine: Any
    if settings.model == "fake":  # the script's own smoke test: no model, no lock needed
        from papertrans.server.engine.fake import FakeEngine

        engine = FakeEngine()
        engine.device = "none"
    else:
        from papertrans.contract.model import resolve_model
        from papertrans.server.engine.inprocess import VllmEngine

        model_dir = resolve_model(settings.model, settings.cache_dir)
        engine = await VllmEngine.start(model_dir, settings.engine, model_name=settings.model)
    print(
        f"engine: {engine.device}, {settings.model}, started in {time.perf_counter() - t0:.0f} s, "
        f"constrained decoding {'on' if settings.engine.constrain_placeholders else 'off'}",
        flush=True,
    )
    return engine


async def translate_run(client: Any, units: list[dict[str, Any]], docs: list[tuple[str, str]], adapter: str | None
                        ) -> Run:
    t0 = time.perf_counter()
    bodies = await translate_all(client, [u["en"] for u in units], adapter)
    outputs = [
        Output(u["id"], u["en"], b["markdown"], b["segments"], u["zh"], seconds, b.get("terminology", []))
        for u, (b, seconds) in zip(units, bodies, strict=True)
    ]
    run = Run(outputs, [], round(time.perf_counter() - t0, 1))
    served = sorted({str(b.get("adapter")) for b, _ in bodies})
    print(f"[units] {len(units)} translated in {run.units_seconds} s, adapter {served}", flush=True)
    if docs:
        t0 = time.perf_counter()
        doc_bodies = await translate_all(client, [text for _, text in docs], adapter)
        run.docs_seconds = round(time.perf_counter() - t0, 1)
        run.docs = [Output(name, text, b["markdown"], b["segments"], seconds=s, terminology=b.get("terminology", []))
                    for (name, text), (b, s) in zip(docs, doc_bodies, strict=True)]
        print(f"[docs] {len(docs)} translated in {run.docs_seconds} s", flush=True)
    return run


async def live(args: argparse.Namespace) -> None:
    units = load_units(args.dev)  # first: without the data, nothing is imported or started
    if args.limit:
        units = units[: args.limit]
    docs = [] if args.no_docs else load_docs(args.dev)
    from papertrans.server.app import create_app

    modes = {"on": [True], "off": [False], "both": [False, True]}[args.terminology]
    runs: list[tuple[bool, Run, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        engine = await start_engine(settings_for(args, Path(tmp) / "engine"))
        try:
            for terminology in modes:  # one app (own data folder: no output cache across modes) per mode
                settings = settings_for(args, Path(tmp) / ("on" if terminology else "off"), terminology)
                async with serve(create_app(settings, engine=engine)) as client:
                    adapter = None
                    if args.adapter is not None and args.adapter.lower() not in ("none", "base"):
                        adapter = await register_adapter(client, settings, Path(args.adapter))
                    print(f"terminology {'on' if terminology else 'off'}", flush=True)
                    runs.append((terminology, await translate_run(client, units, docs, adapter), settings))
        finally:
            await engine.close()
    # the run without the step is scored against the terms the run with it chose
    chosen = next((chosen_terms(run.docs) for on, run, _ in runs if on), None)
    columns = []
    for terminology, run, settings in runs:
        results = run_to_json(run, None if terminology else chosen)
        results["settings"] = {
            "model": settings.model, "adapter": args.adapter, "constrain": settings.engine.constrain_placeholders,
            "terminology": terminology, "term_base": settings.translate.term_base,
        }
        label = f"terminology {'on' if terminology else 'off'}"
        columns.append((f"{settings.model}, adapter {args.adapter or 'default'}, {label}", results["figures"]))
        if args.json:
            path = args.json if len(runs) == 1 else args.json.with_suffix(f".{label.replace(' ', '-')}.json")
            path.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(columns), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N units (0 = all 115)")
    ap.add_argument("--no-docs", action="store_true", help="skip the two whole documents")
    ap.add_argument("--adapter", default=None, help="PEFT folder to translate with, or 'none' for the base model")
    ap.add_argument("--model", default=None, help="model spec (default: the server's, PAPERTRANS_MODEL)")
    ap.add_argument("--no-constrain", action="store_true", help="turn constrained decoding off")
    ap.add_argument("--terminology", choices=("on", "off", "both"), default="on",
                    help="the document terminology step: on (the server's default), off (today's figure), or both "
                    "runs side by side, off first (default: %(default)s)")
    ap.add_argument("--no-term-base", action="store_true", help="turn the shipped term base off")
    ap.add_argument("--dev", type=Path, default=DEV, help="the dev data folder (default: ../shared/data/dev)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures (and every output) here")
    ap.add_argument("--trace", type=Path, default=None, metavar="FILE.jsonl",
                    help="write each segment's ladder (every rung's verdict) here; summarise: ladder_trace.py FILE")
    ap.add_argument("--rescore", type=Path, action="append", default=[], metavar="FILE.json",
                    help="print the figures of a saved --json run, no engine (repeat: side by side)")
    args = ap.parse_args(argv)
    try:
        if args.rescore:
            rescore(args.rescore, args.dev)
        else:
            with record_ladder(args.trace) if args.trace else nullcontext():
                asyncio.run(live(args))
    except DevDataMissing as missing:
        print(f"bench_quality: the dev data is not there or does not match ({missing}); it is read from {args.dev} "
              f"(--dev FOLDER: a folder with d2l_en_zh.jsonl and docs/*.md, as ../shared/data/dev)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
