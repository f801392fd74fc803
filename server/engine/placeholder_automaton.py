"""The placeholder constraint as a pure state machine over token ids (no vLLM, no torch).

One :class:`PlaceholderAutomaton` follows one request's output token by token and says, before each step, which tokens
the next step may (``Mask.allow``) or may not (``Mask.block``) produce so that:

- every placeholder of the request's inventory is produced exactly once, in any order; a placeholder is a fixed token
  sequence (``⟦12⟧`` is ``⟦ 1 2 ⟧`` in Gemma's vocabulary), and once its first token is out only its continuation is
  allowed;
- nothing else produces a delimiter (``⟦``/``⟧``): no token containing one, and no run of byte tokens spelling one
  (``<0xE2><0x9F><0xA6>`` is ``⟦`` by byte fallback);
- while a placeholder is pending, no end-of-sequence token, no stop string (``"\\n\\n"``, ``"\\n英文："``; the text
  is matched on bytes, so a stop string split over several tokens is caught at its last token) and no line break (a
  base model that may not stop starts a new "example" on the next line): these are the *stop wishes* of a step;
- a model that wishes to stop while placeholders are pending (its best token is a stop wish: the caller sees the
  logits and calls :meth:`PlaceholderAutomaton.close`) does what the request's ``early_stop`` says: ``"close"``
  writes the pending placeholders right away and may stop then (every byte kept, but the formulas land in a pile at
  the end, out of their sentences); ``"release"`` lifts the constraint and lets it stop, so the attempt comes back
  with placeholders missing and fails validation: the caller retries it (smaller pieces) instead of shipping a pile;
- the pending placeholders still fit into ``max_tokens``: when the remaining budget equals what they need, only their
  tokens are allowed.

Everything is decided on the bytes of each token (:class:`TokenTable`), so it is exact for any tokenizer whose tokens
have fixed bytes (SentencePiece with byte fallback such as Gemma's, byte-level BPE). The vLLM adapter lives in
``constrain.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConstraintSpec", "Mask", "PlaceholderAutomaton", "TokenTable", "delimiters_of"]

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_PLACEHOLDER = re.compile(r"^(\D+?)\d+(\D+)$", re.DOTALL)


def _gpt2_byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode (byte-level BPE vocabularies spell every byte as one character)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


class TokenTable:
    """The bytes of every token of a vocabulary, with the look-ups the automaton needs (cached)."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)
        self._by_first: dict[int, list[int]] = {}
        for i, b in enumerate(self.pieces):
            if b:
                self._by_first.setdefault(b[0], []).append(i)
        self._containing: dict[bytes, frozenset[int]] = {}
        self._starting: dict[bytes, frozenset[int]] = {}

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> TokenTable:
        """Bytes of each id of a Hugging Face tokenizer; special tokens are empty (they are not detokenized)."""
        size = len(tokenizer)
        strings = tokenizer.convert_ids_to_tokens(list(range(size)))
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        for tid, tok in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
            if getattr(tok, "special", False):
                special.add(int(tid))
        byte_level = not any(isinstance(s, str) and "▁" in s for s in strings[:5000])
        decoder = _gpt2_byte_decoder() if byte_level else {}
        pieces: list[bytes] = []
        for i, s in enumerate(strings):
            pieces.append(b"" if i in special or not isinstance(s, str) else _piece_bytes(s, decoder))
        return cls(pieces)

    def __len__(self) -> int:
        return len(self.pieces)

    def text(self, ids: Iterable[int]) -> bytes:
        return b"".join(self.pieces[i] for i in ids)

    def containing(self, pattern: bytes) -> frozenset[int]:
        """Ids whose bytes contain ``pattern``."""
        if pattern not in self._containing:
            self._containing[pattern] = frozenset(i for i, b in enumerate(self.pieces) if pattern in b)
        return self._containing[pattern]

    def starting_with(self, prefix: bytes) -> frozenset[int]:
        """Ids whose bytes start with ``prefix`` (and are at least as long)."""
        if prefix not in self._starting:
            ids = self._by_first.get(prefix[0], []) if prefix else []
            self._starting[prefix] = frozenset(i for i in ids if self.pieces[i].startswith(prefix))
        return self._starting[prefix]


