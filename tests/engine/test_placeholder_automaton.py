"""The placeholder constraint's state machine on token sequences (a small synthetic vocabulary, no model).

Covers: placeholders pending (no EOS, no stop string), duplicated and invented ones impossible, placeholders and stop
strings split over several tokens (digits, byte fallback, merged tokens), forcing before ``max_tokens``, and replaying
a preempted request's output.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from papertrans.server.engine.placeholder_automaton import (
    ConstraintSpec,
    Mask,
    PlaceholderAutomaton,
    TokenTable,
    delimiters_of,
)

# id: bytes. 0/1 are special (empty bytes), 2/3 the delimiters, 4..13 the digits.
PIECES: list[bytes] = [
    b"",  # 0 <pad>
    b"",  # 1 <eos>
    "⟦".encode(),  # 2
    "⟧".encode(),  # 3
    *(str(d).encode() for d in range(10)),  # 4..13
    b"\n",  # 14
    b"\n\n",  # 15
    "英文：".encode(),  # 16
    "\n英".encode(),  # 17
    "文：".encode(),  # 18
    "的".encode(),  # 19
    b" the",  # 20
    b"\xe2",  # 21 <0xE2>
    b"\x9f",  # 22 <0x9F>
    b"\xa6",  # 23 <0xA6>
    b"\xa7",  # 24 <0xA7>
    "x⟦".encode(),  # 25 a token that merges an opener with text
    "。".encode(),  # 26
    "英".encode(),  # 27
    "⟨".encode(),  # 28 another bracket of the same Unicode block (E2 9F A8): not a delimiter
]
TABLE = TokenTable(PIECES)
EOS, OPEN, CLOSE, NL, NL2, SRC, NL_YING, WEN, DE, THE = 1, 2, 3, 14, 15, 16, 17, 18, 19, 20
B_E2, B_9F, B_A6, B_A7, MERGED, STOP_PERIOD, YING, ANGLE = 21, 22, 23, 24, 25, 26, 27, 28
STOPS = ("\n\n", "\n英文：", "\n中文：")


def digit(d: int) -> int:
    return 4 + d


def ph(n: int) -> tuple[int, ...]:
    return (OPEN, *(digit(int(c)) for c in str(n)), CLOSE)


def spec(*numbers: int, max_tokens: int | None = None) -> ConstraintSpec:
    return ConstraintSpec(
        sequences=tuple(ph(n) for n in numbers),
        guards=("⟦".encode(), "⟧".encode()),
        stops=tuple(s.encode() for s in STOPS),
        eos_ids=frozenset({EOS}),
        max_tokens=max_tokens,
    )


def automaton(*numbers: int, max_tokens: int | None = None) -> PlaceholderAutomaton:
    return PlaceholderAutomaton(TABLE, spec(*numbers, max_tokens=max_tokens))


def allowed(mask: Mask, token: int) -> bool:
    return (mask.allow is None or token in mask.allow) and token not in mask.block


def test_no_stop_while_a_placeholder_is_pending() -> None:
    a = automaton(1)
    m = a.mask()
    assert m.allow is None
    # EOS, the "\n\n" stop string and any line break (where a base model starts a new "example") are stop wishes
    for token in (EOS, NL2, NL, NL_YING):
        assert not allowed(m, token) and token in m.stop
    assert allowed(m, DE) and allowed(m, OPEN) and OPEN not in m.stop
    a.feed_all(ph(1))
    m = a.mask()
    assert a.done and allowed(m, EOS) and allowed(m, NL2) and allowed(m, NL) and not m.stop


def test_a_stop_string_split_over_tokens_is_blocked_at_its_last_token() -> None:
    stops = ("英文：".encode(),)
    a = PlaceholderAutomaton(TABLE, ConstraintSpec(sequences=(ph(1),), stops=stops, eos_ids=frozenset({EOS})))
    m = a.mask()
    assert not allowed(m, SRC) and allowed(m, YING)  # "英" alone does not finish the stop string
    a.feed(YING)
    m = a.mask()
    assert not allowed(m, WEN) and WEN in m.stop  # "英" + "文：" would
    a.feed(DE)
    assert allowed(a.mask(), WEN)  # "英的文：" is no stop string
    a.feed_all(ph(1))
    a.feed(YING)
    assert allowed(a.mask(), WEN)  # nothing pending: it may stop


def test_a_stop_wish_writes_the_pending_placeholders_then_allows_the_stop() -> None:
    a = automaton(1, 2)
    a.feed(DE)
    a.close()  # the model's best token was a stop wish
    assert a.mask().allow == {OPEN}
    a.feed_all([OPEN, digit(2)])
    assert a.mask().allow == {CLOSE}
    a.feed(CLOSE)
    assert a.mask().allow == {OPEN}  # still closing: ⟦1⟧ next
    a.feed_all(ph(1))
    m = a.mask()
    assert a.done and m.allow is None and allowed(m, EOS)


def test_duplicates_and_other_openers_are_impossible() -> None:
    a = automaton(1)
    a.feed_all(ph(1))
    m = a.mask()
    assert not allowed(m, OPEN) and not allowed(m, CLOSE) and not allowed(m, MERGED)
    assert allowed(m, DE)


def test_only_inventory_numbers_can_be_written() -> None:
    a = automaton(1, 12)
    a.feed(OPEN)
    assert a.mask().allow == {digit(1)}
    a.feed(digit(1))
    assert a.mask().allow == {CLOSE, digit(2)}  # ⟦1⟧ or ⟦12⟧
    a.feed(digit(2))
    assert a.mask().allow == {CLOSE}
    a.feed(CLOSE)
    assert a.remaining() == [ph(1)]
    a.feed(OPEN)
    assert a.mask().allow == {digit(1)}
    a.feed(digit(1))
    assert a.mask().allow == {CLOSE}  # ⟦12⟧ is used up
    a.feed(CLOSE)
    assert a.done and a.violations == 0


def test_delimiters_by_byte_fallback_are_blocked() -> None:
    a = automaton(1)
    a.feed(B_E2)
    m = a.mask()
    assert allowed(m, B_9F)
    a.feed(B_9F)
    m = a.mask()
    assert not allowed(m, B_A6) and not allowed(m, B_A7)  # would spell ⟦ / ⟧
    assert allowed(m, ANGLE) and allowed(m, B_E2)
    assert not allowed(m, MERGED)  # "x⟦" contains an opener: never, pending or not


def test_pending_placeholders_are_forced_before_max_tokens() -> None:
    a = automaton(3, 10, max_tokens=9)  # ⟦3⟧ (3 tokens) + ⟦10⟧ (4 tokens) = 7
    a.feed(DE)
    assert a.mask().allow is None
    a.feed(DE)  # 7 left, 7 needed: only an opener
    assert a.mask().allow == {OPEN}
    a.feed(OPEN)
    assert a.mask().allow == {digit(3), digit(1)}
    a.feed(digit(1))
    assert a.mask().allow == {digit(0)}
    a.feed_all([digit(0), CLOSE])
    assert a.mask().allow == {OPEN}
    a.feed_all(ph(3))
    assert a.done and a.produced == 9


def test_forcing_leaves_room_when_budget_allows() -> None:
    a = automaton(1, max_tokens=5)
    a.feed(DE)
    assert a.mask().allow is None  # 4 left, 3 needed
    a.feed(DE)
    assert a.mask().allow == {OPEN}


def test_preempted_request_is_rebuilt_by_replaying_its_output() -> None:
    tokens = [DE, *ph(2), THE, NL, OPEN, digit(1)]
    live = automaton(1, 2, max_tokens=20)
    for t in tokens:
        live.feed(t)
    replayed = automaton(1, 2, max_tokens=20)
    replayed.feed_all(tokens)
    assert replayed.mask() == live.mask() == Mask(allow=frozenset({CLOSE}))
    assert replayed.remaining() == live.remaining() == [ph(1)]
    assert (replayed.produced, replayed.tail) == (live.produced, live.tail)


def test_tokens_the_mask_forbade_are_counted_not_trusted() -> None:
    a = automaton(1)
    a.feed_all([OPEN, digit(7)])  # ⟦7 is not in the inventory
    assert a.violations == 1 and a.remaining() == [ph(1)] and a.mask().allow is None
    a.feed(EOS)
    assert a.violations == 2


def test_requests_without_placeholders_are_only_kept_from_writing_delimiters() -> None:
    a = PlaceholderAutomaton(TABLE, ConstraintSpec(sequences=(), stops=(b"\n\n",), eos_ids=frozenset({EOS})))
    m = a.mask()
    assert a.done and allowed(m, EOS) and allowed(m, NL2) and allowed(m, OPEN)


def test_delimiters_of_placeholders() -> None:
    assert delimiters_of(["⟦1⟧", "⟦12⟧"]) == ("⟦", "⟧")
    assert delimiters_of(["{{1}}"]) == ("{{", "}}")
    assert delimiters_of(["⟦1⟧", "{{2}}"]) is None
    assert delimiters_of([]) is None


def test_token_table_from_a_sentencepiece_tokenizer() -> None:
    class Tok:
        all_special_ids = [0]
        added_tokens_decoder: dict[int, object] = {}

        def __len__(self) -> int:
            return 4

        def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
            return ["<pad>", "▁the", "<0x0A>", "⟦"][: len(ids)]

    table = TokenTable.from_tokenizer(Tok())
    assert table.pieces == [b"", b" the", b"\n", "⟦".encode()]
    assert table.starting_with(b"\n") == {2} and table.containing("⟦".encode()) == {3}


@settings(max_examples=150, deadline=None)
@given(
    numbers=st.lists(st.integers(1, 30), min_size=1, max_size=6, unique=True),
    seed=st.integers(0, 2**32 - 1),
    slack=st.integers(0, 12),
)
def test_any_model_under_the_mask_writes_every_placeholder_once(numbers: list[int], seed: int, slack: int) -> None:
    """A random "model" (random logits every step), decoded greedily under the mask, until EOS, a stop string or
    ``max_tokens``: every placeholder exactly once, no other delimiter, and no stop before the last placeholder."""
    rng = random.Random(seed)
    need = sum(len(ph(n)) for n in numbers)
    a = automaton(*numbers, max_tokens=need + slack)
    text = b""
    stopped = False
    while a.produced < need + slack:
        # favour EOS and newlines so that the model keeps trying to stop early (the engine adapter's rule: a stop
        # wish as the best token closes)
        weights = [rng.random() + (0.9 if t in (EOS, NL, NL2) else 0.0) for t in range(len(PIECES))]
        m = a.mask()
        if max(range(len(PIECES)), key=weights.__getitem__) in m.stop:
            a.close()
            m = a.mask()
        token = max((t for t in range(len(PIECES)) if allowed(m, t)), key=weights.__getitem__)
        a.feed(token)
        text += PIECES[token]
        if token == EOS or any(s.encode() in text for s in STOPS):
            stopped = True
            break
    assert a.done and a.violations == 0
    for n in numbers:
        assert text.count(f"⟦{n}⟧".encode()) == 1
    assert text.count("⟦".encode()) == text.count("⟧".encode()) == len(numbers)
    assert stopped or a.produced == need + slack


def test_release_lets_a_stop_wish_stop_without_writing_a_pile() -> None:
    """``early_stop="release"``: the model that wants to stop with ⟦1⟧ ⟦2⟧ pending may stop (the attempt then fails
    validation and is retried in smaller pieces) instead of writing ``⟦2⟧⟦1⟧`` in a run at the end."""
    a = PlaceholderAutomaton(TABLE, replace(spec(1, 2), early_stop="release"))
    a.feed(DE)
    assert not allowed(a.mask(), EOS)  # before any stop wish the constraint holds
    a.close()
    m = a.mask()
    assert m.allow is None and allowed(m, EOS) and allowed(m, NL2) and allowed(m, DE)
    assert allowed(m, OPEN)  # a pending placeholder may still be written
    a.feed_all(ph(1))
    m = a.mask()
    assert allowed(m, EOS) and not allowed(m, CLOSE) and not allowed(m, MERGED)  # nothing invented, no stray closer
    a.feed_all(ph(2))
    assert a.done and not allowed(a.mask(), OPEN)  # no duplicate either


def test_close_is_the_default_and_release_is_per_request() -> None:
    closing, releasing = automaton(1), PlaceholderAutomaton(TABLE, replace(spec(1), early_stop="release"))
    for a in (closing, releasing):
        a.feed(DE)
        a.close()
    assert closing.mask().allow == {OPEN} and not allowed(closing.mask(), EOS)
    assert releasing.mask().allow is None and allowed(releasing.mask(), EOS)
