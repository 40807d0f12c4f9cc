"""The attribution rule, as pure functions over plain data.

Input: the output's words (``index.words``) and the *maximal spans* the
index found: for each word position, the longest run of output words that
occurs verbatim in some record, kept when it is at least ``Rule.seed`` words
long, occurs in at most ``Rule.max_records`` records, and ends after every
earlier span (infini-gram's ``attribute``). Each span names the records
holding it.

1. **Drop** spans with fewer than ``Rule.min_content`` words that are
   neither English stop words nor numbers ("of the and to the").
2. **Chain** each record's spans in output order when the gap between one
   span's end and the next one's start is at most ``Rule.max_gap`` words
   (a few edited words inside a quoted passage).
3. **Keep** a chain when it matches at least ``Rule.min_span`` words; the
   records with a kept chain are the attributed records.
4. **Weigh** by characters: a kept chain covers the output's characters
   from its first word's start to its last word's end. Each character
   covered by ``k`` records counts ``1/k`` for each of them; characters no
   chain covers are *unattributed*. Weights are these shares of all the
   output's characters in basis points, rounded by largest remainder
   (``payout.split.allocate``, ties by ledger index), so they sum to 10,000
   with the unattributed share.

The result depends only on the sets of records per span, never on their
order.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from pipelines.core.errors import BadInput
from pipelines.downstream.attribution.stopwords import STOP_WORDS
from pipelines.downstream.payout.split import allocate

UNATTRIBUTED = "unattributed"
BASIS = 10_000


class RuleError(BadInput):
    """A rule parameter is out of range; the message names it."""


@dataclass(frozen=True)
class Rule:
    """Parameters of the rule; ``name`` goes on every ledger entry made with it.

    ``min_span``, ``seed`` and ``max_records`` are at least 1, ``max_gap``
    and ``min_content`` at least 0 (RuleError otherwise).
    """

    min_span: int = 8
    seed: int = 5
    max_gap: int = 3
    max_records: int = 50
    min_content: int = 2

    def __post_init__(self) -> None:
        least = {"min_span": 1, "seed": 1, "max_gap": 0, "max_records": 1, "min_content": 0}
        for name, low in least.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise RuleError(f"{name} must be a whole number of at least {low}, not {value!r}")

    @property
    def name(self) -> str:
        return (
            f"datanets-attribution/1 chars min_span={self.min_span} seed={self.seed} max_gap={self.max_gap} "
            f"max_records={self.max_records} min_content={self.min_content}"
        )


@dataclass(frozen=True)
class Span:
    """A maximal span: output words ``[l, r)`` and the records (ledger index, record hash) holding them."""

    l: int  # noqa: E741
    r: int
    records: frozenset[tuple[int, str]]


@dataclass
class Attributed:
    """One attributed record: its chains' spans as output word and character ranges."""

    ledger_index: int
    record_hash: str
    words: int = 0
    chars: Fraction = Fraction(0)
    bp: int = 0
    spans: list[dict[str, int]] = field(default_factory=list)


def content_words(ws: list[str]) -> int:
    """content_words counts words that are neither English stop words nor numbers."""
    return sum(1 for w in ws if w not in STOP_WORDS and not w.isdigit())


def chains(spans: list[tuple[int, int]], max_gap: int) -> list[list[tuple[int, int]]]:
    """chains groups word ranges (sorted by start) whose gaps are at most ``max_gap`` words."""
    out: list[list[tuple[int, int]]] = []
    for s in sorted(spans):
        if out and s[0] - max(r for _, r in out[-1]) <= max_gap:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def matched(chain: list[tuple[int, int]]) -> int:
    """matched is the number of distinct output words a chain's spans cover."""
    return len({i for start, end in chain for i in range(start, end)})


def attribute_spans(
    text: str, out_words: list[tuple[int, int, str]], spans: list[Span], rule: Rule
) -> tuple[list[Attributed], int]:
    """attribute_spans applies the rule; returns the attributed records (by ledger index) and the unattributed bp."""
    per_record: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for s in spans:
        if len(s.records) > rule.max_records:
            continue
        if content_words([w for _, _, w in out_words[s.l : s.r]]) < rule.min_content:
            continue
        for rec in s.records:
            per_record[rec].append((s.l, s.r))
    found: dict[tuple[int, str], Attributed] = {}
    ranges: list[tuple[int, int, tuple[int, str]]] = []
    for rec, rec_spans in per_record.items():
        for chain in chains(rec_spans, rule.max_gap):
            n = matched(chain)
            if n < rule.min_span:
                continue
            a = found.setdefault(rec, Attributed(rec[0], rec[1]))
            a.words += n
            for start, end in chain:
                a.spans.append({"words": end - start, "start": out_words[start][0], "end": out_words[end - 1][1]})
            first, last = min(s for s, _ in chain), max(e for _, e in chain)
            ranges.append((out_words[first][0], out_words[last - 1][1], rec))
    covered = _share_characters(ranges)
    for rec, chars in covered.items():
        found[rec].chars = chars
    total = len(text)
    weights: dict[str, Fraction] = {f"{rec[0]:015d}": found[rec].chars for rec in found}
    weights[UNATTRIBUTED] = Fraction(total) - sum(weights.values(), Fraction(0)) if total else Fraction(1)
    bp = allocate(BASIS, weights)
    out = sorted(found.values(), key=lambda a: a.ledger_index)
    for a in out:
        a.bp = bp[f"{a.ledger_index:015d}"]
        a.spans.sort(key=lambda s: (s["start"], s["end"]))
    return out, bp[UNATTRIBUTED]


def _share_characters(ranges: list[tuple[int, int, Any]]) -> dict[Any, Fraction]:
    """Each character covered by k of the ranges counts 1/k for each owner covering it (sweep over boundaries)."""
    points = sorted({p for s, e, _ in ranges for p in (s, e)})
    out: dict[Any, Fraction] = defaultdict(Fraction)
    for a, b in itertools.pairwise(points):
        owners = {o for s, e, o in ranges if s <= a and b <= e}
        for o in owners:
            out[o] += Fraction(b - a, len(owners))
    return dict(out)
