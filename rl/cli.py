"""Subcommands ``train``, ``gate``, ``publish``, ``rollback``, ``refresh``. Registration only declares arguments;
torch/TRL are imported inside the handlers so ``papertrans --help`` stays fast."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from papertrans import exitcodes

from .errors import RlError
from .recipe import add_recipe_arguments

if TYPE_CHECKING:
    from papertrans.clients import ClientError

__all__ = ["register"]


def _fail(exc: RlError) -> int:
    """One JSON line on stderr and the error's code in the one exit-code table (:mod:`papertrans.exitcodes`)."""
    print(json.dumps({"error": exc.code, "detail": exc.detail}, ensure_ascii=False), file=sys.stderr)
    return exc.exit_code


def _train(args: argparse.Namespace) -> int:
    from .config import parse_train_args
    from .train import prepare, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        loop, config = parse_train_args(args.argv)
    except SystemExit as exc:  # HfArgumentParser is argparse: --help exits 0, a usage error 2 (ours is USAGE)
        return exitcodes.OK if exc.code in (0, None) else exitcodes.USAGE
    try:
        out = train(prepare(loop), config)
    except RlError as exc:
        return _fail(exc)
    print(json.dumps({"adapter": str(out), "method": loop.method}))
    return exitcodes.OK


def _gate(args: argparse.Namespace) -> int:
    from .gate import run_gate

    baseline = None if args.baseline in ("base", None) else Path(args.baseline)
    report_dir = args.report or (args.candidate / "gate-report")
    try:
        result = run_gate(args.candidate, args.eval, report_dir, baseline=baseline, base_model=args.base_model,
                          chrf_tolerance=args.chrf_tolerance, max_rows=args.max_rows, backend=args.backend,
                          glossary=args.glossary, max_new_tokens=args.max_new_tokens)
    except RlError as exc:
        return _fail(exc)
    print(json.dumps({"promote": result.promote, "reasons": result.reasons, "candidate": vars(result.candidate),
                      "baseline": vars(result.baseline), "report": str(report_dir / "gate.json")},
                     ensure_ascii=False, indent=2))
    return exitcodes.OK if result.promote else exitcodes.INCOMPLETE


def _client_fail(exc: ClientError) -> int:
    """A client failure (server unreachable, a request rejected) in the same JSON line and exit-code table."""
    from papertrans.clients import ApiError

    if isinstance(exc, ApiError):
        code, detail = exc.code, exc.detail
    else:  # ServerUnavailable -> "server_unavailable", JobFailed -> "job_failed", ...
        code, detail = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower(), str(exc)
    print(json.dumps({"error": code, "detail": detail}, ensure_ascii=False), file=sys.stderr)
    return exc.exit_code


def _client(args: argparse.Namespace) -> Any:
    from papertrans.clients import Client

    return Client(args.server, admin_key=args.admin_key, timeout=300)


def _publish(args: argparse.Namespace) -> int:
    from papertrans.clients import ClientError

    from .publish import publish

    store = args.adapter_store
    if store is None:
        from .settings import ServerData

        store = ServerData().adapter_dir
    try:
        with _client(args) as client:
            result = publish(client, args.adapter, args.name, store, smoke=not args.no_smoke)
    except RlError as exc:
        return _fail(exc)
    except ClientError as exc:
        return _client_fail(exc)
    print(json.dumps(vars(result)))
    return exitcodes.OK


def _rollback(args: argparse.Namespace) -> int:
    from papertrans.clients import ClientError

    from .publish import rollback

    try:
        with _client(args) as client:
            print(json.dumps(rollback(client, args.name)))
    except ClientError as exc:
        return _client_fail(exc)
    return exitcodes.OK


