"""Placeholder inventories on arbitrary text: check, mask and unmask.

A segment's inventory maps each placeholder (``{{1}}``) to the original bytes it stands for (``$x$``). These functions
are the one place that turns text from one form into the other outside :func:`protect.protect`:

* :func:`check_inventory` says which placeholders are missing, repeated or invented in a text;
* :func:`mask` turns a text in restored form (what a reader sees and edits) into the masked form, mapping each
  occurrence of a protected span back to its placeholder, or accepts a text already in masked form, and raises
  :class:`InventoryMismatch` naming the difference when the spans are not kept exactly;
* :func:`unmask` puts the original bytes back in place of the placeholders.

``mask(unmask(t, inv), inv) == t`` for a masked text ``t`` that keeps its inventory, and
``unmask(mask(r, inv), inv) == r`` for a restored text ``r`` that :func:`mask` accepts.

Placeholders are plain strings here (any form: the stored inventories of older translations used others than
today's), matched exactly, unless a :class:`PlaceholderStyle` is given to :func:`unmask`, which then also accepts the
whitespace-padded forms (``{{ 3 }}``) that validation accepts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ._placeholder import PlaceholderStyle

__all__ = ["InventoryCheck", "InventoryMismatch", "check_inventory", "mask", "unmask"]

Form = Literal["masked", "restored"]


@dataclass(frozen=True)
class InventoryCheck:
    """The placeholder faults of one text against an inventory.

    ``duplicated`` holds ``(placeholder, times)``; ``invented`` holds every occurrence (in order) of a token of the
    same shape as an inventory placeholder (``{{7}}`` next to ``{{1}}``) that the inventory does not know.
    """

    missing: tuple[str, ...] = ()
    duplicated: tuple[tuple[str, int], ...] = ()
    invented: tuple[str, ...] = ()

    @property
    def faults(self) -> int:
        """One per missing or repeated placeholder, plus one per invented occurrence."""
        return len(self.missing) + len(self.duplicated) + len(self.invented)

    @property
    def ok(self) -> bool:
        return self.faults == 0


class InventoryMismatch(ValueError):
    """:func:`mask` could not keep the inventory: ``missing`` / ``extra`` name placeholders (``form`` "masked") or
    original spans (``form`` "restored")."""

    def __init__(self, missing: list[str], extra: list[str], form: Form) -> None:
        self.missing = missing
        self.extra = extra
        self.form = form
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("extra " + ", ".join(extra))
        super().__init__("; ".join(parts))


def _shape(placeholder: str) -> str:
    # "{{12}}" -> r"\{\{\d+\}\}": the family a placeholder belongs to, used to spot invented ones.
    return r"\d+".join(re.escape(part) for part in re.split(r"\d+", placeholder))


def _invented(text: str, placeholders: Iterable[str]) -> list[str]:
    known = set(placeholders)
    shapes = {_shape(p) for p in known if re.search(r"\d", p)}
    if not shapes:
        return []
    pattern = re.compile("|".join(sorted(shapes, key=len, reverse=True)))
    return [m.group(0) for m in pattern.finditer(text) if m.group(0) not in known]


def check_inventory(text: str, placeholders: Iterable[str], style: PlaceholderStyle | None = None) -> InventoryCheck:
    """Each placeholder of the inventory must occur exactly once in ``text`` and no other of the same shape.

    Without ``style`` placeholders are matched exactly; with it, every token of that form counts, whitespace-padded
    ones included (``{{ 3 }}`` is ``{{3}}``), and any such token outside the inventory is invented.
    """
    keys = list(dict.fromkeys(placeholders))
    if style is None:
        counts = {p: text.count(p) for p in keys}
        invented = _invented(text, keys)
    else:
        found = [style.canonical(m) for m in style.token.finditer(text)]
        tally = Counter(found)
        counts = {p: tally.get(p, 0) for p in keys}
        known = set(keys)
        invented = [p for p in found if p not in known]
    return InventoryCheck(
        missing=tuple(p for p in keys if counts[p] == 0),
        duplicated=tuple((p, n) for p, n in counts.items() if n > 1),
        invented=tuple(invented),
    )


def unmask(text: str, placeholders: Mapping[str, str], style: PlaceholderStyle | None = None) -> str:
    """``text`` with each placeholder replaced by its original bytes; unknown placeholders are left as they are.

    With ``style``, whitespace-padded placeholders of that form (``{{ 3 }}``) are recognised too.
    """
    if not placeholders:
        return text
    if style is not None:
        return style.token.sub(lambda m: placeholders.get(style.canonical(m), m.group(0)), text)
    # One pass, longest first, so that a placeholder is never found inside another or inside a restored span.
    pattern = re.compile("|".join(re.escape(p) for p in sorted(placeholders, key=len, reverse=True)))
    return pattern.sub(lambda m: placeholders[m.group(0)], text)


def mask(text: str, placeholders: Mapping[str, str]) -> str:
    """``text`` with placeholders in place of the protected spans; raises :class:`InventoryMismatch` otherwise.

    A text that shows any placeholder (of the inventory's shapes) is taken as masked already and checked as is: every
    placeholder exactly once, none invented. Otherwise each protected span must occur exactly as many times as it
    was protected; equal spans are given their placeholders left to right.
    """
    if not placeholders:
        return text
    check = check_inventory(text, placeholders)
    if check.invented or len(check.missing) < len(placeholders):
        if check.ok:
            return text
        extra = [p for p, _ in check.duplicated] + sorted(set(check.invented))
        raise InventoryMismatch(list(check.missing), extra, "masked")
    slots, missing, extra = _find_spans(text, placeholders)
    if missing or extra:
        raise InventoryMismatch(missing, extra, "restored")
    out, last = [], 0
    for start, end, ph in sorted(slots):
        out.append(text[last:start])
        out.append(ph)
        last = end
    out.append(text[last:])
    return "".join(out)


def _find_spans(text: str, placeholders: Mapping[str, str]) -> tuple[list[tuple[int, int, str]], list[str], list[str]]:
    """``(start, end, placeholder)`` for each span occurrence, and the spans found too rarely / too often.

    Longest spans first, and an occurrence never overlaps one already taken, so that ``$x$`` is not found inside a
    longer span that contains it.
    """
    by_span: dict[str, list[str]] = {}
    for ph, span in placeholders.items():
        by_span.setdefault(span, []).append(ph)
    slots: list[tuple[int, int, str]] = []
    missing: list[str] = []
    extra: list[str] = []
    taken = [False] * len(text)
    for span in sorted(by_span, key=len, reverse=True):
        starts = []
        pos = text.find(span)
        while pos >= 0 and span:
            if any(taken[pos : pos + len(span)]):
                pos = text.find(span, pos + 1)  # overlaps a longer span: the next occurrence may start inside it
                continue
            starts.append(pos)
            taken[pos : pos + len(span)] = [True] * len(span)
            pos = text.find(span, pos + len(span))
        wanted = by_span[span]
        if len(starts) < len(wanted):
            missing.extend([span] * (len(wanted) - len(starts)))
        elif len(starts) > len(wanted):
            extra.extend([span] * (len(starts) - len(wanted)))
        for start, ph in zip(sorted(starts), wanted, strict=False):
            slots.append((start, start + len(span), ph))
    return slots, missing, extra
