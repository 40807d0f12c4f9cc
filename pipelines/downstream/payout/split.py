"""Exact revenue splitting in integer minor units.

Guarantees for ``allocate(total, weights)``: every amount is a non-negative
integer; amounts sum exactly to ``total``; each payee gets its exact share
rounded down, and the leftover units go one each to the largest fractional
parts, ties broken by payee id (so the result does not depend on input
order); a payee with a larger weight never gets less than one with a
smaller weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from pipelines.core.config import PayoutShares
from pipelines.core.errors import BadInput


class SplitError(BadInput):
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


def inference_shares(fees: Sequence[int | None]) -> tuple[list[Fraction], dict[str, Any]]:
    """inference_shares weighs each inference (attribution entry) of a statement in the contributors' pool.

    ``fees`` are the entries' ``fee_minor`` (None: no fee given). An entry
    with a fee weighs its fee; one without weighs the mean fee of the
    entries with one, so it counts as a typical inference of the period and
    can shift the split no more than one more paid inference would; when no
    entry has a fee, each weighs 1 (equal shares). Returns the weights, in
    order, and the statement's summary of the rule: ``{"shares": "fee" |
    "equal"}``, plus ``without_fee`` (how many) and ``mean_fee_minor`` (an
    exact fraction, as text) when fee-less entries were weighed at the mean.
    """
    paid = [f for f in fees if f is not None]
    if not paid:
        return [Fraction(1)] * len(fees), {"shares": "equal"}
    mean = Fraction(sum(paid), len(paid))
    weights = [mean if f is None else Fraction(f) for f in fees]
    if len(paid) == len(fees):
        return weights, {"shares": "fee"}
    return weights, {"shares": "fee", "without_fee": len(fees) - len(paid), "mean_fee_minor": str(mean)}
