"""Exact revenue splitting in integer minor units.

Guarantees for ``allocate(total, weights)``: every amount is a non-negative
integer; amounts sum exactly to ``total``; each payee gets its exact share
rounded down, and the leftover units go one each to the largest fractional
parts, ties broken by payee id (so the result does not depend on input
order); a payee with a larger weight never gets less than one with a
smaller weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from pipelines.config import PayoutShares


class SplitError(ValueError):
    """Revenue cannot be split (negative total, or no weight to split by)."""


def allocate(total: int, weights: Mapping[str, Fraction | int]) -> dict[str, int]:
    """allocate splits ``total`` units in proportion to ``weights`` by the largest remainder method."""
    if total < 0:
        raise SplitError(f"cannot split a negative amount ({total})")
    if any(w < 0 for w in weights.values()):
        raise SplitError("weights must be non-negative")
    whole = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if whole == 0:
        if total:
            raise SplitError("nothing to split by: every weight is zero")
        return dict.fromkeys(weights, 0)
    exact = {k: Fraction(total) * Fraction(w) / whole for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}  # floor: all values are non-negative
    leftover = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:leftover]:
        out[k] += 1
    return out


def split_parties(revenue: int, shares: PayoutShares) -> dict[str, int]:
    """split_parties divides revenue into platform, model developer and contributors' pool."""
    return allocate(
        revenue,
        {"platform": shares.platform, "model_developer": shares.model_developer, "contributors": shares.contributors},
    )
