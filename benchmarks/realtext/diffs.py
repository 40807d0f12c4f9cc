"""Before/after excerpts of real text that a tool changed, for a human to judge what redaction costs.

``diff_examples`` draws, with a seed, units that stock Presidio or ours
changed and shows each as it was, as stock's anonymizer would leave it and
as ours would, every span replaced by ``<ENTITY>`` (Presidio's ``replace``
operator), cut to about ``WIDTH`` characters around the first change. Pure
and deterministic: the same units, spans and seed give the same excerpts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.metrics import Span
from benchmarks.realtext.corpus import Unit

WIDTH = 200


def replaced(text: str, spans: Sequence[Span]) -> str:
    """replaced is ``text`` with each span replaced by ``<ENTITY>``; a span overlapping an earlier one is skipped."""
    out: list[str] = []
    pos = 0
    for start, end, entity in sorted(spans):
        if start < pos:
            continue
        out += [text[pos:start], f"<{entity}>"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def window(text: str, spans: Sequence[Span], width: int = WIDTH) -> tuple[int, int]:
    """window is ``[lo, hi)`` of about ``width`` characters, starting ``width // 3`` before the first span.

    It is widened so that no span is cut at either end. Precondition:
    ``spans`` is not empty.
    """
    first = min(s[0] for s in spans)
    lo = max(0, first - width // 3)
    hi = min(len(text), lo + width)
    for start, end, _ in spans:
        lo = start if start < lo < end else lo
        hi = end if start < hi < end else hi
    return lo, hi


def excerpt(text: str, spans: Sequence[Span], lo: int, hi: int) -> str:
    """excerpt is ``text[lo:hi]`` with the spans inside it replaced, and an ellipsis where text was cut."""
    inside = [(s - lo, e - lo, k) for s, e, k in spans if lo <= s and e <= hi]
    return ("…" if lo else "") + replaced(text[lo:hi], inside) + ("…" if hi < len(text) else "")


def diff_example(kind: str, unit: Unit, stock: list[Span], ours: list[Span], width: int = WIDTH) -> dict[str, Any]:
    """diff_example shows one changed unit: its kind and source, then before, stock's and our excerpt."""
    lo, hi = window(unit.text, stock + ours, width)
    return {
        "kind": kind,
        "source": unit.source,
        "before": excerpt(unit.text, [], lo, hi),
        "stock": excerpt(unit.text, stock, lo, hi),
        "ours": excerpt(unit.text, ours, lo, hi),
        "stock_found": [(unit.text[s:e], k) for s, e, k in stock],
        "ours_found": [(unit.text[s:e], k) for s, e, k in ours],
    }


def diff_examples(
    units: Mapping[str, list[Unit]],
    stock: Mapping[str, list[list[Span]]],
    ours: Mapping[str, list[list[Span]]],
    n: int,
    seed: int,
) -> list[dict[str, Any]]:
    """diff_examples picks ``n`` units (all if fewer) that ``stock`` or ``ours`` changed, with ``seed``; by kind, order.

    ``units[kind][i]`` has spans ``stock[kind][i]`` and ``ours[kind][i]``.
    """
    changed = [(k, i) for k, us in units.items() for i in range(len(us)) if stock[k][i] or ours[k][i]]
    picked = sorted(random.Random(seed).sample(changed, min(n, len(changed))))
    return [diff_example(k, units[k][i], stock[k][i], ours[k][i]) for k, i in picked]
