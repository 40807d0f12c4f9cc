"""Candidate graph for dedup: edges from shared keys and LSH buckets, and its connected components.

Nodes are identified by their priority key (``node_key``): a tuple that
sorts earlier runs first (by ledger index), then the current run by
``submitted_at`` and source order, and is unique. Components are independent
units of the greedy decision in ``pipelines.stages.dedup.clusters``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

NodeKey = tuple[int, int, str, int, int, int]
Edge = tuple[NodeKey, NodeKey]
MAX_BUCKET = 64  # a bucket with more distinct members links each to the MAX_BUCKET before it, in priority order


def prior_key(ledger_index: int) -> NodeKey:
    """prior_key is the node key of a record accepted by an earlier run."""
    return (0, ledger_index, "", 0, 0, 0)


def current_key(order: list[Any]) -> NodeKey:
    """current_key is the node key of a record of this run (its order: submitted_at, source, unit, position)."""
    return (1, 0, str(order[0]), int(order[1]), int(order[2]), int(order[3]))


def is_prior(key: NodeKey) -> bool:
    return key[0] == 0


def star(members: Iterable[NodeKey]) -> list[Edge]:
    """star links every member of a group to its earliest member, if the group touches this run."""
    ordered = sorted(set(members))
    if len(ordered) < 2 or all(is_prior(k) for k in ordered):
        return []
    return [(ordered[0], k) for k in ordered[1:]]


def bucket_pairs(members: Iterable[tuple[NodeKey, str]]) -> list[tuple[NodeKey, str, NodeKey, str]]:
    """bucket_pairs turns one LSH bucket of (node key, content key) into candidate pairs.

    Members with the same content key are one exact group: only its earliest
    member is paired (the others follow it in the decision). Pairs between
    two earlier-run records are dropped (both are kept whatever happens).
    Up to MAX_BUCKET distinct members give every pair; a larger bucket links
    each member to the MAX_BUCKET before it, so the pairs stay linear.
    """
    first: dict[str, NodeKey] = {}
    for key, ck in sorted(set(members)):
        first.setdefault(ck, key)
    reps = sorted((k, ck) for ck, k in first.items())
    out = []
    for i, (kb, cb) in enumerate(reps):
        for ka, ca in reps[max(0, i - MAX_BUCKET) : i]:
            if not (is_prior(ka) and is_prior(kb)):
                out.append((ka, ca, kb, cb))
    return out


def components(edges: Iterable[Edge]) -> dict[NodeKey, NodeKey]:
    """components maps every node of ``edges`` to its component's earliest node (deterministic).

    Union-find with path halving; memory is linear in the number of nodes
    that have an edge, never in the number of records.
    """
    parent: dict[NodeKey, NodeKey] = {}

    def find(x: NodeKey) -> NodeKey:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def route(edges: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """route resolves all candidate edges into ("root", (node, root)) and ("edge", (root, (ck_a, ck_b))).

    Input items: ``("link", (a, b))`` for exact-group links and ``("lsh",
    (a, ck_a, b, ck_b))`` for LSH pairs. This is the one step that sees the
    whole candidate graph; it holds the nodes and LSH pairs, bounded by the
    number of pairs, not of records.
    """
    links: list[Edge] = []
    lsh: set[tuple[NodeKey, str, NodeKey, str]] = set()
    for kind, e in edges:
        if kind == "lsh":
            lsh.add(e)
            links.append((e[0], e[2]))
        else:
            links.append(e)
    roots = components(links)
    for node, root in roots.items():
        yield "root", (node, root)
    for a, ca, _b, cb in sorted(lsh):
        yield "edge", (roots[a], (ca, cb))
