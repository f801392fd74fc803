"""``papertrans serve``: run the translation server (every option also comes from ``PAPERTRANS_*``)."""

from __future__ import annotations

import argparse
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


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.settings import Settings

    overrides = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "model": args.model, "data_dir": args.data_dir}.items()
        if v is not None
    }
    settings = Settings(**overrides)
    app = create_app(settings)
    # one process, one engine: vLLM spawns its own workers, uvicorn must not fork more servers
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level, workers=1)
    return 0
