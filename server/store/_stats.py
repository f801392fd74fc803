"""Feedback statistics per adapter version: counts, thumbs-up ratio and GSB win rate (``GET /stats/feedback``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from ._db import Database
from ._models import Comparison, Feedback, Translation

__all__ = ["FeedbackStats", "adapter_label"]

_COUNTS = ("up", "down", "corrections", "comments", "feedback", "good", "same", "bad")


def adapter_label(adapter: str | None, version: int | None) -> str:
    """How statistics and comparisons name a model: ``base``, ``name`` or ``name@version``."""
    if not adapter:
        return "base"
    return f"{adapter}@{version}" if version is not None else adapter


def _tally(fb_rows: Sequence[Any], cmp_rows: Sequence[Any]) -> dict[str, dict[str, Any]]:
    per: dict[str, dict[str, Any]] = {}

    def slot(label: str) -> dict[str, Any]:
        return per.setdefault(label, dict.fromkeys(_COUNTS, 0))

    for adapter, version, rating, n_corr, n_comment, n in fb_rows:
        s = slot(adapter_label(adapter, version))
        if rating in ("up", "down"):
            s[rating] += n
        s["corrections"] += n_corr
        s["comments"] += n_comment
        s["feedback"] += n
    for a_label, b_label, choice, n in cmp_rows:
        if choice == "same":
            slot(a_label)["same"] += n
            slot(b_label)["same"] += n
        else:
            winner, loser = (a_label, b_label) if choice == "a" else (b_label, a_label)
            slot(winner)["good"] += n
            slot(loser)["bad"] += n
    for s in per.values():
        thumbs = s["up"] + s["down"]
        s["thumbs_up_ratio"] = s["up"] / thumbs if thumbs else None
        judged = s["good"] + s["same"] + s["bad"]
        s["comparisons"] = judged
        # GSB: wins over all judgements (ties count half), and the usual (G - B) / (G + S + B).
        s["win_rate"] = (s["good"] + 0.5 * s["same"]) / judged if judged else None
        s["gsb"] = (s["good"] - s["bad"]) / judged if judged else None
    return per


class FeedbackStats:
    """Aggregates over feedback and decided comparisons."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def compute(self) -> dict[str, Any]:
        """Counts, thumbs ratio and GSB win rate per adapter version (``base`` = no adapter)."""
        async with self.db.read() as session:
            fb_rows = (
                await session.execute(
                    select(
                        Translation.adapter,
                        Translation.adapter_version,
                        Feedback.rating,
                        func.count(Feedback.correction),
                        func.count(Feedback.comment),
                        func.count(),
                    )
                    .join(Translation, Translation.id == Feedback.translation_id)
                    .group_by(Translation.adapter, Translation.adapter_version, Feedback.rating)
                )
            ).all()
            cmp_rows = (
                await session.execute(
                    select(Comparison.a_label, Comparison.b_label, Comparison.choice, func.count())
                    .where(Comparison.choice.is_not(None))
                    .group_by(Comparison.a_label, Comparison.b_label, Comparison.choice)
                )
            ).all()
            n_translations = await session.scalar(select(func.count()).select_from(Translation))
            n_comparisons = await session.scalar(select(func.count()).select_from(Comparison))
        per = _tally(fb_rows, cmp_rows)
        totals = {
            "translations": int(n_translations or 0),
            "feedback": sum(s["feedback"] for s in per.values()),
            "up": sum(s["up"] for s in per.values()),
            "down": sum(s["down"] for s in per.values()),
            "corrections": sum(s["corrections"] for s in per.values()),
            "comparisons": int(n_comparisons or 0),
            "comparisons_judged": sum(n for *_, n in cmp_rows),
        }
        return {"totals": totals, "adapters": per}
