"""``packed._runs``: exact groups of packed entries, found by sorting one column and checking the others."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.stages.dedup.packed import _runs


def _by_hand(cols: list[np.ndarray]) -> list[list[int]]:
    """The definition: rows grouped by their values in every column; groups of two or more, rows in input order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, key in enumerate(zip(*(c.tolist() for c in cols), strict=True)):
        groups.setdefault(key, []).append(i)
    return sorted(g for g in groups.values() if len(g) >= 2)


# Few distinct values per column, so rows often agree in the sorted column and differ in another (the rare case
# of real digests and band keys, taken by the slow path), as well as agree everywhere.
_ROWS = st.integers(0, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=4),
        st.integers(0, 3),
    )
)


@settings(max_examples=300, deadline=None)
@given(_ROWS)
def test_runs_are_the_groups_of_equal_rows_whatever_column_is_sorted_first(case: tuple[list[list[int]], int]) -> None:
    values, primary = case
    cols = [np.array(v, dtype=np.uint64) for v in values]
    primary %= len(cols)
    got = [r.tolist() for r in _runs(cols, primary)]
    assert all(g == sorted(g) for g in got)  # input order inside a group
    assert sorted(got) == _by_hand(cols)


def test_runs_of_large_keys_split_where_only_a_later_column_differs() -> None:
    top = np.uint64(2**64 - 1)
    cols = [np.array([top, top, top, 5, 5], dtype=np.uint64), np.array([1, 2, 1, 7, 7], dtype=np.uint64)]
    assert sorted(r.tolist() for r in _runs(cols)) == [[0, 2], [3, 4]]
    assert [r.tolist() for r in _runs([np.array([9], dtype=np.uint64)])] == []
