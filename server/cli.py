"""The server's commands: ``papertrans serve`` (every option also comes from ``PAPERTRANS_*``) and ``papertrans
export`` (training data from the feedback store, see :mod:`papertrans.server.store.export`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["register", "serve"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the translation server",
        description="Run the HTTP server. Options override the environment (PAPERTRANS_HOST, PAPERTRANS_PORT, "
        "PAPERTRANS_MODEL, PAPERTRANS_DATA_DIR, PAPERTRANS_ADMIN_KEY, PAPERTRANS_ENGINE__KV_CACHE_GIB, ...).",
    )
    p.add_argument("--host", help="bind address (PAPERTRANS_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="bind port (PAPERTRANS_PORT, default 8000)")
    p.add_argument("--model", help="local folder, hub id, embedded:gemma-3-270m (default) or 'fake'")
    p.add_argument("--data-dir", type=Path, help="database, adapter store and jobs (PAPERTRANS_DATA_DIR)")
    p.add_argument("--log-level", default="info", help="uvicorn log level")
    p.set_defaults(handler=serve)
    _register_export(subparsers)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from papertrans.server.app import create_app
    from papertrans.server.settings import Settings

    overrides = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "model": args.model, "data_dir": args.data_dir}.items()
        if v is not None
    }
    settings = Settings(**overrides)
    app = create_app(settings)
    # one process, one engine: vLLM spawns its own workers, uvicorn must not fork more servers
    # SIGTERM: stop accepting, let in-flight requests finish (drain_timeout_s), then close jobs (left queued on disk,
    # resumed at the next start), the store and the engine. uvicorn re-raises the signal once it has shut down; this
    # handler takes it, so that a drained stop exits 0 and an engine death exits with its own code (not "killed").
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        workers=1,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
    )
    if app.state.get("engine_dead"):
        from papertrans.server.app import ENGINE_DEAD_EXIT_CODE

        print(f"serve: the engine died ({app.state.engine_dead}); exiting for a restart", file=sys.stderr)
        return int(ENGINE_DEAD_EXIT_CODE)
    return 0


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _register_export(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="export feedback as training data (JSONL in TRL's formats)",
        description="Export SFT / KTO / DPO pairs or prompt sets from the feedback store, split by document.",
    )
    p.add_argument("--kind", required=True, choices=["sft", "kto", "dpo", "prompts"])
    p.add_argument("--since", type=_since, help="only feedback (or translations, for prompts) from this ISO time on")
    p.add_argument("--adapter", help="only translations by this adapter (NAME, NAME@VERSION, or 'base')")
    p.add_argument("--split", choices=["train", "eval", "all"], default="all")
    p.add_argument("--eval-percent", type=int, default=10, help="share of documents held out for eval (default 10)")
    p.add_argument("--data-dir", type=Path, help="the server's data folder (default: PAPERTRANS_DATA_DIR or ./data)")
    p.add_argument("--store-url", help="database URL (default: PAPERTRANS_STORE__URL, else SQLite in the data folder)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .jsonl file")
    p.set_defaults(handler=_run_export)


async def _export(args: argparse.Namespace) -> dict[str, Any]:
    from papertrans.server.settings import Settings
    from papertrans.server.store import open_store
    from papertrans.server.store.export import export, write_jsonl

    settings = Settings()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    if args.store_url:
        settings.store.url = args.store_url
    store = await open_store(settings)
    try:
        result = await export(
            store, args.kind, since=args.since, adapter=args.adapter, split=args.split, eval_percent=args.eval_percent
        )
    finally:
        await store.close()
    write_jsonl(result.rows, args.output)
    return {**result.summary, "output": str(args.output)}


def _run_export(args: argparse.Namespace) -> int:
    summary = asyncio.run(_export(args))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if summary["rows"] == 0:
        print("export: no rows matched", file=sys.stderr)
    return 0
