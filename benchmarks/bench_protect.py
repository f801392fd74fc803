"""Benchmark protect + restore on the dev documents (a script, not a timed test).

Prints, for each dev document, the protect+restore time and the time per 30 KB, then the time ratio of a document ten
times larger (the dev documents concatenated and repeated). Targets: <= 50 ms per 30 KB on one core; the 10x document
<= 12x the time.

    .venv/bin/python benchmarks/bench_protect.py [--dev-data PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from papertrans import protect

REPO = Path(__file__).resolve().parents[1]


def _round_trip(text: str) -> None:
    pd = protect.protect(text)
    result = pd.restore({s.id: s.text for s in pd.segments})
    if result.text != text:
        raise SystemExit("identity violated")


def best_of(text: str, repeat: int) -> float:
    """Best wall time (seconds) of ``repeat`` protect+restore runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        _round_trip(text)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("PAPERTRANS_DEV_DATA") or str(REPO.parent / "shared" / "data" / "dev")
    ap.add_argument("--dev-data", default=default)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    docs = sorted((Path(args.dev_data) / "docs").glob("*.md"))
    if not docs:
        raise SystemExit(f"no documents in {args.dev_data}/docs")
    texts = [p.read_text(encoding="utf-8") for p in docs]
    for path, text in zip(docs, texts, strict=True):
        t = best_of(text, args.repeat)
        per30 = t / (len(text.encode()) / 30_000)
        flag = "ok" if per30 <= 0.050 else "SLOW"
        size_kb = len(text.encode()) / 1000
        print(f"{path.name:60s} {size_kb:7.1f} KB  {t * 1000:7.2f} ms  {per30 * 1000:6.2f} ms/30KB  {flag}")
    base = "\n\n".join(texts)
    big = "\n\n".join([base] * 10)
    t1, t10 = best_of(base, args.repeat), best_of(big, max(2, args.repeat // 2))
    ratio = t10 / t1
    print(f"all docs {len(base.encode()) / 1000:.1f} KB: {t1 * 1000:.2f} ms; 10x ({len(big.encode()) / 1000:.1f} KB): "
          f"{t10 * 1000:.2f} ms; ratio {ratio:.2f} ({'ok' if ratio <= 12 else 'SUPERLINEAR'})")


if __name__ == "__main__":
    main()
