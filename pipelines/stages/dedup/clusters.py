"""The duplicate decision inside one connected component of the candidate graph.

``decide_cluster`` is a pure function. Members are records of this run
(valid, anonymised, with ``key``, ``content_key``, ``record_hash`` and
``shingles``) and records earlier runs accepted (``prior: True``). It walks
members in priority order (earlier runs, then ``submitted_at``, then source
order) and keeps or drops each one greedily:

1. an earlier run's record is always kept (it is on the ledger);
2. a record with the same normalised text as a kept record is an ``exact``
   duplicate of it;
3. one whose stored fields hash to a kept record's ``record_hash`` is an
   ``exact_after_anonymisation`` duplicate of it;
4. one whose exact shingle Jaccard with a kept LSH neighbour is >= the
   threshold is a ``near`` duplicate of the most similar such record;
5. anything else is kept.

Guarantees: every ``duplicate_of`` is the ``record_hash`` of a kept record
(never null, never a dropped one, so no chains); the stored ``similarity``
is the exact Jaccard of the two dedup texts' shingles, and for ``near`` it
is >= the threshold. Members that failed validation never reach this step,
so a group's first *valid* member is the one kept. The result depends only
on the members and edges, never on their order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from pipelines.core.reasons import DuplicateKind
from pipelines.stages.dedup.minhash import exact_jaccard

Member = dict[str, Any]


def _sh(m: Member) -> np.ndarray:
    return np.frombuffer(m["shingles"], dtype=np.uint64)


def neighbours(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """neighbours turns LSH pairs of content keys into an undirected adjacency map."""
    out: dict[str, set[str]] = {}
    for a, b in edges:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out


def _nearest(
    m: Member, groups: set[str], kept: dict[str, list[Member]], threshold: float
) -> tuple[Member, float] | None:
    best: tuple[Member, float] | None = None
    for g in sorted(groups):
        for k in kept.get(g, []):
            j = exact_jaccard(_sh(m), _sh(k))
            if j >= threshold and (best is None or j > best[1] or (j == best[1] and k["key"] < best[0]["key"])):
                best = (k, j)
    return best


def decide_cluster(
    members: Iterable[Member], edges: Iterable[tuple[str, str]], threshold: float, exact: bool = True
) -> Iterator[tuple[str, Member, dict[str, Any] | None]]:
    """decide_cluster yields ("kept", member, None) or ("duplicate", member, decision) for this run's members.

    A decision is ``{"kind", "duplicate_of", "similarity"}``. Earlier runs'
    members are used, never yielded. With ``exact`` off, rule 2 is skipped
    (identical texts are then near duplicates at similarity 1.0, if near
    dedup is on); a threshold above 1 switches rule 4 off.
    """
    nbr = neighbours(edges)
    by_ck: dict[str, Member] = {}
    by_rh: dict[str, Member] = {}
    kept: dict[str, list[Member]] = {}
    for m in sorted(members, key=lambda m: m["key"]):
        decision = None if m.get("prior") else _decide(m, by_ck if exact else {}, by_rh, kept, nbr, threshold)
        if decision is not None:
            yield "duplicate", m, decision
            continue
        by_ck.setdefault(m["content_key"], m)
        by_rh.setdefault(m["record_hash"], m)
        kept.setdefault(m["content_key"], []).append(m)
        if not m.get("prior"):
            yield "kept", m, None


def _decide(
    m: Member,
    by_ck: dict[str, Member],
    by_rh: dict[str, Member],
    kept: dict[str, list[Member]],
    nbr: dict[str, set[str]],
    threshold: float,
) -> dict[str, Any] | None:
    if m["content_key"] in by_ck:
        return _dup(DuplicateKind.EXACT, m, by_ck[m["content_key"]])
    if m["record_hash"] in by_rh:
        return _dup(DuplicateKind.EXACT_AFTER_ANONYMISATION, m, by_rh[m["record_hash"]])
    near = _nearest(m, nbr.get(m["content_key"], set()) | {m["content_key"]}, kept, threshold)
    if near is not None:
        return {"kind": str(DuplicateKind.NEAR), "duplicate_of": near[0]["record_hash"], "similarity": near[1]}
    return None


def _dup(kind: DuplicateKind, m: Member, of: Member) -> dict[str, Any]:
    return {"kind": str(kind), "duplicate_of": of["record_hash"], "similarity": exact_jaccard(_sh(m), _sh(of))}


def duplicate_row(r: Member, d: dict[str, Any]) -> dict[str, Any]:
    """duplicate_row is what is kept of a dropped duplicate (no payload: it may hold PII)."""
    return {
        "split": r["split"],
        "order": r["order"],
        "file": r["file"],
        "line": r["line"],
        "contributor_id": r["contributor_id"],
        "submitted_at": r["submitted_at"],
        "content_key": r["content_key"],
        "kind": d["kind"],
        "duplicate_of": d["duplicate_of"],
        "similarity": float(d["similarity"]),
    }