def _piece_bytes(piece: str, byte_decoder: dict[str, int]) -> bytes:
    m = _BYTE_PIECE.fullmatch(piece)
    if m:
        return bytes([int(m.group(1), 16)])
    if byte_decoder:
        try:
            return bytes(byte_decoder[c] for c in piece)
        except KeyError:
            return piece.encode()
    return piece.replace("▁", " ").encode()


def delimiters_of(placeholders: Iterable[str]) -> tuple[str, str] | None:
    """The shared opener and closer of placeholders written ``<open><digits><close>`` (``None`` if they differ)."""
    found = {(m.group(1), m.group(2)) for m in map(_PLACEHOLDER.match, placeholders) if m}
    if len(found) != 1:
        return None
    (pair,) = found
    return pair


@dataclass(frozen=True)
class ConstraintSpec:
    """What one request is constrained to.

    ``sequences``: the token ids of each placeholder occurrence (a placeholder present twice is listed twice);
    ``guards``: byte strings produced only inside a placeholder (its delimiters); ``stops``: stop strings that must not
    complete while a placeholder is pending; ``eos_ids``: end-of-sequence ids, blocked likewise; ``max_tokens``: the
    request's budget (``None`` = no forcing); ``early_stop``: what a stop wish with placeholders pending does
    (``"close"``: write them now; ``"release"``: let the model stop without them, the attempt then fails validation).
    """

    sequences: tuple[tuple[int, ...], ...]
    guards: tuple[bytes, ...] = ()
    stops: tuple[bytes, ...] = ()
    eos_ids: frozenset[int] = frozenset()
    max_tokens: int | None = None
    early_stop: str = "close"


@dataclass(frozen=True)
class Mask:
    """The next step's constraint: only ``allow`` (when not ``None``), and never ``block``; ``stop`` is the part of
    ``block`` that ends the text (EOS, stop strings, line breaks): a model whose best token is in it wants to stop."""

    allow: frozenset[int] | None = None
    block: frozenset[int] = frozenset()
    stop: frozenset[int] = frozenset()


