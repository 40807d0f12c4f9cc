"""Scores of the real-text PII benchmark, pure functions over units and ``(start, end, entity)`` spans.

On PII-free units every span is a false redaction (``false_rates``,
``false_hits``); on labelled units spans are scored against gold
(``metrics.span_scores``, ``not_personal_share``, ``unmatched``). Spans are
first reduced to what Presidio's anonymizer would replace (``as_redacted``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.metrics import Span
from benchmarks.realtext.corpus import Unit, word_count

CONTEXT = 30


def as_redacted(spans: list[Span], scores: list[float] | None = None) -> list[Span]:
    """as_redacted is what Presidio's anonymizer would replace: its default conflict rule applied to ``spans``.

    ``scores[i]`` is the score of ``spans[i]`` (all equal if None).
    Overlapping spans of one entity type merge into their union, with the
    highest score; a span inside another (of any type) is dropped; of spans
    with equal offsets the highest score is kept, the later one on a tie
    (``AnonymizerEngine``'s ``_remove_contained_results``). Sorted by
    offsets. (A URL found inside an e-mail address, for instance, removes
    nothing beyond the address.)
    """
    merged = _merge_same_type(spans, scores or [0.0] * len(spans))
    kept = [
        s
        for i, (s, rank) in enumerate(merged)
        if not any(_beats(o, o_rank, s, rank) for j, (o, o_rank) in enumerate(merged) if j != i)
    ]
    return sorted(kept)


Ranked = tuple[Span, tuple[float, int]]  # a span and (score, position in the analyser's output)


def _merge_same_type(spans: list[Span], scores: list[float]) -> list[Ranked]:
    merged: list[Ranked] = []
    order = sorted(range(len(spans)), key=lambda i: (spans[i][2], spans[i][0], spans[i][1]))
    for i in order:
        s, rank = spans[i], (scores[i], i)
        last = merged[-1] if merged else None
        if last is not None and last[0][2] == s[2] and s[0] < last[0][1]:
            (start, end, _), (score, pos) = last
            merged[-1] = ((start, max(end, s[1]), s[2]), (max(score, rank[0]), max(pos, i)))
        else:
            merged.append((s, rank))
    return merged


def _beats(other: Span, other_rank: tuple[float, int], span: Span, rank: tuple[float, int]) -> bool:
    if other[:2] == span[:2]:
        return other_rank > rank
    return other[0] <= span[0] and span[1] <= other[1]


def _per_10k(n: int, words: int) -> float:
    return round(n * 10_000 / words, 1) if words else 0.0


def false_rates(units: list[Unit], spans: list[list[Span]]) -> dict[str, Any]:
    """false_rates counts the spans found in PII-free ``units``: per 10,000 words, per entity, units changed."""
    words = sum(word_count(u.text) for u in units)
    by_entity = Counter(s[2] for found in spans for s in found)
    changed = sum(1 for found in spans if found)
    total = sum(by_entity.values())
    return {
        "units": len(units),
        "words": words,
        "units_changed": changed,
        "units_changed_pct": round(100 * changed / len(units), 1) if units else 0.0,
        "false_redactions": total,
        "per_10k_words": _per_10k(total, words),
        "by_entity": {e: {"count": n, "per_10k_words": _per_10k(n, words)} for e, n in sorted(by_entity.items())},
    }


def hit(text: str, span: Span, source: str, context: int = CONTEXT) -> dict[str, Any]:
    """hit describes one span for an auditor: entity, its text, ``context`` characters either side, source."""
    start, end, entity = span
    return {
        "entity": entity,
        "text": text[start:end],
        "before": text[max(0, start - context) : start],
        "after": text[end : end + context],
        "source": source,
    }


def false_hits(units: list[Unit], spans: list[list[Span]]) -> list[dict[str, Any]]:
    """false_hits lists every span found in PII-free ``units``, in unit and offset order."""
    return [hit(u.text, s, u.source) for u, found in zip(units, spans, strict=True) for s in sorted(found)]


def _chars(spans: list[Span]) -> set[int]:
    return {i for start, end, _ in spans for i in range(start, end)}


def not_personal_share(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Any]:
    """not_personal_share: characters of predicted spans outside every gold span, over characters of predicted spans.

    Overlapping predicted spans count their characters once; a gold span of
    any type covers its characters.
    """
    marked = outside = 0
    for g, p in zip(gold, predicted, strict=True):
        chars = _chars(p)
        marked += len(chars)
        outside += len(chars - _chars(g))
    return {
        "predicted_chars": marked,
        "outside_gold_chars": outside,
        "share": round(outside / marked, 4) if marked else 0.0,
    }


def unmatched(
    texts: list[str], gold: list[list[Span]], predicted: list[list[Span]], sources: list[str]
) -> list[dict[str, Any]]:
    """unmatched lists the predicted spans that overlap no gold span of their type (false positives), for audit."""
    out = []
    for text, g, p, source in zip(texts, gold, predicted, sources, strict=True):
        for s in sorted(p):
            if not any(s[2] == t[2] and s[0] < t[1] and t[0] < s[1] for t in g):
                out.append(hit(text, s, source))
    return out


def scored_entities(*predicted: list[list[Span]]) -> list[str]:
    """scored_entities are PERSON, EMAIL_ADDRESS and every entity type in any of the ``predicted`` span lists."""
    return sorted({"PERSON", "EMAIL_ADDRESS"} | {s[2] for p in predicted for found in p for s in found})
