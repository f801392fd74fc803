"""Translation quality on the dev data, through the real server: fallbacks, lost items, text-only chrF/BLEU-zh.

Every dev unit (``../shared/data/dev/d2l_en_zh.jsonl``) and both dev documents go through ``POST /translate`` of the
in-process app on ONE real engine (default settings unless told otherwise). Printed:

* segments falling back to English (target <= 2 %), and the reasons;
* must-preserve items lost: each ``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]`` (escaped too), code span, role,
  ``\\cite``-like reference and URL of the source must be in the output as often (target 0);
* on the units, against the human references, on the words alone (code, math, URLs, roles and HTML removed from both
  sides, because kept code and math alone give a copy of the English a high chrF): corpus chrF and BLEU
  (``tokenize="zh"``), the share of Chinese among the output's letters, and the same figures for an unchanged copy of
  the English as the floor.

It starts vLLM: on the shared machine run it under the heavy lock::

    .venv/bin/python benchmarks/bench_quality.py [--limit N] [--no-docs]
        [--adapter FOLDER|none] [--model SPEC] [--no-constrain] [--json out.json]

``--adapter`` registers a PEFT folder as adapter ``bench`` and translates with it (``none``: the base model; default:
whatever the server's default is). ``--model`` overrides ``PAPERTRANS_MODEL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
ADMIN_KEY = "bench-admin"

# What must come back unchanged (the dev data's README: identical on both sides of every unit).
_PRESERVE = [
    re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", re.DOTALL | re.MULTILINE),  # fenced code
    re.compile(r"\$\$.+?\$\$", re.DOTALL),
    re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\\n])+?\$"),
    re.compile(r"\\\\\(.+?\\\\\)|\\\\\[.+?\\\\\]", re.DOTALL),  # \\( … \\), \\[ … \\]
    re.compile(r"(?<!\\)\\\(.+?\\\)|(?<!\\)\\\[.+?\\\]", re.DOTALL),
    re.compile(r":[a-z]+:`[^`]+`"),  # d2l roles
    re.compile(r"(?<!`)`[^`\n]+`(?!`)"),
    re.compile(r"\\(?:cite|citep|citet|ref|eqref|label)\{[^}]*\}"),
    re.compile(r"\]\(([^)\s]+)"),  # link and image targets
    re.compile(r"https?://[^\s)>\]]+"),
]
# What is removed before scoring words: the same items, HTML, and Markdown punctuation.
_STRIP = [*_PRESERVE, re.compile(r"<[^>\n]+>"), re.compile(r"\[\^[^\]]+\]")]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def preserve_items(markdown: str) -> Counter[str]:
    """Each protected item once per occurrence (a span already taken by an earlier pattern is not counted again)."""
    items: Counter[str] = Counter()
    taken: list[tuple[int, int]] = []
    for pattern in _PRESERVE:
        group = 1 if pattern.pattern.startswith(r"\]") else 0
        for m in pattern.finditer(markdown):
            a, b = m.span(group)
            if any(a < y and x < b for x, y in taken):
                continue
            taken.append((a, b))
            items[m.group(group)] += 1
    return items


def lost_items(source: str, output: str) -> list[str]:
    """Items of the source that the output carries fewer times (each missing occurrence once)."""
    lost: list[str] = []
    for item, n in preserve_items(source).items():
        lost.extend([item] * max(0, n - output.count(item)))
    return lost


def text_only(markdown: str) -> str:
    for pattern in _STRIP:
        markdown = pattern.sub(" ", markdown)
    markdown = re.sub(r"[#*_>|\[\]()!-]{1,}", " ", markdown)
    return " ".join(markdown.split())


def chinese_share(text: str) -> float:
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def scores(hyps: list[str], refs: list[str]) -> dict[str, float]:
    import sacrebleu

    chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score
    share = sum(chinese_share(h) * len(h) for h in hyps) / max(1, sum(len(h) for h in hyps))
    return {"chrf": round(chrf, 1), "bleu_zh": round(bleu, 1), "chinese_share": round(share, 3)}


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


async def translate_all(client: Any, docs: list[str], adapter: str | None) -> list[dict[str, Any]]:
    async def one(markdown: str) -> dict[str, Any]:
        body: dict[str, Any] = {"markdown": markdown}
        if adapter is not None:
            body["adapter"] = adapter
        r = await client.post("/translate", json=body)
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    return list(await asyncio.gather(*(one(d) for d in docs)))


def report(name: str, sources: list[str], bodies: list[dict[str, Any]]) -> dict[str, Any]:
    segments = [s for b in bodies for s in b["segments"]]
    fallbacks = [s for s in segments if s["status"] == "fallback"]
    reasons: Counter[str] = Counter(r for s in fallbacks for r in set(s["reasons"]))
    retried = sum(s["status"] == "retried" for s in segments)
    lost = [item for src, b in zip(sources, bodies, strict=True) for item in lost_items(src, b["markdown"])]
    items = sum(sum(preserve_items(src).values()) for src in sources)
    out = {
        "documents": len(bodies),
        "segments": len(segments),
        "fallbacks": len(fallbacks),
        "fallback_rate": round(len(fallbacks) / max(1, len(segments)), 4),
        "retried": retried,
        "fallback_reasons": dict(reasons.most_common()),
        "must_preserve_items": items,
        "items_lost": len(lost),
        "lost_examples": lost[:5],
        "adapters": sorted({str(b.get("adapter")) for b in bodies}),
        "tokens_out": sum(b["stats"]["tokens_out"] for b in bodies),
    }
    print(
        f"[{name}] {out['documents']} documents, {out['segments']} segments: fallbacks {out['fallbacks']} "
        f"({100 * out['fallback_rate']:.1f} %, target <= 2 %), retried {retried}; must-preserve items lost "
        f"{out['items_lost']} of {items} (target 0); adapter {out['adapters']}",
        flush=True,
    )
    if reasons:
        print(f"[{name}] fallback reasons: {dict(reasons.most_common())}", flush=True)
    for item in out["lost_examples"]:
        print(f"[{name}] lost: {item[:80]!r}", flush=True)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N units (0 = all 115)")
    ap.add_argument("--no-docs", action="store_true", help="skip the two whole documents")
    ap.add_argument("--adapter", default=None, help="PEFT folder to translate with, or 'none' for the base model")
    ap.add_argument("--model", default=None, help="model spec (default: the server's, PAPERTRANS_MODEL)")
    ap.add_argument("--no-constrain", action="store_true", help="turn constrained decoding off")
    ap.add_argument("--dev", type=Path, default=DEV)
    ap.add_argument("--json", type=Path, default=None, help="write the figures (and every output) here")
    args = ap.parse_args()

    from papertrans.contract.model import resolve_model
    from papertrans.server.app import create_app
    from papertrans.server.engine.inprocess import VllmEngine
    from papertrans.server.settings import Settings

    with open(args.dev / "d2l_en_zh.jsonl", encoding="utf-8") as fh:
        units = [json.loads(line) for line in fh if line.strip()]
    if args.limit:
        units = units[: args.limit]
    docs = [] if args.no_docs else [p.read_text(encoding="utf-8") for p in sorted((args.dev / "docs").glob("*.md"))]

    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        overrides: dict[str, Any] = {
            "data_dir": Path(tmp) / "data",
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
        t0 = time.perf_counter()
        engine: Any
        if settings.model == "fake":  # the script's own smoke test: no model, no lock needed
            from papertrans.server.engine.fake import FakeEngine

            engine = FakeEngine()
            engine.device = "none"
        else:
            model_dir = resolve_model(settings.model, settings.cache_dir)
            engine = await VllmEngine.start(model_dir, settings.engine, model_name=settings.model)
        print(
            f"engine: {engine.device}, {settings.model}, started in {time.perf_counter() - t0:.0f} s, "
            f"constrained decoding {'on' if settings.engine.constrain_placeholders else 'off'}",
            flush=True,
        )
        results: dict[str, Any] = {
            "settings": {
                "model": settings.model,
                "adapter": args.adapter,
                "constrain": settings.engine.constrain_placeholders,
            }
        }
        try:
            async with serve(create_app(settings, engine=engine)) as client:
                adapter = None
                if args.adapter is not None and args.adapter.lower() not in ("none", "base"):
                    adapter = await register_adapter(client, settings, Path(args.adapter))
                t0 = time.perf_counter()
                bodies = await translate_all(client, [u["en"] for u in units], adapter)
                seconds = time.perf_counter() - t0
                results["units"] = report("units", [u["en"] for u in units], bodies)
                results["units"]["seconds"] = round(seconds, 1)
                hyps = [text_only(b["markdown"]) for b in bodies]
                refs = [text_only(u["zh"]) for u in units]
                copy = [text_only(u["en"]) for u in units]
                results["units"]["text_only"] = scores(hyps, refs)
                results["units"]["copy_of_source"] = scores(copy, refs)
                results["units"]["references_chinese_share"] = scores(refs, refs)["chinese_share"]
                t = results["units"]["text_only"]
                c = results["units"]["copy_of_source"]
                print(
                    f"[units] text-only chrF {t['chrf']} BLEU-zh {t['bleu_zh']} Chinese share {t['chinese_share']} "
                    f"(copy of the English: chrF {c['chrf']} BLEU-zh {c['bleu_zh']}; references' Chinese share "
                    f"{results['units']['references_chinese_share']}); {seconds:.0f} s",
                    flush=True,
                )
                results["outputs"] = [
                    {"id": u["id"], "markdown": b["markdown"]} for u, b in zip(units, bodies, strict=True)
                ]
                if docs:
                    t0 = time.perf_counter()
                    doc_bodies = await translate_all(client, docs, adapter)
                    results["docs"] = report("docs", docs, doc_bodies)
                    results["docs"]["seconds"] = round(time.perf_counter() - t0, 1)
                everything = results["units"]["segments"] + results.get("docs", {}).get("segments", 0)
                falls = results["units"]["fallbacks"] + results.get("docs", {}).get("fallbacks", 0)
                lost = results["units"]["items_lost"] + results.get("docs", {}).get("items_lost", 0)
                print(
                    f"[all] {everything} segments: fallback rate {100 * falls / max(1, everything):.1f} % "
                    f"(target <= 2 %), must-preserve items lost {lost} (target 0)",
                    flush=True,
                )
        finally:
            await engine.close()
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
