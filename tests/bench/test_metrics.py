"""The quality metrics' arithmetic, on cases small enough to count by hand."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.metrics import pair_scores, span_scores


def test_span_scores_by_hand() -> None:
    gold = [[(0, 4, "PERSON"), (10, 20, "EMAIL_ADDRESS")], [(5, 9, "PERSON")]]
    pred = [[(1, 3, "PERSON"), (10, 20, "URL"), (30, 35, "PERSON")], []]
    s = span_scores(gold, pred, ["PERSON", "EMAIL_ADDRESS"])
    assert s["PERSON"] == {"gold": 2, "predicted": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert s["EMAIL_ADDRESS"] == {"gold": 1, "predicted": 0, "precision": 1.0, "recall": 0.0, "f1": 0.0}
    assert s["ALL"]["gold"] == 3 and s["ALL"]["predicted"] == 2  # the URL is outside the entities asked for
    assert s["ALL"]["recall"] == round(1 / 3, 4) and s["ALL"]["precision"] == 0.5


def test_touching_spans_do_not_overlap() -> None:
    s = span_scores([[(0, 4, "PERSON")]], [[(4, 8, "PERSON")]], ["PERSON"])
    assert s["PERSON"]["recall"] == 0.0 and s["PERSON"]["precision"] == 0.0


def test_pair_scores_by_hand() -> None:
    gold = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}  # pairs ab ac bc de
    pred = {"a": "x", "b": "x", "d": "y", "e": "y", "f": "y"}  # pairs ab de df ef
    s = pair_scores(gold, pred)
    assert (s["gold_pairs"], s["predicted_pairs"], s["true_pairs"]) == (4, 4, 2)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5


def _pairs(clusters: dict[int, int]) -> set[frozenset[int]]:
    return {frozenset((a, b)) for a, b in combinations(sorted(clusters), 2) if clusters[a] == clusters[b]}


@given(
    st.dictionaries(st.integers(0, 30), st.integers(0, 5)),
    st.dictionaries(st.integers(0, 30), st.integers(0, 5)),
)
def test_pair_scores_match_explicit_pairs(gold: dict[int, int], pred: dict[int, int]) -> None:
    g, p = _pairs(gold), _pairs(pred)
    s = pair_scores(gold, pred)
    assert (s["gold_pairs"], s["predicted_pairs"], s["true_pairs"]) == (len(g), len(p), len(g & p))
