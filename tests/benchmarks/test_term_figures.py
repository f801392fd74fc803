"""The term-consistency figure of ``benchmarks/quality_figures.py``: counted on the returned segments, for terms seen
three times or more, a run without the step scored against the terms another run chose."""

from __future__ import annotations

from tests.benchmarks.test_quality_figures import qf  # the benchmark helper module, loaded by its file

SEGMENTS = [
    {"id": "s0", "source": "The policy and the policy.", "translation": "策略和策略。", "status": "ok", "reasons": []},
    {"id": "s1", "source": "A policy, a reward.", "translation": "一个政策，一个奖励。", "status": "ok", "reasons": []},
    {
        "id": "s2",
        "source": "The policy again.",
        "translation": "The policy again.",
        "status": "fallback",
        "reasons": ["x"],
    },
    {"id": "s3", "source": "A reward.", "translation": "奖励。", "status": "ok", "reasons": []},
]
TERMS = [
    {"term": "policy", "translation": "策略", "source": "term_base", "occurrences": 4, "consistent": 2},
    {"term": "reward", "translation": "奖励", "source": "term_base", "occurrences": 2, "consistent": 2},
    {"term": "replay memory", "translation": None, "source": "none", "occurrences": 0, "consistent": None},
]


def _doc(terminology: list[dict[str, object]]) -> qf.Output:
    return qf.Output("d2l-en__x__doc.md", "", "", SEGMENTS, terminology=terminology)


def test_consistency_of_terms_seen_three_times_or_more() -> None:
    doc = _doc(TERMS)
    terms = qf.chosen_terms([doc])[doc.name]
    assert terms == [("policy", "策略"), ("reward", "奖励")]  # a term without a translation is not scored
    # policy: 4 occurrences, 2 rendered (s1 says 政策, s2 fell back); reward: 2 occurrences, below the threshold
    assert qf.term_consistency(doc, terms) == (1, 4, 2)
    assert qf.term_consistency(doc, terms, min_occurrences=1) == (2, 6, 4)
    rows = qf.figures(qf.Run([], [doc]))["terminology: documents"]
    assert rows["term consistency, all documents (target >= 95 %)"] == "2 of 4 (50.0 %)"
    assert rows["terms by source (model, term base, user, none)"] == "0 / 2 / 0 / 1"


def test_a_run_without_the_step_is_scored_against_the_chosen_terms() -> None:
    with_step, without = _doc(TERMS), _doc([])
    assert qf.figures(qf.Run([], [without]))["terminology: documents"] == {}  # nothing to score against
    rows = qf.figures(qf.Run([], [without]), qf.chosen_terms([with_step]))["terminology: documents"]
    assert rows["term consistency, all documents (target >= 95 %)"] == "2 of 4 (50.0 %)"
    assert "terms by source (model, term base, user, none)" not in rows
