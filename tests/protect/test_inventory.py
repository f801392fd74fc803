"""Placeholder inventories on arbitrary text: mask, unmask and the check, and that they invert each other."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from papertrans import protect

from ._helpers import P as form
from ._helpers import corpus_units

P = {"⟦M0⟧": "$x$", "⟦M1⟧": "$y$", "⟦C2⟧": "\\cite{a}", "⟦M3⟧": "$x$"}


def test_restored_correction_maps_back_left_to_right() -> None:
    masked = protect.mask("设 $x$ 和 $y$，再 $x$ \\cite{a}", P)
    assert masked == "设 ⟦M0⟧ 和 ⟦M1⟧，再 ⟦M3⟧ ⟦C2⟧"
    assert protect.unmask(masked, P) == "设 $x$ 和 $y$，再 $x$ \\cite{a}"


def test_masked_correction_is_accepted_as_is() -> None:
    assert protect.mask("⟦C2⟧⟦M3⟧⟦M1⟧⟦M0⟧", P) == "⟦C2⟧⟦M3⟧⟦M1⟧⟦M0⟧"


@pytest.mark.parametrize(
    ("correction", "missing", "extra", "form_"),
    [
        ("设 $x$ 和 $y$", ["\\cite{a}", "$x$"], [], "restored"),  # one \cite and one of the two $x$ dropped
        ("$x$ $x$ $x$ $y$ \\cite{a}", [], ["$x$"], "restored"),
        ("⟦M0⟧⟦M1⟧⟦C2⟧", ["⟦M3⟧"], [], "masked"),
        ("⟦M0⟧⟦M1⟧⟦C2⟧⟦M3⟧⟦M3⟧", [], ["⟦M3⟧"], "masked"),
        ("⟦M0⟧⟦M1⟧⟦C2⟧⟦M3⟧⟦M7⟧", [], ["⟦M7⟧"], "masked"),  # invented
        ("$x$ $y$ ⟦M9⟧", ["⟦M0⟧", "⟦M1⟧", "⟦C2⟧", "⟦M3⟧"], ["⟦M9⟧"], "masked"),  # only an invented one: masked form
    ],
)
def test_mismatch_names_missing_and_extra(correction: str, missing: list[str], extra: list[str], form_: str) -> None:
    with pytest.raises(protect.InventoryMismatch) as info:
        protect.mask(correction, P)
    assert sorted(info.value.missing) == sorted(missing)
    assert sorted(info.value.extra) == sorted(extra)
    assert info.value.form == form_


def test_no_placeholders_means_any_text() -> None:
    assert protect.mask("任何文字", {}) == "任何文字"
    assert protect.unmask("任何 {{1}} 文字", {}) == "任何 {{1}} 文字"


def test_a_span_inside_a_longer_span_is_not_taken_twice() -> None:
    inv = {"{{1}}": "$x$", "{{2}}": "$x$ + $y$"}
    assert protect.mask("先 $x$ + $y$ 后 $x$", inv) == "先 {{2}} 后 {{1}}"


def test_a_span_right_after_a_longer_one_that_overlaps_it_is_found() -> None:
    # "$$z$$a$a$": "$a$" first matches at the last "$" of "$$z$$" (taken); the real one starts two characters later.
    inv = {"{{1}}": "$$z$$", "{{2}}": "$a$"}
    assert protect.mask("$$z$$a$a$", inv) == "{{1}}a{{2}}"


def test_check_counts_each_fault() -> None:
    inv = ["{{1}}", "{{2}}", "{{3}}"]
    check = protect.check_inventory("{{1}} {{1}} {{4}} {{4}} 文", inv)
    assert check.missing == ("{{2}}", "{{3}}")
    assert check.duplicated == (("{{1}}", 2),)
    assert check.invented == ("{{4}}", "{{4}}")
    assert check.faults == 5 and not check.ok
    assert protect.check_inventory("{{3}}{{2}}{{1}}", inv).ok


def test_check_with_a_style_accepts_padded_placeholders() -> None:
    style = protect.DEFAULT_STYLE
    inv = [style.make(1), style.make(2)]
    padded = form("⟦ 1 ⟧ 和 ⟦2 ⟧")
    assert not protect.check_inventory(padded, inv).ok  # exact matching: both are missing
    assert protect.check_inventory(padded, inv, style).ok
    assert protect.check_inventory(form("⟦1⟧⟦2⟧⟦ 5⟧"), inv, style).invented == (style.make(5),)
    assert protect.check_inventory(form("⟦9⟧"), [], style).invented == (style.make(9),)  # none expected, one found


def test_unmask_with_a_style_restores_padded_placeholders_and_keeps_unknown_ones() -> None:
    style = protect.DEFAULT_STYLE
    inv = {style.make(1): "$x$"}
    text = form("设 ⟦ 1 ⟧ 与 ⟦2⟧")
    assert protect.unmask(text, inv, style) == "设 $x$ 与 " + style.make(2)
    assert protect.unmask(text, inv) == text  # exact matching does not know the padded form


def test_find_style_names_the_form_in_use() -> None:
    for style in protect.STYLES.values():
        assert protect.find_style(f"a {style.make(3)} b") is style
    assert protect.find_style("no placeholder") is protect.DEFAULT_STYLE


# -- invariants: mask and unmask invert each other ----------------------------------------------------------------

_SPANS = ["$x$", "$y$", "$x$ + $y$", "\\cite{a}", "`code`", "https://a.b/c"]
_PROSE = st.text(alphabet="设和再的 ，。abc", max_size=6)


@st.composite
def _restored(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """A restored text, the same text masked, and the inventory: each span occurrence numbered left to right."""
    spans = draw(st.lists(st.sampled_from(_SPANS), max_size=6))
    first = draw(_PROSE)
    restored, masked, inv = [first], [first], {}
    for n, span in enumerate(spans, start=1):
        prose = draw(_PROSE)
        inv[protect.DEFAULT_STYLE.make(n)] = span
        restored += [span, prose]
        masked += [protect.DEFAULT_STYLE.make(n), prose]
    return "".join(restored), "".join(masked), inv


@settings(max_examples=300, deadline=None)
@given(_restored())
def test_mask_then_unmask_gives_back_the_input(case: tuple[str, str, dict[str, str]]) -> None:
    restored, masked, inv = case
    assert protect.mask(restored, inv) == masked
    assert protect.unmask(masked, inv) == restored
    assert protect.check_inventory(masked, inv).ok
    assert protect.mask(masked, inv) == masked  # the masked form is accepted as is


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(1, 6))), st.lists(_PROSE, min_size=6, max_size=6))
def test_unmask_then_mask_gives_back_the_masked_text(order: list[int], prose: list[str]) -> None:
    inv = {protect.DEFAULT_STYLE.make(n): span for n, span in enumerate(["$a$", "$b$", "\\cite{k}", "`f`", "$$z$$"], 1)}
    # Spans stand apart (a space on each side), as in a sentence: "$b$a$a$" is ambiguous whoever reads it.
    masked = prose[0] + "".join(f" {protect.DEFAULT_STYLE.make(n)} {p}" for n, p in zip(order, prose[1:], strict=True))
    assert protect.mask(protect.unmask(masked, inv), inv) == masked


def test_protected_segments_round_trip_through_unmask_and_mask(corpus_dir: Path) -> None:
    checked = refused = 0
    for unit in corpus_units(corpus_dir):
        for seg in protect.protect(str(unit["en"])).segments:
            restored = protect.unmask(seg.text, seg.placeholders, seg.style)
            try:
                masked = protect.mask(restored, seg.placeholders)
            except protect.InventoryMismatch:
                refused += 1  # a span that also occurs as prose: mask must refuse, never guess
                continue
            assert masked == seg.text
            checked += 1
    assert checked > 100 and refused < checked / 10
