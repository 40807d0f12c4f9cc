"""``write.offsets``: each split's first ledger index, from its accepted count in parts, in any order."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from pipelines.stages.write import _accepted, offsets


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(0, 3)), max_size=12), st.integers(0, 99))
def test_offsets_are_the_running_sum_of_each_splits_valid_count_less_its_duplicates(
    splits: list[tuple[int, int, int]], base: int
) -> None:
    counts: dict[int, int] = {}
    parts: list[tuple[int, int]] = []
    for split, valid, dups in splits:
        counts[split] = counts.get(split, 0) + valid - dups
        tagged = [(split, ("valid", valid)), (split, ("dups", [{}] * dups)), (split, ("rejs", [{}]))]
        parts += [kv[1] for t in tagged for kv in _accepted(t)]
    random.Random(base).shuffle(parts)
    want, at = [], base
    for split in sorted(counts):
        want.append((split, ("offset", at)))
        at += counts[split]
    assert list(offsets(parts, base)) == want
