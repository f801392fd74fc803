"""A correction must keep its segment's placeholder inventory, so that it can become training data.

The review page sends corrections in **restored** form (what the reader sees and edits: ``$x$``, ``\\cite{k}``, URLs
as in the source). Each protected span of the segment must then appear exactly as many times as it was protected; the
span occurrences are mapped back to their placeholders (left to right) to give the masked correction that training
pairs with the masked prompt. A correction that already contains placeholders (API clients working on the masked text)
is checked as is: each placeholder exactly once, none invented.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from papertrans.server.errors import Unprocessable

__all__ = ["mask_correction", "restore"]


def restore(masked: str, placeholders: Mapping[str, str]) -> str:
    """Splice the original spans back in place of their placeholders."""
    if not placeholders:
        return masked
    pattern = re.compile("|".join(re.escape(p) for p in sorted(placeholders, key=len, reverse=True)))
    return pattern.sub(lambda m: placeholders[m.group(0)], masked)


def _shape(placeholder: str) -> str:
    # "⟦M12⟧" -> r"⟦M\d+⟧": finds placeholders of the same family that the inventory does not know (invented).
    return r"\d+".join(re.escape(part) for part in re.split(r"\d+", placeholder))


def _invented(text: str, placeholders: Mapping[str, str]) -> list[str]:
    shapes = {_shape(p) for p in placeholders if re.search(r"\d", p)}
    if not shapes:
        return []
    found = re.findall("|".join(sorted(shapes, key=len, reverse=True)), text)
    return sorted({f for f in found if f not in placeholders})


def _mismatch(missing: list[str], extra: list[str], form: str) -> Unprocessable:
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("extra " + ", ".join(extra))
    return Unprocessable(
        "placeholder_mismatch",
        f"the correction must keep every protected span exactly once ({'; '.join(parts)})",
        missing=missing,
        extra=extra,
        form=form,
    )


def _check_masked(correction: str, placeholders: Mapping[str, str]) -> str:
    missing = [p for p in placeholders if correction.count(p) == 0]
    extra = [p for p in placeholders if correction.count(p) > 1] + _invented(correction, placeholders)
    if missing or extra:
        raise _mismatch(missing, extra, "masked")
    return correction


def mask_correction(correction: str, placeholders: Mapping[str, str]) -> str:
    """Return the correction with placeholders in place of the protected spans, or raise 422 naming the difference.

    ``missing`` / ``extra`` list placeholders (masked form) or the original spans (restored form).
    """
    if not placeholders:
        return correction
    if any(p in correction for p in placeholders) or _invented(correction, placeholders):
        return _check_masked(correction, placeholders)
    # Restored form. Longest spans first, so that "$x$" is not found inside "$x$ + $y$"-like longer spans.
    by_span: dict[str, list[str]] = {}
    for ph, span in placeholders.items():
        by_span.setdefault(span, []).append(ph)
    work = correction
    slots: list[tuple[int, int, str]] = []  # (start, end, placeholder) in the original correction
    missing: list[str] = []
    extra: list[str] = []
    taken = [False] * len(correction)
    for span in sorted(by_span, key=len, reverse=True):
        starts = []
        pos = work.find(span)
        while pos >= 0 and span:
            if not any(taken[pos : pos + len(span)]):
                starts.append(pos)
                for i in range(pos, pos + len(span)):
                    taken[i] = True
            pos = work.find(span, pos + len(span))
        wanted = by_span[span]
        if len(starts) < len(wanted):
            missing.extend([span] * (len(wanted) - len(starts)))
        elif len(starts) > len(wanted):
            extra.extend([span] * (len(starts) - len(wanted)))
        for start, ph in zip(sorted(starts), wanted, strict=False):
            slots.append((start, start + len(span), ph))
    if missing or extra:
        raise _mismatch(missing, extra, "restored")
    out, last = [], 0
    for start, end, ph in sorted(slots):
        out.append(correction[last:start])
        out.append(ph)
        last = end
    out.append(correction[last:])
    return "".join(out)
