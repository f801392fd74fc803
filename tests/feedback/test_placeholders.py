"""A correction keeps its segment's placeholder inventory; restored spans are mapped back to placeholders."""

from __future__ import annotations

import pytest

from papertrans.server.errors import Unprocessable
from papertrans.server.store._placeholders import mask_correction, restore

P = {"⟦M0⟧": "$x$", "⟦M1⟧": "$y$", "⟦C2⟧": "\\cite{a}", "⟦M3⟧": "$x$"}


def test_restored_correction_maps_back_left_to_right() -> None:
    masked = mask_correction("设 $x$ 和 $y$，再 $x$ \\cite{a}", P)
    assert masked == "设 ⟦M0⟧ 和 ⟦M1⟧，再 ⟦M3⟧ ⟦C2⟧"
    assert restore(masked, P) == "设 $x$ 和 $y$，再 $x$ \\cite{a}"


def test_masked_correction_is_accepted_as_is() -> None:
    assert mask_correction("⟦C2⟧⟦M3⟧⟦M1⟧⟦M0⟧", P) == "⟦C2⟧⟦M3⟧⟦M1⟧⟦M0⟧"


@pytest.mark.parametrize(
    ("correction", "missing", "extra"),
    [
        ("设 $x$ 和 $y$", ["\\cite{a}", "$x$"], []),  # restored form: one \cite and one of the two $x$ dropped
        ("$x$ $x$ $x$ $y$ \\cite{a}", [], ["$x$"]),
        ("⟦M0⟧⟦M1⟧⟦C2⟧", ["⟦M3⟧"], []),  # masked form
        ("⟦M0⟧⟦M1⟧⟦C2⟧⟦M3⟧⟦M3⟧", [], ["⟦M3⟧"]),
        ("⟦M0⟧⟦M1⟧⟦C2⟧⟦M3⟧⟦M7⟧", [], ["⟦M7⟧"]),  # invented
    ],
)
def test_mismatch_names_missing_and_extra(correction: str, missing: list[str], extra: list[str]) -> None:
    with pytest.raises(Unprocessable) as info:
        mask_correction(correction, P)
    body = info.value.to_json()
    assert body["error"] == "placeholder_mismatch"
    assert sorted(body["missing"]) == sorted(missing)
    assert sorted(body["extra"]) == sorted(extra)


def test_no_placeholders_means_any_text() -> None:
    assert mask_correction("任何文字", {}) == "任何文字"