def refresh_options(args: argparse.Namespace) -> Any:
    """``papertrans refresh``'s options as :class:`RefreshOptions` (what the deploy's command line resolves to)."""
    from .recipe import recipe_from_args
    from .refresh import RefreshOptions, split_args

    return RefreshOptions(
        work_dir=args.work_dir, data_dir=args.data_dir, store_url=args.store_url, export_dir=args.export_dir,
        eval_file=args.eval, base_model=args.base_model, server=args.server, admin_key=args.admin_key,
        adapter_name=args.name, adapter_store=args.adapter_store, online=not args.no_online,
        train_args=split_args(args.train_arg), online_args=split_args(args.online_arg),
        gate_max_rows=args.gate_max_rows, gate_backend=args.backend, chrf_tolerance=args.chrf_tolerance,
        start_adapter=_start_adapter(args.start_adapter, args.base_model), recipe=recipe_from_args(args),
        gate=args.gate, regression_file=_regression(args.regression, args.base_model),
        regression_max_rows=args.regression_max_rows, gate_min_rows=args.gate_min_rows,
        gate_min_gain=args.gate_min_gain,
    )


def _regression(value: str | None, base_model: str) -> Path | None:
    """``--regression``: a file, ``none``, or unset = the starter's regression set on the starter's base model."""
    if value is not None:
        return None if value.lower() == "none" else Path(value)
    from papertrans.contract import STARTER_BASE_MODEL, regression_set

    return regression_set() if base_model == STARTER_BASE_MODEL else None


def _refresh(args: argparse.Namespace) -> int:
    from .refresh import refresh

    opts = refresh_options(args)
    try:
        report = refresh(opts)
    except RlError as exc:
        return _fail(exc)
    print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    return exitcodes.OK


def _start_adapter(value: str | None, base_model: str) -> Path | None:
    """``--start-adapter``: a folder, ``none`` (the base model), or unset = the shipped starter on its base model."""
    if value is not None:
        return None if value.lower() in ("none", "base") else Path(value)
    from papertrans.contract import STARTER_BASE_MODEL, starter_folder

    return starter_folder() if base_model == STARTER_BASE_MODEL else None


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=os.environ.get("PAPERTRANS_SERVER", "http://127.0.0.1:8000"),
                   help="server URL (env PAPERTRANS_SERVER)")
    p.add_argument("--admin-key", default=os.environ.get("PAPERTRANS_ADMIN_KEY"),
                   help="admin key (env PAPERTRANS_ADMIN_KEY)")


