"""The vLLM adapter of the placeholder constraint: batch bookkeeping (add, move, swap, remove, preemption) and the
logits it masks, on the synthetic vocabulary of ``test_placeholder_automaton`` (no model)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

from papertrans.server.engine.constrain import EXTRA_ARG, FQCN, PlaceholderConstraint

from .test_placeholder_automaton import CLOSE, DE, EOS, NL2, OPEN, PIECES, TABLE, digit, ph


class _Tokenizer:
    eos_token_id = EOS

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = [OPEN if c == "⟦" else CLOSE if c == "⟧" else digit(int(c)) for c in text]
        return [0, *ids]  # a leading empty piece, the way SentencePiece may prefix a space marker


def _processor() -> PlaceholderConstraint:
    proc = PlaceholderConstraint(SimpleNamespace(model_config=None), torch.device("cpu"), False)  # type: ignore[arg-type]
    proc._table, proc._tokenizer = TABLE, _Tokenizer()
    return proc


def _params(*placeholders: str, max_tokens: int = 50) -> SamplingParams:
    extra = {EXTRA_ARG: list(placeholders)} if placeholders else None
    return SamplingParams(max_tokens=max_tokens, stop=["\n\n"], extra_args=extra)


def _update(size: int, added=(), removed=(), moved=()) -> BatchUpdate:  # type: ignore[no-untyped-def]
    return BatchUpdate(batch_size=size, removed=list(removed), added=list(added), moved=list(moved))


def _step(proc: PlaceholderConstraint, rows: int) -> torch.Tensor:
    return proc.apply(torch.zeros(rows, len(PIECES)))


def test_fqcn_names_the_class() -> None:
    module, name = FQCN.split(":")
    assert module == PlaceholderConstraint.__module__ and name == PlaceholderConstraint.__name__


def test_validate_params_rejects_a_malformed_inventory() -> None:
    PlaceholderConstraint.validate_params(_params("⟦1⟧"))
    PlaceholderConstraint.validate_params(_params())
    with pytest.raises(ValueError):
        PlaceholderConstraint.validate_params(SamplingParams(extra_args={EXTRA_ARG: "⟦1⟧"}))
    with pytest.raises(ValueError):
        PlaceholderConstraint.validate_params(SamplingParams(extra_args={EXTRA_ARG: ["⟦1⟧", ""]}))


def test_only_requests_with_an_inventory_are_masked() -> None:
    proc = _processor()
    out0: list[int] = []
    out1: list[int] = []
    proc.update_state(_update(2, added=[(0, _params("⟦1⟧"), [5], out0), (1, _params(), [5], out1)]))
    logits = _step(proc, 2)
    assert logits[0, EOS] == float("-inf") and logits[0, NL2] == float("-inf")
    assert torch.isfinite(logits[1]).all()
    assert not proc.is_argmax_invariant()


def test_state_follows_the_live_output_and_moves_with_the_request() -> None:
    proc = _processor()
    out: list[int] = []
    proc.update_state(_update(1, added=[(0, _params("⟦1⟧", "⟦2⟧"), [5], out)]))
    _step(proc, 1)
    out.extend([DE, OPEN])  # vLLM appends sampled tokens to the same list
    proc.update_state(None)
    logits = _step(proc, 1)
    finite = torch.isfinite(logits[0]).nonzero().flatten().tolist()
    assert finite == sorted([digit(1), digit(2)])
    # the request moves to row 2 (another one took row 0), then swaps with a plain request at row 1
    proc.update_state(_update(3, moved=[(0, 2, MoveDirectionality.UNIDIRECTIONAL)]))
    logits = _step(proc, 3)
    assert torch.isfinite(logits[0]).all() and torch.isfinite(logits[2]).sum() == 2
    plain: list[int] = []
    proc.update_state(_update(3, added=[(1, _params(), [5], plain)], moved=[(1, 2, MoveDirectionality.SWAP)]))
    logits = _step(proc, 3)
    assert torch.isfinite(logits[1]).sum() == 2 and torch.isfinite(logits[2]).all()
    proc.update_state(_update(2, removed=[1]))
    assert torch.isfinite(_step(proc, 2)).all()


def test_async_placeholder_ids_are_not_fed_until_known() -> None:
    proc = _processor()
    out: list[int] = [DE, -1]  # async scheduling: the last token is not known yet
    proc.update_state(_update(1, added=[(0, _params("⟦1⟧"), [5], out)]))
    _step(proc, 1)
    req = proc._requests[0]
    assert req.automaton.produced == 1
    out[-1] = OPEN
    _step(proc, 1)
    assert req.automaton.produced == 2 and req.automaton.prefix == (OPEN,)


def test_preempted_request_is_replayed_from_its_output() -> None:
    proc = _processor()
    out = [DE, *ph(2), DE, OPEN]
    proc.update_state(_update(1, added=[(0, _params("⟦1⟧", "⟦2⟧"), [5], out)]))
    logits = _step(proc, 1)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [digit(1)]


def test_a_model_that_wants_to_stop_writes_the_pending_placeholder_first() -> None:
    proc = _processor()
    out = [DE]
    proc.update_state(_update(1, added=[(0, _params("⟦1⟧"), [5], out)]))
    logits = torch.zeros(1, len(PIECES))
    logits[0, EOS] = 5.0  # its best token is EOS
    logits = proc.apply(logits)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [OPEN]
    out.extend([OPEN, digit(1), CLOSE])
    logits = torch.zeros(1, len(PIECES))
    logits[0, EOS] = 5.0
    assert int(torch.argmax(proc.apply(logits)[0])) == EOS  # nothing pending: it may stop


def test_max_tokens_forces_the_pending_placeholder() -> None:
    proc = _processor()
    out = [DE, DE]
    proc.update_state(_update(1, added=[(0, _params("⟦1⟧", max_tokens=5), [5], out)]))
    logits = _step(proc, 1)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [OPEN]
