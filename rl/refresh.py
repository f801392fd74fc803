"""``papertrans refresh``: export what arrived since the watermark → train → gate → publish.

Target (:mod:`.target`): the adapter readers are served (the server's default adapter, ``papertrans-zh`` on the
embedded model), refined from its *active* version on the server and published under the same name, so the night's
work reaches readers. Without a server: the last promoted adapter, else ``start_adapter``.

Training plan (:mod:`.recipe`, one :class:`RecipeConfig`): SFT on the night's corrections mixed with replay, DPO on
pairs, KTO on thumbs, online DPO or GRPO on the night's prompts; each step continues from the previous one's adapter.

Gate: with a server, as served (:mod:`.nightly`, :mod:`.served_gate`): the candidate is staged as an inactive version
and both sides are translated through the server's pipeline (constraint, retry ladder) on the readers' held-out rows
and the regression set, then judged with paired bootstrap intervals (:mod:`.decision`); without one, the offline
gate (:mod:`.gate`).

Watermark: the export takes feedback since ``state["watermark"]``, the start of the last run whose adapter was
promoted (or that had nothing to train). A refused night does not move it, so its feedback is trained on again next
night together with the new (night 2 sees night 1's feedback too); the window is recorded in each run's report.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .datasets import load_rows, write_rows
from .errors import DataError, RefreshBusy, TrainError
from .progress import step_figures
from .recipe import RecipeConfig, Step, corrections, plan_steps
from .settings import ServerData
from .target import RefreshTarget, resolve_target

__all__ = ["RefreshBusy", "RefreshOptions", "read_state", "refresh", "split_args"]

log = logging.getLogger(__name__)

_ONLINE = ("online-dpo", "grpo")  # the steps that sample with vLLM before they train


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
    adapter_name: str | None = None  # None: the server's default adapter (offline: the starter's name)
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
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    # The gate: "served" (through `server`, the pipeline readers get), "offline" (raw generation here), "auto" =
    # served when a server is given.
    gate: str = "auto"
    regression_file: Path | None = None  # the standing regression set (parallel text); None = none
    regression_max_rows: int | None = 20
    gate_min_rows: int = 10  # fewer held-out readers' rows than this: refused (nothing to measure the night on)
    gate_min_gain: float = 0.0  # the readers' chrF interval must lie above this
    gate_concurrency: int = 4  # documents in flight per side while gating through the server


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
        for kind in ("sft", "kto", "dpo", "prompts"):
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
        for name in ("sft", "kto", "dpo", "prompts", "eval"):
            src = opts.export_dir / f"{name}.jsonl"
            if src.is_file():
                shutil.copy(src, out / src.name)
                summary[name] = len(load_rows(src))
        return summary
    return asyncio.run(_export_from_store(opts, since, out))


def _count(path: Path) -> int:
    return len(load_rows(path)) if path.is_file() else 0


def _train_step(step: Step, out: Path, parent: Path | None, opts: RefreshOptions) -> Path:
    from .config import parse_train_args
    from .train import prepare, train

    argv = ["--method", step.method, "--data", str(step.data), "--out", str(out), "--base_model", opts.base_model]
    if parent is not None:
        argv += ["--init_adapter", str(parent)]
    argv += step.args  # the recipe's settings; the operator's options below come later and win
    argv += list(opts.train_args)
    if step.method in _ONLINE:
        argv += list(opts.online_args)
    loop, config = parse_train_args(argv)
    return train(prepare(loop), config)


def _since(state: dict[str, Any]) -> dt.datetime | None:
    # a state file from before the watermark has last_success only; since then every state carries "watermark"
    mark = state["watermark"] if "watermark" in state else state.get("last_success")
    return dt.datetime.fromisoformat(mark) if mark else None


def _target(opts: RefreshOptions, state: dict[str, Any]) -> RefreshTarget:
    store = _adapter_store(opts)
    if not opts.server:
        return resolve_target(name=opts.adapter_name, state=state, start_adapter=opts.start_adapter,
                              adapter_store=store)
    from papertrans.clients import Client

    with Client(opts.server, admin_key=opts.admin_key, timeout=60) as client:
        return resolve_target(name=opts.adapter_name, state=state, start_adapter=opts.start_adapter,
                              adapter_store=store, client=client)


def _style(adapter: Path | None) -> str | None:
    from papertrans.contract import read_metadata

    meta = read_metadata(adapter) if adapter is not None else None
    return meta.prompt_style if meta is not None else None


def _replay_pool(work_dir: Path) -> list[dict[str, Any]]:
    path = work_dir / "replay.jsonl"
    return load_rows(path) if path.is_file() else []


def _keep_for_replay(work_dir: Path, export_dir: Path) -> None:
    """After a promotion: the night's corrections join the replay pool of later nights."""
    pool = _replay_pool(work_dir)
    seen = {(r["prompt"], r["completion"]) for r in pool}
    new = [{"prompt": r["prompt"], "completion": r["completion"]} for r in corrections(export_dir)]
    pool += [r for r in new if (r["prompt"], r["completion"]) not in seen]
    if pool:
        write_rows(work_dir / "replay.jsonl", pool)


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
        report["outcome"] = _night(opts, state, report, run_dir, started)
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


