"""Document terminology, the pure part: candidate terms, acronyms' expansions, nested entries, consistency counts."""

from __future__ import annotations

from papertrans import protect

# Real-looking paragraphs of an RL paper, masked as protect masks them (formulas are placeholders).
RL_DOC = """# Value Iteration

In this section we discuss how the agent picks the best action for the robot at each state. We describe
Value Iteration, an algorithm built on the principle of dynamic programming.

A stochastic policy $\\pi(a \\mid s)$ is a conditional distribution over actions. The value function $V^\\pi(s)$ of
a stochastic policy is the expected return. The optimal value function $V^*(s)$ is the largest value function.

We compute the value function with value iteration: each step of value iteration updates the value function of
every state, and the optimal value function is its fixed point. Value iteration is an instance of dynamic
programming.

The agent solves a Markov decision process (MDP) with a stochastic policy. Proximal Policy Optimization (PPO)
optimizes a stochastic policy with the policy gradient; PPO clips the policy gradient.
"""


def _texts(markdown: str) -> list[str]:
    return [s.text for s in protect.protect(markdown).segments]


def _terms(markdown: str, **kwargs: int) -> dict[str, protect.TermCandidate]:
    return {c.term: c for c in protect.extract_terms(_texts(markdown), **kwargs)}


def test_frequent_phrases_of_a_paper_are_its_terms() -> None:
    terms = _terms(RL_DOC)
    assert terms["value function"].count == 6  # 4 alone + 2 inside "optimal value function"
    assert terms["value iteration"].count == 5  # the heading's and a sentence's capitals folded in
    assert terms["stochastic policy"].count == 4
    assert terms["optimal value function"].count == 2
    assert terms["policy gradient"].count == 2
    ranked = list(terms)
    assert ranked[0] == "value function"  # most frequent first
    for junk in ("this section", "best action", "each step", "the agent", "we compute", "is an"):
        assert junk not in terms, junk


def test_stop_words_never_end_a_term() -> None:
    texts = [
        "We use the model of the data with the learning rate. We use the model of the data.",
        "The following section shows results. The following section shows results for the learning rate.",
        "It is clear that it is clear that we can see.",
    ]
    # "model of the data": an inner word other than "of"; "following section", "shows results", "it is", "we can":
    # a stop word (function word, common verb, generic noun) at an end
    assert [c.term for c in protect.extract_terms(texts)] == ["learning rate"]


def test_inner_words_other_than_of_break_a_phrase() -> None:
    texts = [
        "the curse of dimensionality and the curse of dimensionality",
        "exploration and exploitation; exploration and exploitation",
    ]
    terms = {c.term for c in protect.extract_terms(texts)}
    assert "curse of dimensionality" in terms
    assert not any("and" in t.split() for t in terms)


def test_a_phrase_only_seen_inside_a_longer_one_gives_way() -> None:
    texts = ["Markov decision process", "a Markov decision process again", "Markov decision processes"]
    terms = [c.term for c in protect.extract_terms(texts)]
    assert terms == ["Markov decision process"]  # not "Markov decision", not "decision process"


def test_plurals_count_with_their_singular_and_names_keep_their_capitals() -> None:
    texts = ["The value functions differ.", "one value function", "the Bellman equation", "a Bellman equation"]
    terms = _terms("\n\n".join(texts))
    assert terms["value function"].count == 2
    assert "Bellman equation" in terms


def test_hyphenated_technical_words_but_not_everyday_ones() -> None:
    texts = [
        "Q-learning and self-attention. The so-called trade-off.",
        "Q-learning with self-attention, a so-called trade-off, state-of-the-art.",
    ]
    terms = {c.term: c.kind for c in protect.extract_terms(texts)}
    assert terms.get("Q-learning") == "technical" and terms.get("self-attention") == "technical"
    for everyday in ("so-called", "trade-off", "state-of-the-art"):
        assert everyday not in terms


def test_acronyms_with_their_expansions() -> None:
    found = dict(
        protect.acronym_expansions(
            "We use Proximal Policy Optimization (PPO) and a Long Short-Term Memory (LSTM); reinforcement learning from "
            "human feedback (RLHF) and Markov decision processes (MDPs) too."
        )
    )
    assert found == {
        "Proximal Policy Optimization": "PPO",
        "Long Short-Term Memory": "LSTM",
        "reinforcement learning from human feedback": "RLHF",
        "Markov decision processes": "MDP",
    }
    terms = _terms(RL_DOC)
    assert terms["Proximal Policy Optimization"].acronym == "PPO"
    assert terms["Proximal Policy Optimization"].kind == "expansion"  # kept though it occurs once
    assert terms["Markov decision process"].acronym == "MDP"


