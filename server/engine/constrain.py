"""Placeholder-constrained decoding: a vLLM V1 logits processor.

A request that carries its placeholder inventory in ``SamplingParams.extra_args["placeholders"]`` (e.g.
``["⟦1⟧", "⟦2⟧"]``) produces each of them exactly once, in any order, produces no other delimiter, cannot stop (EOS or
one of its stop strings, a line break) while one is pending: when its best token is one of those, it writes the
pending placeholders at once and may stop after them (``extra_args["early_stop"] = "release"`` lets it stop without
them instead: the caller retries rather than ship formulas piled at the end); they are also forced before
``max_tokens`` runs out.
Requests without an inventory are not touched. The rules live in the pure
:class:`~papertrans.server.engine.placeholder_automaton.PlaceholderAutomaton`; this module only feeds it the batch.

Registered with the engine argument ``logits_processors=["papertrans.server.engine.constrain:PlaceholderConstraint"]``
(the in-process engine does so unless ``EngineSettings.constrain_placeholders`` is off), or for an OpenAI-compatible
server::

    vllm serve MODEL --logits-processors papertrans.server.engine.constrain:PlaceholderConstraint
    # per request: {"vllm_xargs": {"placeholders": ["⟦1⟧", "⟦2⟧"]}}

It imports nothing from the server: vLLM loads it by name in its engine-core process. Placeholders should use
delimiters that are single tokens which never merge with their neighbours (``⟦n⟧`` in Gemma's vocabulary); the
processor still works for other forms, but a form the tokenizer merges with neighbouring text is forced into
unusual tokenizations. Not usable with speculative decoding (vLLM refuses custom logits processors there).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from papertrans.server.engine.placeholder_automaton import (
    ConstraintSpec,
    PlaceholderAutomaton,
    TokenTable,
    delimiters_of,
)

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig

__all__ = ["EARLY_STOP_ARG", "EXTRA_ARG", "FQCN", "PlaceholderConstraint"]

log = logging.getLogger(__name__)

#: The ``SamplingParams.extra_args`` key (``vllm_xargs`` over HTTP) carrying a request's placeholders.
EXTRA_ARG = "placeholders"
#: The ``extra_args`` key saying what a stop wish with placeholders pending does: ``"close"`` (default: write them at
#: once) or ``"release"`` (let the model stop; the attempt fails validation and is retried).
EARLY_STOP_ARG = "early_stop"
#: The name vLLM loads the processor by.
FQCN = "papertrans.server.engine.constrain:PlaceholderConstraint"


@dataclass
class _Request:
    automaton: PlaceholderAutomaton
    output: list[int]  # vLLM's live output-token list of the request
    seen: int = 0

    def sync(self) -> None:
        """Feed the tokens produced since the last step (async scheduling leaves -1 until a token is known)."""
        out = self.output
        while self.seen < len(out) and out[self.seen] >= 0:
            self.automaton.feed(out[self.seen])
            self.seen += 1


class PlaceholderConstraint(LogitsProcessor):
    """Each placeholder of a request's inventory exactly once, in any order; no stop while one is pending."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        value = (sampling_params.extra_args or {}).get(EXTRA_ARG)
        if value is None:
            return
        if not isinstance(value, list | tuple) or not all(isinstance(p, str) and p for p in value):
            raise ValueError(f"extra_args[{EXTRA_ARG!r}] must be a list of non-empty strings")

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool) -> None:
        self._model_config = vllm_config.model_config
        self._table: TokenTable | None = None
        self._tokenizer: Any = None
        self._requests: dict[int, _Request] = {}
        self._sequences: dict[str, tuple[int, ...] | None] = {}

    def is_argmax_invariant(self) -> bool:
        # A hard constraint changes the greedy choice; vLLM skips argmax-invariant processors under greedy sampling.
        return False

    # -- batch bookkeeping ---------------------------------------------------------------------------------------
    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self._requests.pop(index, None)
        for index, params, _prompt, output in batch_update.added:
            req = self._new_request(params, output)
            if req is None:
                self._requests.pop(index, None)
            else:
                self._requests[index] = req  # a preempted request comes back with its output: sync() replays it
        for a, b, direction in batch_update.moved:
            ra, rb = self._requests.pop(a, None), self._requests.pop(b, None)
            if ra is not None:
                self._requests[b] = ra
            if rb is not None and direction == MoveDirectionality.SWAP:
                self._requests[a] = rb

    def _new_request(self, params: SamplingParams, output: list[int]) -> _Request | None:
        extra = params.extra_args or {}
        placeholders = extra.get(EXTRA_ARG)
        if not placeholders:
            return None
        table, tokenizer = self._vocab()
        sequences = []
        for ph in placeholders:
            if ph not in self._sequences:
                self._sequences[ph] = _encode(tokenizer, table, ph)
            seq = self._sequences[ph]
            if seq is None:
                log.warning("placeholder %r has no stable tokenization; request left unconstrained", ph)
                return None
            sequences.append(seq)
        pair = delimiters_of(placeholders)
        eos = set(params.all_stop_token_ids)
        if getattr(tokenizer, "eos_token_id", None) is not None:
            eos.add(int(tokenizer.eos_token_id))
        spec = ConstraintSpec(
            sequences=tuple(sequences),
            guards=tuple(d.encode() for d in pair) if pair else (),
            stops=tuple(s.encode() for s in (params.stop or ()) if s),
            eos_ids=frozenset(eos),
            max_tokens=params.max_tokens,
            early_stop="release" if extra.get(EARLY_STOP_ARG) == "release" else "close",
        )
        return _Request(PlaceholderAutomaton(table, spec), output)

    def _vocab(self) -> tuple[TokenTable, Any]:
        if self._table is None:
            from vllm.tokenizers import cached_tokenizer_from_config

            self._tokenizer = cached_tokenizer_from_config(self._model_config)
            self._table = TokenTable.from_tokenizer(self._tokenizer)
        return self._table, self._tokenizer

    # -- the step ------------------------------------------------------------------------------------------------
    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self._requests:
            return logits
        vocab = logits.shape[-1]
        block_rows: list[int] = []
        block_cols: list[int] = []
        for index, req in self._requests.items():
            if index >= logits.shape[0]:
                continue
            req.sync()
            mask = req.automaton.mask()
            if mask.stop and int(torch.argmax(logits[index])) in mask.stop:
                req.automaton.close()  # it wants to end: write the pending placeholders now, then it may
                mask = req.automaton.mask()
            if mask.allow is not None:
                allow = torch.tensor(sorted(t for t in mask.allow if t < vocab), dtype=torch.long, device=logits.device)
                kept = logits[index, allow]
                logits[index] = float("-inf")
                logits[index, allow] = kept
            elif mask.block:
                cols = [t for t in mask.block if t < vocab]
                block_rows.extend([index] * len(cols))
                block_cols.extend(cols)
        if block_cols:
            rows = torch.tensor(block_rows, dtype=torch.long, device=logits.device)
            cols_t = torch.tensor(block_cols, dtype=torch.long, device=logits.device)
            logits[rows, cols_t] = float("-inf")
        return logits


def _encode(tokenizer: Any, table: TokenTable, text: str) -> tuple[int, ...] | None:
    """The token ids of one placeholder, checked against its bytes (a tokenizer may prefix a space marker)."""
    ids = [i for i in tokenizer.encode(text, add_special_tokens=False) if table.pieces[i]]  # no empty pieces
    want = text.encode()
    while ids and table.text(ids) != want and not table.pieces[ids[0]].strip():
        ids = ids[1:]
    return tuple(ids) if ids and table.text(ids) == want else None