def register(subparsers: Any) -> None:
    # `train` hands its whole argv to HfArgumentParser (TRL config + our fields); '+' as prefix keeps argparse from
    # claiming the '--' options here. `papertrans train --method dpo --help` lists every option.
    p = subparsers.add_parser(
        "train", add_help=False, prefix_chars="+",
        help="train a LoRA adapter: --method sft|kto|dpo|online-dpo|grpo --data FILE --out DIR "
        "(--help for all options)",
    )
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_train)

    p = subparsers.add_parser("gate", help="promotion gate: candidate vs baseline on a held-out split")
    p.add_argument("--candidate", type=Path, required=True, help="candidate adapter folder")
    p.add_argument("--baseline", default="base", help="baseline adapter folder, or 'base' for the base model")
    p.add_argument("--eval", type=Path, required=True,
                   help="held-out JSONL: rows with prompt/reference/placeholders, or parallel text ({en, zh} units)")
    p.add_argument("--glossary", help="parallel --eval: term=translation,... (or a file) for the prompts")
    p.add_argument("--max-new-tokens", type=int, default=256, help="longest generated answer per segment")
    p.add_argument("--report", type=Path, help="report folder (default: <candidate>/gate-report)")
    p.add_argument("--base-model", default="embedded:gemma-3-270m", help="base model spec")
    p.add_argument("--chrf-tolerance", type=float, default=1.0, help="chrF points the candidate may lose")
    p.add_argument("--max-rows", type=int, help="evaluate at most this many rows")
    p.add_argument("--backend", choices=["auto", "hf", "vllm"], default="auto", help="offline generation backend")
    p.set_defaults(handler=_gate)

    p = subparsers.add_parser("publish", help="copy an adapter into the server's store, register, smoke-test, activate")
    p.add_argument("adapter", type=Path, help="adapter folder")
    p.add_argument("--name", required=True, help="adapter name on the server")
    p.add_argument("--adapter-store", type=Path, help="the server's adapter store (default: <data_dir>/adapters)")
    p.add_argument("--no-smoke", action="store_true", help="skip the smoke translations")
    _server_args(p)
    p.set_defaults(handler=_publish)

    p = subparsers.add_parser("rollback", help="make the previously active version of an adapter active again")
    p.add_argument("name", help="adapter name")
    _server_args(p)
    p.set_defaults(handler=_rollback)

    p = subparsers.add_parser("refresh", help="nightly: export since last run -> train -> gate -> publish")
    p.add_argument("--work-dir", type=Path, default=Path("data/refresh"), help="state, lock, runs and reports")
    p.add_argument("--data-dir", type=Path, help="the server's data folder (store and adapter store)")
    p.add_argument("--store-url", help="database URL (default: SQLite in the data folder)")
    p.add_argument("--export-dir", type=Path, help="use these kto/dpo/prompts/eval.jsonl instead of the store")
    p.add_argument("--eval", type=Path, help="held-out rows with references (default: the store's eval split)")
    p.add_argument("--base-model", default="embedded:gemma-3-270m", help="base model spec")
    p.add_argument("--name", help="adapter to refine and publish (default: the one the server serves requests that "
                   "name no adapter with, GET /health default_adapter: papertrans-zh on the embedded model; "
                   "without a server papertrans-zh)")
    p.add_argument("--adapter-store", type=Path, help="the server's adapter store")
    p.add_argument("--publish", "--server", dest="server", default=os.environ.get("PAPERTRANS_SERVER"),
                   help="server URL to gate through and publish to (env PAPERTRANS_SERVER); without it the gate is "
                   "offline and the adapter is only promoted locally")
    p.add_argument("--admin-key", default=os.environ.get("PAPERTRANS_ADMIN_KEY"), help="admin key")
    p.add_argument("--no-online", action="store_true", help="skip the online-DPO step")
    p.add_argument("--start-adapter", help="adapter the first run refines before anything was promoted (default: the "
                   "shipped starter papertrans-zh on the embedded model; 'none' = the base model)")
    p.add_argument("--train-arg", action="append", help="extra `train` options for every step (repeatable)")
    p.add_argument("--online-arg", action="append", help="extra options for the online-DPO step")
    p.add_argument("--gate-max-rows", type=int, help="gate on at most this many held-out rows")
    p.add_argument("--backend", choices=["auto", "hf", "vllm"], default="auto", help="gate generation backend")
    p.add_argument("--chrf-tolerance", type=float, default=1.0,
                   help="chrF points a candidate may lose (the served gate: on the regression set)")
    p.add_argument("--gate", choices=["auto", "served", "offline"], default="auto",
                   help="served = both sides translated through the server as readers get them (constraint, retry "
                   "ladder); offline = raw generation in this process; auto = served when a server is given")
    p.add_argument("--regression", help="standing regression set (parallel {en, zh} units) the candidate must not "
                   "regress on (default: the starter's 40 held-out d2l units; 'none' = no regression set)")
    p.add_argument("--regression-max-rows", type=int, default=20, help="gate on at most this many regression units")
    p.add_argument("--gate-min-rows", type=int, default=10,
                   help="fewer held-out readers' rows than this: refused (too little to measure the night on)")
    p.add_argument("--gate-min-gain", type=float, default=0.0,
                   help="the readers' chrF gain interval (95%% paired bootstrap) must lie above this")
    add_recipe_arguments(p)
    p.set_defaults(handler=_refresh)