def _night(opts: RefreshOptions, state: dict[str, Any], report: dict[str, Any], run_dir: Path,
           started: dt.datetime) -> str:
    """Export, plan, train, gate, publish; returns the outcome. ``state`` changes are saved by the caller."""
    t0 = time.monotonic()
    target = _target(opts, state)
    report["target"] = {**asdict(target), "parent": str(target.parent) if target.parent else None}
    log.info("target %s (%s), refining %s (%s)", target.name, target.reason, target.parent, target.source)
    since = _since(state)
    report["window"] = {"since": since.isoformat() if since else None, "until": started.isoformat()}
    report["export"] = _export(opts, since, run_dir / "export")
    log.info("export since %s: %s", since, report["export"])
    recipe = opts.recipe if opts.online else replace(opts.recipe, online="none")
    steps = plan_steps(run_dir / "export", recipe, out_dir=run_dir / "data", replay_pool=_replay_pool(opts.work_dir),
                       style=_style(target.parent))
    report["recipe"] = asdict(recipe)
    report["plan"] = [{"method": s.method, "rows": s.rows, "why": s.why} for s in steps]
    if not steps:
        state["watermark"] = started.isoformat()  # nothing arrived: the next night starts here
        return "nothing_to_train"
    current = _train_all(steps, target.parent, run_dir, opts, report)
    if current is None or current == target.parent:
        state["watermark"] = started.isoformat()
        return "nothing_trained"
    gate_t = time.monotonic()
    promoted = _gate(opts, target, current, run_dir, report)
    report["gate_seconds"] = round(time.monotonic() - gate_t, 1)
    report["train_seconds"] = round(time.monotonic() - t0, 1)
    if not promoted:
        return "refused_by_gate"  # the watermark stays: next night trains on this night's feedback too
    kept = opts.work_dir / "promoted" / run_dir.name
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(current, kept)
    state["promoted"] = str(kept)
    state["watermark"] = started.isoformat()
    _keep_for_replay(opts.work_dir, run_dir / "export")
    return "promoted"


def _skippable(exc: DataError | TrainError, step: Step) -> bool:
    """A step with too few rows, or an online step whose vLLM sampler (a child process) died: the steps before it
    are sound work, gated instead of losing the night. Any other failure fails the night."""
    if isinstance(exc, DataError):
        return exc.code == "too_few_examples"
    return exc.code == "sampling_failed" and step.method in _ONLINE


def _train_all(steps: list[Step], parent: Path | None, run_dir: Path, opts: RefreshOptions,
               report: dict[str, Any]) -> Path | None:
    current = parent
    for number, step in enumerate(steps, 1):
        step_t = time.monotonic()
        log.info("step %d/%d: %s on %d rows (%s)", number, len(steps), step.method, step.rows, step.why)
        try:
            current = _train_step(step, run_dir / f"adapter-{number}-{step.method}", current, opts)
        except (DataError, TrainError) as exc:
            if not _skippable(exc, step):
                raise
            log.warning("step %d/%d: %s skipped (%s): %s", number, len(steps), step.method, exc.code, exc.detail)
            report["steps"].append({"method": step.method, "skipped": exc.code, "detail": exc.detail})
            continue
        seconds = round(time.monotonic() - step_t, 1)
        figures = step_figures(current)  # steps, seconds, tokens/s (and online DPO's sampling) from the adapter
        report["steps"].append({"method": step.method, "data": str(step.data), "rows": step.rows, "why": step.why,
                                "adapter": str(current), "seconds": seconds, "figures": figures})
        log.info("step %d/%d: %s done in %.1f s -> %s %s", number, len(steps), step.method, seconds, current, figures)
    return current


def _gate(opts: RefreshOptions, target: RefreshTarget, candidate: Path, run_dir: Path,
          report: dict[str, Any]) -> bool:
    """Judge the candidate (as served through the server, else offline) and publish it if promoted."""
    mode = opts.gate if opts.gate != "auto" else ("served" if opts.server else "offline")
    eval_file = opts.eval_file or run_dir / "export" / "eval.jsonl"
    if mode == "served":
        if not opts.server:
            raise DataError("no_server", "the served gate translates through a server: give one (--publish URL)")
        from .nightly import held_out_sets, served_night

        sets = held_out_sets(eval_file, opts.regression_file, max_rows=opts.gate_max_rows,
                             regression_rows=opts.regression_max_rows, explicit=opts.eval_file is not None)
        promoted, parts = served_night(opts, target, candidate, run_dir, sets, _adapter_store(opts))
        report.update(parts)
        return promoted
    if _count(eval_file) == 0:
        raise DataError("empty_eval", f"no held-out rows with references in {eval_file}")
    from .gate import run_gate

    gate = run_gate(candidate, eval_file, run_dir / "gate", baseline=target.parent, base_model=opts.base_model,
                    chrf_tolerance=opts.chrf_tolerance, max_rows=opts.gate_max_rows, backend=opts.gate_backend,
                    max_new_tokens=opts.gate_max_new_tokens)
    report["gate"] = {"promote": gate.promote, "reasons": gate.reasons, "candidate": vars(gate.candidate),
                      "baseline": vars(gate.baseline), "as_served": False,
                      "report": str(run_dir / "gate" / "gate.json")}
    if gate.promote and opts.server:
        from papertrans.clients import Client

        from .publish import publish

        with Client(opts.server, admin_key=opts.admin_key, timeout=300) as client:
            report["published"] = vars(publish(client, candidate, target.name, _adapter_store(opts)))
    return gate.promote


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
        state.setdefault("watermark", None)  # None: no night promoted yet, the next exports everything
        _write_state(opts.work_dir, state)
    return report


def split_args(values: Sequence[str] | None) -> list[str]:
    """``--train-arg "--max_steps 4"`` may be repeated; each value is split on whitespace."""
    out: list[str] = []
    for value in values or []:
        out.extend(value.split())
    return out
