"""``papertrans refresh``: export what arrived since the last successful run → train → gate → publish.

Training plan: DPO when corrections or A/B pairs exist, else KTO when thumbs of both kinds exist; then online DPO on
the recent prompts, continuing from that adapter. Each step continues from the currently promoted adapter; before
the first promotion, from ``start_adapter`` (the CLI's default: the shipped starter ``papertrans-zh`` on the embedded
model), so preference training refines the adapter that already translates, not the raw base model.

Safety: one run at a time (an ``flock`` on ``<work>/refresh.lock``, released by the OS if the process dies); all work
happens in a fresh run folder; the state file (``state.json``: last successful run, promoted adapter) is replaced
atomically and only at the end of a run that reached a decision, so a crashed run is simply redone by the next one
with the same "since". Every run writes ``run.log`` and ``report.json`` in its folder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datasets import load_rows, write_rows
from .errors import DataError, RefreshBusy
from .settings import ServerData

__all__ = ["RefreshBusy", "RefreshOptions", "read_state", "refresh"]

log = logging.getLogger(__name__)


@dataclass
class RefreshOptions:
    work_dir: Path
    data_dir: Path | None = None  # the server's data folder (store), for export
    store_url: str | None = None
    export_dir: Path | None = None  # pre-exported kto/dpo/prompts.jsonl (skips the store)
    eval_file: Path | None = None  # held-out rows with references (default: the store's eval split)
    base_model: str = "embedded:gemma-3-270m"
    server: str | None = None  # publish here when given
    admin_key: str | None = None
    adapter_name: str = "papertrans"
    adapter_store: Path | None = None
    online: bool = True
    train_args: list[str] = field(default_factory=list)  # extra `papertrans train` options for every step
    online_args: list[str] = field(default_factory=list)  # extra options for the online-DPO step only
    gate_max_rows: int | None = None
    gate_backend: str = "auto"
    gate_max_new_tokens: int = 256
    chrf_tolerance: float = 1.0
    min_rows: int = 1
    # What the first run refines (and gates against) before anything was promoted: e.g. the shipped starter adapter.
    # None = the raw base model.
    start_adapter: Path | None = None


def read_state(work_dir: Path) -> dict[str, Any]:
    path = work_dir / "state.json"
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text()))


def _write_state(work_dir: Path, state: dict[str, Any]) -> None:
    tmp = work_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2, ensure_ascii=False))
    os.replace(tmp, work_dir / "state.json")


@contextmanager
def _lock(work_dir: Path) -> Iterator[None]:
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / "refresh.lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RefreshBusy(f"another refresh is running (lock {work_dir / 'refresh.lock'})") from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


async def _export_from_store(opts: RefreshOptions, since: dt.datetime | None, out: Path) -> dict[str, Any]:
    from papertrans.server.store import open_store
    from papertrans.server.store.export import export

    store = await open_store(_server_data(opts))
    summary: dict[str, Any] = {}
    try:
        for kind in ("kto", "dpo", "prompts"):
            result = await export(store, kind, since=since, split="train")
            summary[kind] = write_rows(out / f"{kind}.jsonl", result.rows)
        if opts.eval_file is None:
            result = await export(store, "prompts", since=None, split="eval")
            summary["eval"] = write_rows(out / "eval.jsonl", [r for r in result.rows if r.get("reference")])
    finally:
        await store.close()
    return summary


def _export(opts: RefreshOptions, since: dt.datetime | None, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    if opts.export_dir is not None:
        summary = {}
        for name in ("kto", "dpo", "prompts", "eval"):
            src = opts.export_dir / f"{name}.jsonl"
            if src.is_file():
                shutil.copy(src, out / src.name)
                summary[name] = len(load_rows(src))
        return summary
    return asyncio.run(_export_from_store(opts, since, out))


def _count(path: Path) -> int:
    return len(load_rows(path)) if path.is_file() else 0


def plan(export_dir: Path, *, online: bool) -> list[tuple[str, Path]]:
    """The training steps for what was exported: [(method, data file)]."""
    steps: list[tuple[str, Path]] = []
    dpo, kto, prompts = (export_dir / f"{k}.jsonl" for k in ("dpo", "kto", "prompts"))
    if _count(dpo):
        steps.append(("dpo", dpo))
    elif kto.is_file() and len({r.get("label") for r in load_rows(kto)} & {True, False}) == 2:
        steps.append(("kto", kto))
    if online and _count(prompts):
        steps.append(("online-dpo", prompts))
    return steps


def _train_step(method: str, data: Path, out: Path, parent: Path | None, opts: RefreshOptions) -> Path:
    from .config import parse_train_args
    from .train import prepare, train

    argv = ["--method", method, "--data", str(data), "--out", str(out), "--base_model", opts.base_model]
    if parent is not None:
        argv += ["--init_adapter", str(parent)]
    argv += list(opts.train_args)
    if method == "online-dpo":
        argv += list(opts.online_args)
    loop, config = parse_train_args(argv)
    return train(prepare(loop), config)


def refresh(opts: RefreshOptions) -> dict[str, Any]:
    """One run; returns its report (also written to ``<run>/report.json``)."""
    with _lock(opts.work_dir):
        return _run(opts)


def _run(opts: RefreshOptions) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    state = read_state(opts.work_dir)
    run_dir = opts.work_dir / "runs" / started.strftime("%Y%m%dT%H%M%S%fZ")
    run_dir.mkdir(parents=True)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    report: dict[str, Any] = {"started_at": started.isoformat(), "since": state.get("last_success"), "steps": []}
    try:
        since = dt.datetime.fromisoformat(state["last_success"]) if state.get("last_success") else None
        t0 = time.monotonic()
        report["export"] = _export(opts, since, run_dir / "export")
        log.info("export since %s: %s", since, report["export"])
        steps = plan(run_dir / "export", online=opts.online)
        if not steps:
            report["outcome"] = "nothing_to_train"
            return _finish(opts, state, report, run_dir, started, success=True)
        parent = Path(state["promoted"]) if state.get("promoted") else opts.start_adapter
        current = parent
        for method, data in steps:
            step_t = time.monotonic()
            out = run_dir / f"adapter-{method}"
            try:
                current = _train_step(method, data, out, current, opts)
            except DataError as exc:
                if exc.code == "too_few_examples":
                    report["steps"].append({"method": method, "skipped": exc.code, "detail": exc.detail})
                    continue
                raise
            report["steps"].append({"method": method, "data": str(data), "adapter": str(current),
                                    "seconds": round(time.monotonic() - step_t, 1)})
            log.info("trained %s -> %s", method, current)
        if current is None or current == parent:
            report["outcome"] = "nothing_trained"
            return _finish(opts, state, report, run_dir, started, success=True)
        eval_file = opts.eval_file or run_dir / "export" / "eval.jsonl"
        if _count(eval_file) == 0:
            raise DataError("empty_eval", f"no held-out rows with references in {eval_file}")
        from .gate import run_gate

        gate = run_gate(current, eval_file, run_dir / "gate", baseline=parent, base_model=opts.base_model,
                        chrf_tolerance=opts.chrf_tolerance, max_rows=opts.gate_max_rows, backend=opts.gate_backend,
                        max_new_tokens=opts.gate_max_new_tokens)
        report["gate"] = {"promote": gate.promote, "reasons": gate.reasons, "candidate": vars(gate.candidate),
                          "baseline": vars(gate.baseline), "report": str(run_dir / "gate" / "gate.json")}
        if not gate.promote:
            report["outcome"] = "refused_by_gate"
            return _finish(opts, state, report, run_dir, started, success=True)
        promoted = opts.work_dir / "promoted" / run_dir.name
        promoted.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(current, promoted)
        state["promoted"] = str(promoted)
        if opts.server:
            from papertrans.clients import Client

            from .publish import publish

            with Client(opts.server, admin_key=opts.admin_key, timeout=300) as client:
                result = publish(client, promoted, opts.adapter_name, _adapter_store(opts))
            report["published"] = vars(result)
        report["outcome"] = "promoted"
        report["train_seconds"] = round(time.monotonic() - t0, 1)
        return _finish(opts, state, report, run_dir, started, success=True)
    except Exception as exc:
        report["outcome"] = "failed"
        report["error"] = f"{type(exc).__name__}: {exc}"
        log.exception("refresh failed")
        _finish(opts, state, report, run_dir, started, success=False)
        raise
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _server_data(opts: RefreshOptions) -> ServerData:
    """The server's data as the environment names it, the options' data folder and store URL overriding it."""
    data = ServerData()
    if opts.data_dir is not None:
        data.data_dir = opts.data_dir
    if opts.store_url:
        data.store.url = opts.store_url
    return data


def _adapter_store(opts: RefreshOptions) -> Path:
    return opts.adapter_store if opts.adapter_store is not None else _server_data(opts).adapter_dir


def _finish(opts: RefreshOptions, state: dict[str, Any], report: dict[str, Any], run_dir: Path,
            started: dt.datetime, *, success: bool) -> dict[str, Any]:
    report["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
    report["run_dir"] = str(run_dir)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    if success:
        # "since" for the next run is this run's start: feedback that arrived while we trained is picked up next time.
        state["last_success"] = started.isoformat()
        state["last_report"] = str(run_dir / "report.json")
        _write_state(opts.work_dir, state)
    return report


def split_args(values: Sequence[str] | None) -> list[str]:
    """``--train-arg "--max_steps 4"`` may be repeated; each value is split on whitespace."""
    out: list[str] = []
    for value in values or []:
        out.extend(value.split())
    return out
