"""A night's gate and publish through the server readers use: stage the candidate, judge both sides as served, then
activate it or delete it.

Order keeps readers safe: the candidate is registered as a new version of the target name but **not** activated, so
only its versioned name (``papertrans-zh@7``) reaches it; the gate (:mod:`.served_gate`) translates the held-out sets
with it and with the active version (pinned by its versioned name too, so a publish elsewhere cannot change the
baseline mid-gate). Promoted: smoke-tested and activated (:func:`.publish.activate_staged`, rolled back if the alias
then fails). Refused: the version is deleted; readers never saw it. A name the server has no active version of is
compared against its parent adapter, staged the same way and deleted after the gate.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .datasets import load_rows
from .served_gate import EvalUnit, eval_units, load_units, served_gate, spread
from .target import RefreshTarget

__all__ = ["held_out_sets", "served_night"]

log = logging.getLogger(__name__)

READERS_SET = "readers"  # held-out rows of the readers' own domain
REGRESSION_SET = "regression"  # the standing regression set (the starter's domain)


def held_out_sets(
    eval_file: Path,
    regression_file: Path | None,
    *,
    max_rows: int | None,
    regression_rows: int | None,
    explicit: bool = False,
) -> tuple[list[EvalUnit], list[EvalUnit]]:
    """The readers' held-out units (an export's eval rows, or parallel text) and the regression units. An ``explicit``
    eval file (``--eval``) without a usable row is an error; the store's eval split may just be small (the gate
    refuses below its minimum)."""
    readers = spread(load_units(eval_file) if explicit else _export_units(eval_file), max_rows)
    regression = spread(load_units(regression_file), regression_rows) if regression_file is not None else []
    return readers, regression


def _export_units(eval_file: Path) -> list[EvalUnit]:
    return eval_units(load_rows(eval_file)) if eval_file.is_file() else []


def served_night(
    opts: Any,
    target: RefreshTarget,
    candidate: Path,
    run_dir: Path,
    sets: tuple[list[EvalUnit], list[EvalUnit]],
    store: Path,
) -> tuple[bool, dict[str, Any]]:
    """Stage, gate as served, then activate or delete; returns (promoted, the report's gate and publish parts)."""
    from papertrans.clients import Client

    from .publish import activate_staged, stage, unstage

    readers, regression = sets
    out: dict[str, Any] = {}
    with Client(opts.server, admin_key=opts.admin_key, timeout=300) as client:
        staged = stage(client, candidate, target.name, store)
        parent_staged = None
        try:
            if target.active_version is not None:
                baseline = f"{target.name}@{target.active_version}"
            elif target.parent is not None:
                parent_staged = stage(client, target.parent, target.name, store)
                baseline = parent_staged.served_name
            else:
                baseline = "none"
            log.info(
                "gate as served: %s vs %s on %d readers' rows and %d regression rows",
                staged.served_name,
                baseline,
                len(readers),
                len(regression),
            )
            verdict = served_gate(
                opts.server,
                opts.admin_key,
                candidate=staged.served_name,
                baseline=baseline,
                new=(READERS_SET, readers),
                old=(REGRESSION_SET, regression) if regression else None,
                report_dir=run_dir / "gate",
                min_rows=opts.gate_min_rows,
                min_gain=opts.gate_min_gain,
                old_tolerance=opts.chrf_tolerance,
                concurrency=opts.gate_concurrency,
            )
        except BaseException:
            unstage(client, staged)
            raise
        finally:
            if parent_staged is not None:
                unstage(client, parent_staged)
        out["gate"] = {
            **verdict.as_dict(),
            "as_served": True,
            "candidate": staged.served_name,
            "baseline": baseline,
            "report": str(run_dir / "gate" / "gate.json"),
        }
        if not verdict.promote:
            unstage(client, staged)
            return False, out
        out["published"] = asdict(activate_staged(client, staged))
    return True, out
