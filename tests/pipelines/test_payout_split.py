"""Property tests of the exact revenue split."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.config import PayoutShares
from pipelines.downstream.payout.split import SplitError, allocate, split_parties

units = st.dictionaries(st.text(min_size=1, max_size=6), st.integers(0, 10_000), min_size=1, max_size=30)
shares = (
    st.tuples(st.integers(0, 10_000), st.integers(0, 10_000))
    .filter(lambda t: t[0] + t[1] <= 10_000)
    .map(lambda t: PayoutShares(platform=t[0], model_developer=t[1], contributors=10_000 - t[0] - t[1]))
)


@given(st.integers(0, 10**12), units)
def test_amounts_are_non_negative_integers_summing_to_the_total(total: int, weights: dict[str, int]) -> None:
    if not any(weights.values()):
        weights = {**weights, "someone": 1}
    out = allocate(total, weights)
    assert set(out) == set(weights)
    assert all(isinstance(v, int) and v >= 0 for v in out.values())
    assert sum(out.values()) == total


@given(st.integers(0, 10**9), units, st.randoms(use_true_random=False))
def test_split_does_not_depend_on_input_order(total: int, weights: dict[str, int], rng: random.Random) -> None:
    if not any(weights.values()):
        weights = {**weights, "someone": 1}
    items = list(weights.items())
    rng.shuffle(items)
    assert allocate(total, dict(items)) == allocate(total, weights)


@given(st.integers(0, 10**9), units)
def test_more_used_records_never_get_less(total: int, weights: dict[str, int]) -> None:
    if not any(weights.values()):
        weights = {**weights, "someone": 1}
    out = allocate(total, weights)
    for a in weights:
        for b in weights:
            if weights[a] > weights[b]:
                assert out[a] >= out[b]


@given(st.integers(0, 10**12), shares)
def test_party_split_is_exact(revenue: int, s: PayoutShares) -> None:
    parts = split_parties(revenue, s)
    assert sum(parts.values()) == revenue and min(parts.values()) >= 0
    assert abs(parts["platform"] - revenue * s.platform / 10_000) < 1


def test_largest_remainder_and_tie_break() -> None:
    assert allocate(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # tie: lowest id first
    assert allocate(100, {"x": Fraction(1, 3), "y": Fraction(2, 3)}) == {"x": 33, "y": 67}
    assert allocate(0, {"a": 0}) == {"a": 0}
    with pytest.raises(SplitError):
        allocate(5, {"a": 0, "b": 0})
    with pytest.raises(SplitError):
        allocate(-1, {"a": 1})


def test_shares_must_sum_to_ten_thousand() -> None:
    with pytest.raises(ValueError, match="sum to 10000"):
        PayoutShares(platform=1000, model_developer=1000, contributors=7000)