def test_parentheses_that_are_no_acronym_of_the_words_before() -> None:
    assert protect.acronym_expansions("the results (see Figure 2) and the model (GPU) and (x)") == []
    assert protect.acronym_expansions("a large model (LLM)") == []  # the initials spell LM, not LLM


def test_placeholders_and_numbers_are_boundaries() -> None:
    seg = protect.protect("the value $x$ function and the value $y$ function, 3 layers and 3 layers").segments[0]
    terms = [c.term for c in protect.extract_terms([seg.text])]
    assert "value function" not in terms and not any(ch.isdigit() for t in terms for ch in t)
    assert protect.extract_terms([]) == []


def test_min_count_and_limit() -> None:
    texts = _texts(RL_DOC)
    assert len(protect.extract_terms(texts, limit=3)) == 3
    assert all(c.count >= 4 or c.kind == "expansion" for c in protect.extract_terms(texts, min_count=4))


def test_outermost_drops_a_term_inside_a_longer_one() -> None:
    policy = protect.GlossaryEntry("policy", "策略")
    gradient = protect.GlossaryEntry("policy gradient", "策略梯度")
    assert protect.outermost([policy, gradient], "the policy gradient") == [gradient]
    assert protect.outermost([policy, gradient], "the policy gradient of a policy") == [policy, gradient]
    assert protect.outermost([policy], "the policies") == [policy]


def test_term_uses_counts_occurrences_and_consistent_ones() -> None:
    glossary = protect.Glossary.from_pairs([("policy", "策略"), ("reward", "奖励")])
    pairs = [
        ("The policy and the policies.", "策略和策略。"),  # 2 occurrences, both rendered
        ("A policy.", "一个政策。"),  # rendered otherwise
        ("A reward.", ""),  # kept in English
        ("Nothing here.", "这里没有。"),
    ]
    uses = {u.entry.source: u for u in protect.term_uses(pairs, glossary)}
    assert (uses["policy"].occurrences, uses["policy"].consistent) == (3, 2)
    assert uses["policy"].share == 2 / 3
    assert (uses["reward"].occurrences, uses["reward"].consistent, uses["reward"].share) == (1, 0, 0.0)
    unused = protect.term_uses([("x", "y")], glossary)
    assert all(u.occurrences == 0 and u.share is None for u in unused)


POLICY = protect.GlossaryEntry("policy", "策略")
GRADIENT = protect.GlossaryEntry("policy gradient", "策略梯度")
AGENT = protect.GlossaryEntry("agent", "智能体")
VALUE = protect.GlossaryEntry("value function", "价值函数")
ENTRIES = [(POLICY, ["政策"]), (GRADIENT, ["政策梯度"]), (AGENT, ["代理"]), (VALUE, ["值函数"])]


def test_enforce_terms_replaces_copies_and_aliases_longest_first() -> None:
    source = "The agent uses a policy gradient and a policy; agents learn the value function ⟦1⟧."
    out, applied = protect.enforce_terms(source, "一个agent使用政策梯度和一个政策；代理们学习值函数⟦1⟧。", ENTRIES)
    assert out == "一个智能体使用策略梯度和一个策略；智能体们学习价值函数⟦1⟧。"
    assert set(applied) == {POLICY, GRADIENT, AGENT, VALUE}


def test_enforce_terms_leaves_what_is_right_or_not_its_business() -> None:
    source = "The agent uses a policy gradient and the value function."
    # an English term kept beside its rendering, a term inside a longer one, an alias inside the target
    right = "智能体（agent）使用策略梯度 (policy gradient) 和价值函数。"
    assert protect.enforce_terms(source, right, ENTRIES) == (right, [])
    # a source without the term: its aliases are other words there
    assert protect.enforce_terms("A rule of the state.", "政府的政策。", ENTRIES) == ("政府的政策。", [])
    # an alias that is no Chinese word is never used (it could be part of a placeholder or English)
    assert protect.enforce_terms("the policy", "p ⟦1⟧", [(POLICY, ["⟦1⟧", "p", ""])]) == ("p ⟦1⟧", [])
