"""The duplicate decision: which records survive, and what each duplicate duplicates.

``decide`` is a pure function over compact summaries of the whole run plus
the persisted state of earlier runs. Guarantees:

* Exact: records with the same normalised content key form a group; the
  earliest (``submitted_at``, then source order) is kept, unless an earlier
  run already accepted that content, in which case every member is a
  duplicate of the accepted record.
* Near: MinHash LSH band collisions give candidate pairs, optionally
  verified by estimated Jaccard >= threshold; connected components are
  clusters. A cluster touching earlier runs keeps the earliest accepted
  record (lowest ledger order); otherwise its earliest record is kept.
* The result depends only on the inputs, never on batch order or workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.config import DedupConfig
from pipelines.dedup.minhash import band_keys, band_params, jaccard

MAX_BUCKET_PAIRS = 64  # buckets larger than this link every member to the bucket's first member


@dataclass
class Summary:
    """What dedup needs of the current run's records (parallel lists)."""

    ids: list[str] = field(default_factory=list)
    order: list[tuple[str, int, int, int]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    sigs: list[np.ndarray] = field(default_factory=list)


@dataclass
class Prior:
    """Accepted records of earlier runs: content keys and signatures, in ledger order."""

    key_to_hash: dict[str, str] = field(default_factory=dict)
    hashes: list[str] = field(default_factory=list)
    sigs: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.uint32))


Decision = dict[str, Any]  # {"kind", "of_id", "of_hash", "similarity"}


def _find(parent: dict[int, int], x: int) -> int:
    while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _union(parent: dict[int, int], a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def _exact(s: Summary, prior: Prior, ranked: list[int]) -> dict[str, Decision]:
    out: dict[str, Decision] = {}
    first: dict[str, int] = {}
    for i in ranked:
        k = s.keys[i]
        if k in prior.key_to_hash:
            out[s.ids[i]] = {"kind": "exact", "of_id": None, "of_hash": prior.key_to_hash[k], "similarity": 1.0}
        elif k in first:
            out[s.ids[i]] = {"kind": "exact", "of_id": s.ids[first[k]], "of_hash": None, "similarity": 1.0}
        else:
            first[k] = i
    return out


def candidate_pairs(sigs: np.ndarray, cfg: DedupConfig) -> set[tuple[int, int]]:
    """candidate_pairs returns node pairs (i < j) sharing an LSH band, verified if configured."""
    near = cfg.near
    bands, rows = band_params(near.threshold, near.num_perm, near.false_positive_weight, near.false_negative_weight)
    keys = band_keys(sigs, bands, rows)
    pairs: set[tuple[int, int]] = set()
    for j in range(bands):
        col = keys[:, j]
        idx = np.argsort(col, kind="stable")
        vals = col[idx]
        cuts = np.flatnonzero(np.diff(vals)) + 1
        for group in np.split(idx, cuts):
            if len(group) < 2:
                continue
            g = sorted(int(x) for x in group)
            links = (
                [(a, b) for k, a in enumerate(g) for b in g[k + 1 :]]
                if len(g) <= MAX_BUCKET_PAIRS
                else [(g[0], b) for b in g[1:]]
            )
            pairs.update(links)
    if near.verify_pairs:
        pairs = {(a, b) for a, b in pairs if jaccard(sigs[a], sigs[b]) >= near.threshold}
    return pairs


def _near(s: Summary, prior: Prior, survivors: list[int], cfg: DedupConfig) -> dict[str, Decision]:
    n_cur = len(survivors)
    parts = [np.stack([s.sigs[i] for i in survivors])] if survivors else []
    if len(prior.hashes):
        parts.append(prior.sigs)
    if not parts:
        return {}
    sigs = np.concatenate(parts).astype(np.uint32)
    parent: dict[int, int] = {}
    for a, b in candidate_pairs(sigs, cfg):
        _union(parent, a, b)
    clusters: dict[int, list[int]] = {}
    for node in parent:
        clusters.setdefault(_find(parent, node), []).append(node)
    out: dict[str, Decision] = {}
    for members in clusters.values():
        priors = [m for m in members if m >= n_cur]
        current = [m for m in members if m < n_cur]
        winner = min(priors) if priors else min(current, key=lambda m: s.order[survivors[m]])
        for m in current:
            if m == winner:
                continue
            of_id = None if winner >= n_cur else s.ids[survivors[winner]]
            of_hash = prior.hashes[winner - n_cur] if winner >= n_cur else None
            out[s.ids[survivors[m]]] = {
                "kind": "near",
                "of_id": of_id,
                "of_hash": of_hash,
                "similarity": round(jaccard(sigs[m], sigs[winner]), 6),
            }
    return out


def decide(s: Summary, prior: Prior, cfg: DedupConfig) -> dict[str, Decision]:
    """decide maps each duplicate record id to its decision; ids not in the result are kept."""
    ranked = sorted(range(len(s.ids)), key=lambda i: s.order[i])
    out = _exact(s, prior, ranked) if cfg.exact else {}
    if cfg.near.enabled:
        survivors = [i for i in ranked if s.ids[i] not in out]
        out.update(_near(s, prior, survivors, cfg))
    return _resolve_chains(out)


def _resolve_chains(out: dict[str, Decision]) -> dict[str, Decision]:
    """Point every duplicate at a kept record: an exact copy of a near-duplicate follows it."""
    for d in out.values():
        seen = 0
        while d["of_id"] in out and seen < len(out):
            target = out[d["of_id"]]
            d["of_id"], d["of_hash"] = target["of_id"], target["of_hash"]
            seen += 1
    return out


def duplicate_row(r: dict[str, Any], d: Decision) -> dict[str, Any]:
    """duplicate_row is what is kept of a dropped duplicate (no payload: it may hold PII)."""
    return {
        "id": r["id"],
        "file": r["file"],
        "line": r["line"],
        "contributor_id": r["contributor_id"],
        "submitted_at": r["submitted_at"],
        "content_key": r["content_key"],
        "kind": d["kind"],
        "duplicate_of_id": d["of_id"],
        "duplicate_of": d["of_hash"],
        "similarity": d["similarity"],
    }
