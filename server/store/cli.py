"""``papertrans export``: training data from the feedback store (see :mod:`server.store.export`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(subparsers: Any) -> None:
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
    p.set_defaults(handler=_run)


async def _export(args: argparse.Namespace) -> dict[str, Any]:
    from server.settings import Settings
    from server.store import open_store
    from server.store.export import export, write_jsonl

    settings = Settings()  # type: ignore[call-arg]  # every field has a default or comes from the env
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


def _run(args: argparse.Namespace) -> int:
    summary = asyncio.run(_export(args))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if summary["rows"] == 0:
        print("export: no rows matched", file=sys.stderr)
    return 0
