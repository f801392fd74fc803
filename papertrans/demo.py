"""``papertrans demo``: the README's first command — translate the bundled sample paper end to end.

It starts the real server (the configured model, by default the embedded Gemma 3 270M on vLLM) on a free loopback
port in this process, submits the sample as a job through the Python client exactly as a user's CLI would, shows
progress, writes the Chinese Markdown, and prints the per-segment summary.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from importlib import resources
from pathlib import Path
from typing import Any

from papertrans import exitcodes

__all__ = ["register", "run_demo"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="start the server on the embedded model and translate the bundled sample paper",
        description="Start the server in this process (real engine), translate the bundled sample paper through the "
        "HTTP API, and write <out>/sample.zh.md.\n\n"
        "example: papertrans demo --out out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    p.add_argument("--model", help="model (default: PAPERTRANS_MODEL or embedded:gemma-3-270m)")
    p.add_argument("--data-dir", type=Path, help="server data folder (default: PAPERTRANS_DATA_DIR or data/)")
    p.add_argument("--input", type=Path, help="translate this Markdown file instead of the bundled sample")
    p.set_defaults(handler=run_demo)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    import uvicorn
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from papertrans.clients import AsyncClient
    from papertrans.server.app import create_app
    from papertrans.server.settings import Settings

    console = Console()
    overrides: dict[str, Any] = {"host": "127.0.0.1", "port": _free_port()}
    if args.model:
        overrides["model"] = args.model
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = Settings(**overrides)
    source = (
        args.input.read_text(encoding="utf-8")
        if args.input
        else resources.files("papertrans.server.samples").joinpath("attention.md").read_text(encoding="utf-8")
    )
    console.print(f"starting the server on {settings.model} (first run converts the model: a few minutes) ...")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                           log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():  # start-up failed: surface its exception
                serving.result()
                return exitcodes.FAILED
            await asyncio.sleep(0.2)
        base = f"http://{settings.host}:{settings.port}"
        async with AsyncClient(base, timeout=600) as client:
            job_id = await client.submit_job(source, glossary=[{"source": "attention", "target": "注意力"}])
            with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("translating", total=None)

                def progress(done: int, total: int, _event: object) -> None:
                    bar.update(task, completed=done, total=total or None)

                result = await client.wait_job(job_id, on_progress=progress)
    finally:
        server.should_exit = True
        await serving
    args.out.mkdir(parents=True, exist_ok=True)
    zh_path = args.out / "sample.zh.md"
    zh_path.write_text(result.markdown, encoding="utf-8")
    counts: dict[str, int] = {}
    for seg in result.segments:
        counts[seg.status] = counts.get(seg.status, 0) + 1
    # as it is: rich would read `:label:` as an emoji code and `[x](...)` as markup (the file is right either way)
    console.print(result.markdown, markup=False, emoji=False, highlight=False)
    console.print(
        f"[bold]model[/bold] {settings.model}  [bold]adapter[/bold] {result.adapter or 'none (base model)'}\n"
        f"[bold]segments[/bold] {len(result.segments)} {counts}  fallbacks {result.stats.fallbacks}  "
        f"glossary adherence {result.stats.glossary_adherence}  tokens {result.stats.tokens_in}->"
        f"{result.stats.tokens_out}  {result.stats.seconds:.1f}s  translation id {result.translation_id}"
    )
    for seg in result.segments:
        if seg.status != "ok":
            console.print(f"  {seg.id}: {seg.status} {', '.join(seg.reasons)}", markup=False, emoji=False)
    console.print(f"wrote {zh_path} (bilingual output: papertrans translate --bilingual)")
    return exitcodes.OK