@dataclass
class PlaceholderAutomaton:
    """Follows one request's output (:meth:`feed`) and gives the next step's :class:`Mask`.

    ``violations`` counts fed tokens that the mask forbade (the engine applied no mask that step, e.g. a request that
    was not constrained when it produced them); the automaton stays consistent either way.
    """

    table: TokenTable
    spec: ConstraintSpec
    produced: int = 0
    violations: int = 0
    pending: Counter[tuple[int, ...]] = field(init=False)
    prefix: tuple[int, ...] = field(init=False, default=())
    tail: bytes = field(init=False, default=b"")
    closing: bool = field(init=False, default=False)
    released: bool = field(init=False, default=False)
    _keep: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.pending = Counter(s for s in self.spec.sequences if s)
        self._keep = max((len(p) for p in (*self.spec.guards, *self.spec.stops)), default=1) - 1

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Every placeholder has been produced."""
        return not self.pending

    def remaining(self) -> list[tuple[int, ...]]:
        """The placeholders still to produce (as token sequences)."""
        return sorted(self.pending.elements())

    def feed_all(self, tokens: Iterable[int]) -> None:
        for t in tokens:
            self.feed(t)

    def feed(self, token: int) -> None:
        """Advance by one produced token."""
        if self.prefix or self._opens(token):
            if not self._allowed_inside(token):
                self.violations += 1
                self.prefix = ()
            else:
                self.prefix += (token,)
                if self.pending[self.prefix] > 0:  # a whole placeholder: it is no longer pending
                    self.pending[self.prefix] -= 1
                    if not self.pending[self.prefix]:
                        del self.pending[self.prefix]
                    self.prefix = ()
        elif token in self._blocked_outside():
            self.violations += 1
        self.produced += 1
        if self._keep:
            self.tail = (self.tail + self.table.pieces[token])[-self._keep :]

    # -- the mask ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """The model wants to stop with placeholders pending: with ``early_stop="close"`` only the pending placeholders
        from now on, then it may stop; with ``"release"`` it may stop now (no placeholder is forced, none invented).

        Not part of the replayed state: a preempted request that was closing closes again at its next stop wish.
        """
        if not self.pending:
            return
        if self.spec.early_stop == "release":
            self.released = True
        else:
            self.closing = True

    def mask(self) -> Mask:
        """What the next token may be."""
        if self.prefix:
            return Mask(allow=frozenset(t for t in self._continuations() if self._fits(t)))
        if self.released:  # it may stop; it still may not invent or duplicate a placeholder
            return Mask(block=frozenset(self._guarded() - self._openers()))
        if self.pending and (self.closing or not self._fits(None)):
            return Mask(allow=frozenset(t for t in self._openers() if self._fits(t)))
        stop = self._stop_wishes()
        return Mask(block=self._blocked_outside() | stop, stop=stop)

    def _openers(self) -> set[int]:
        return {seq[0] for seq in self.pending}

    def _opens(self, token: int) -> bool:
        return any(seq[0] == token for seq in self.pending)

    def _continuations(self) -> set[int]:
        n = len(self.prefix)
        return {seq[n] for seq in self.pending if len(seq) > n and seq[:n] == self.prefix}

    def _allowed_inside(self, token: int) -> bool:
        candidate = self.prefix + (token,)
        n = len(candidate)
        return any(seq[:n] == candidate for seq in self.pending)

    def _need(self, prefix: tuple[int, ...]) -> int:
        """Tokens still needed to finish every pending placeholder, after ``prefix`` of one of them is out."""
        total = sum(len(seq) * c for seq, c in self.pending.items())
        if not prefix:
            return total
        n = len(prefix)
        return min(total - n for seq in self.pending if seq[:n] == prefix)

    def _fits(self, token: int | None) -> bool:
        """Whether the pending placeholders still fit into the budget after ``token`` (``None``: any other token)."""
        if self.spec.max_tokens is None:
            return True
        left = self.spec.max_tokens - self.produced - 1
        if token is None:
            return self._need(()) <= left
        prefix = self.prefix + (token,)
        if any(seq == prefix for seq in self.pending):
            return self._need(()) - len(prefix) <= left
        return self._need(prefix) <= left

    def _blocked_outside(self) -> frozenset[int]:
        """Delimiters outside a placeholder (and, while one is pending, the stop wishes)."""
        blocked = self._guarded()
        if self.pending:
            blocked -= self._openers()
            blocked |= self._stop_wishes()
        return frozenset(blocked)

    def _guarded(self) -> set[int]:
        """Tokens that would put a delimiter into the text outside a pending placeholder's opening."""
        blocked: set[int] = set()
        for pattern in self.spec.guards:
            blocked |= self._completing(pattern)
        return blocked

    def _stop_wishes(self) -> frozenset[int]:
        """Tokens that end the text while a placeholder is pending: EOS, stop strings, line breaks."""
        if not self.pending:
            return frozenset()
        wishes = set(self.spec.eos_ids) | self.table.containing(b"\n")
        for pattern in self.spec.stops:
            wishes |= self._completing(pattern)
        return frozenset(wishes - self._openers())

    def _completing(self, pattern: bytes) -> set[int]:
        """Ids that would put ``pattern`` into the text: containing it, or finishing it after the current tail."""
        ids = set(self.table.containing(pattern))
        for k in range(1, len(pattern)):
            if self.tail.endswith(pattern[:k]):
                ids |= self.table.starting_with(pattern[k:])
        return ids
