"""Quality metrics of the benchmark: PII span precision/recall per entity, duplicate-pair precision/recall.

Both are pure functions over plain data, so their arithmetic is tested
directly. Spans are ``(start, end, entity)`` with half-open character
ranges; clusters map an item to a cluster label (items absent from the map
are singletons).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

Span = tuple[int, int, str]


def _prf(tp_gold: int, gold: int, tp_pred: int, pred: int) -> dict[str, Any]:
    precision = tp_pred / pred if pred else 1.0
    recall = tp_gold / gold if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "gold": gold,
        "predicted": pred,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def _overlaps(a: Span, spans: Iterable[Span]) -> bool:
    return any(a[2] == b[2] and a[0] < b[1] and b[0] < a[1] for b in spans)


def span_scores(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], entities: Iterable[str]
) -> dict[str, Any]:
    """span_scores returns precision, recall and F1 per entity type and over all of ``entities``.

    ``gold[i]`` and ``predicted[i]`` are the spans of text ``i``. A gold span
    is recalled when a predicted span of the same type overlaps it; a
    predicted span is correct when it overlaps a gold span of the same type.
    Predicted spans of types outside ``entities`` are ignored. With no gold
    (or no predicted) spans, recall (or precision) is 1.0.
    """
    wanted = set(entities)
    counts: dict[str, Counter[str]] = {e: Counter() for e in sorted(wanted)}
    for g_spans, p_spans in zip(gold, predicted, strict=True):
        g = [s for s in g_spans if s[2] in wanted]
        p = [s for s in p_spans if s[2] in wanted]
        for s in g:
            counts[s[2]]["gold"] += 1
            counts[s[2]]["tp_gold"] += _overlaps(s, p)
        for s in p:
            counts[s[2]]["pred"] += 1
            counts[s[2]]["tp_pred"] += _overlaps(s, g)
    out = {e: _prf(c["tp_gold"], c["gold"], c["tp_pred"], c["pred"]) for e, c in counts.items()}
    total = sum(counts.values(), Counter())
    out["ALL"] = _prf(total["tp_gold"], total["gold"], total["tp_pred"], total["pred"])
    return out


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pair_scores(gold: Mapping[Any, Hashable], predicted: Mapping[Any, Hashable]) -> dict[str, Any]:
    """pair_scores compares two clusterings by their duplicate pairs (pairs of items in one cluster).

    Returns gold and predicted pair counts, true-positive pairs, precision,
    recall and F1, computed from cluster sizes without listing pairs.
    """
    gold_sizes = Counter(gold.values())
    pred_sizes = Counter(predicted.values())
    both = Counter((gold[k], predicted[k]) for k in gold.keys() & predicted.keys())
    tp = sum(_pairs(n) for n in both.values())
    g = sum(_pairs(n) for n in gold_sizes.values())
    p = sum(_pairs(n) for n in pred_sizes.values())
    out = _prf(tp, g, tp, p)
    out.update(gold_pairs=out.pop("gold"), predicted_pairs=out.pop("predicted"), true_pairs=tp)
    return out
