"""The promotion decision on what readers would get: paired bootstrap intervals on chrF, two domains, pure logic.

CPU greedy decoding moves corpus chrF by about ±0.5 between passes of the same adapter, and a night's held-out slice
is tens of segments, so a point difference says little. The gate therefore resamples the *segments* (the same
resample for both sides: a paired bootstrap, Koehn 2004, as ``sacrebleu --paired-bs`` does) and recomputes corpus chrF
from the summed per-segment chrF statistics of each side; the interval of the difference is what is judged:

- **new domain** (held-out rows of the readers' own corrections): promote only if the lower end of the interval of
  ``candidate - baseline`` is above ``min_gain`` (default 0): an improvement beyond noise;
- **old domain** (the standing regression set, the starter's domain): refuse if the difference is below
  ``-old_tolerance`` (default 1 chrF point, the loop's "not lower than the starter by more than 1");
- **as served**: refuse if the candidate falls back to English on more segments than the baseline, on either set.

Everything here is a function of its inputs (fixed seed), so the tests feed known outputs and check the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DomainDelta", "GateVerdict", "SideCounts", "decide", "paired_bootstrap"]


@dataclass(frozen=True)
class SideCounts:
    """What readers would see besides the words: segments served, fallen back to English, kept for review."""

    segments: int = 0
    fallbacks: int = 0
    needs_review: int = 0


@dataclass(frozen=True)
class DomainDelta:
    """Corpus chrF of both sides on one held-out set and the paired bootstrap interval of their difference."""

    name: str
    n: int
    candidate: float
    baseline: float
    delta: float
    low: float
    high: float
    confidence: float
    samples: int
    candidate_counts: SideCounts = field(default_factory=SideCounts)
    baseline_counts: SideCounts = field(default_factory=SideCounts)

    def line(self) -> str:
        """One line for the report: both scores, the difference and its interval, the served counts."""
        c, b = self.candidate_counts, self.baseline_counts
        return (
            f"{self.name}: chrF {self.candidate:.2f} vs {self.baseline:.2f} on {self.n} rows, "
            f"delta {self.delta:+.2f} [{self.low:+.2f}, {self.high:+.2f}] ({self.confidence:.0%} paired bootstrap, "
            f"{self.samples} resamples); fallbacks {c.fallbacks} vs {b.fallbacks}, "
            f"needs_review {c.needs_review} vs {b.needs_review}"
        )


@dataclass(frozen=True)
class GateVerdict:
    promote: bool
    reasons: list[str]
    new: DomainDelta | None
    old: DomainDelta | None
    min_gain: float
    old_tolerance: float

    def lines(self) -> list[str]:
        verdict = "PROMOTE" if self.promote else "REFUSE"
        body = [d.line() for d in (self.new, self.old) if d is not None]
        return [*body, f"{verdict}: " + ("; ".join(self.reasons) if self.reasons else "all checks passed")]

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "summary": self.lines()}


def _chrf_stats(hyps: Sequence[str], refs: Sequence[str]) -> Any:
    import numpy as np
    from sacrebleu.metrics import CHRF  # type: ignore[attr-defined]

    metric = CHRF()
    # Per-segment sufficient statistics (n-gram matches and counts) whose sum gives corpus chrF: sacrebleu's own
    # paired bootstrap (sacrebleu.significance) resamples exactly these.
    stats = metric._extract_corpus_statistics(list(hyps), [list(refs)])
    return metric, np.asarray(stats, dtype=np.float64)


def _score(metric: Any, summed: Any) -> float:
    return float(metric._compute_score_from_stats(list(summed)).score)


def paired_bootstrap(
    name: str,
    candidate: Sequence[str],
    baseline: Sequence[str],
    references: Sequence[str],
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    candidate_counts: SideCounts | None = None,
    baseline_counts: SideCounts | None = None,
) -> DomainDelta:
    """Corpus chrF of both sides and the percentile interval of ``candidate - baseline`` over resampled segments."""
    import numpy as np

    n = len(references)
    if n == 0 or len(candidate) != n or len(baseline) != n:
        raise ValueError(
            f"{name}: need one candidate and one baseline output per reference (got {len(candidate)}, "
            f"{len(baseline)}, {n})"
        )
    metric, cand = _chrf_stats(candidate, references)
    _, base = _chrf_stats(baseline, references)
    c_score, b_score = _score(metric, cand.sum(axis=0)), _score(metric, base.sum(axis=0))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(samples, n))
    cand_sums, base_sums = cand[picks].sum(axis=1), base[picks].sum(axis=1)  # (samples, statistics)
    deltas = np.array([_score(metric, c) - _score(metric, b) for c, b in zip(cand_sums, base_sums, strict=True)])
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return DomainDelta(
        name,
        n,
        round(c_score, 3),
        round(b_score, 3),
        round(c_score - b_score, 3),
        round(float(low), 3),
        round(float(high), 3),
        confidence,
        samples,
        candidate_counts or SideCounts(),
        baseline_counts or SideCounts(),
    )


def _served_reasons(d: DomainDelta) -> list[str]:
    c, b = d.candidate_counts, d.baseline_counts
    if c.fallbacks > b.fallbacks:
        return [f"fallbacks_regressed[{d.name}]: {c.fallbacks} > {b.fallbacks} segments"]
    return []


def decide(
    new: DomainDelta | None,
    old: DomainDelta | None,
    *,
    min_gain: float = 0.0,
    old_tolerance: float = 1.0,
) -> GateVerdict:
    """Promote iff the new domain improves beyond noise, the old one does not regress past the tolerance, and no
    set falls back more often. A missing new-domain set is a refusal (nothing shows the night helped)."""
    reasons: list[str] = []
    if new is None:
        reasons.append("no_heldout_rows: no held-out rows of the readers' domain to measure the night on")
    else:
        if new.low <= min_gain:
            reasons.append(
                f"no_gain_beyond_noise[{new.name}]: delta {new.delta:+.2f}, interval low {new.low:+.2f} "
                f"<= {min_gain:+.2f}"
            )
        reasons += _served_reasons(new)
    if old is not None:
        if old.delta < -old_tolerance:
            reasons.append(f"old_domain_regressed[{old.name}]: delta {old.delta:+.2f} < -{old_tolerance}")
        reasons += _served_reasons(old)
    return GateVerdict(not reasons, reasons, new, old, min_gain, old_tolerance)
