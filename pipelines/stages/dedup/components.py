"""Connected components of the candidate graph, distributed: no step holds the whole graph.

``ConnectComponents`` maps every node that has an edge to its component's
earliest node, exactly as ``graph.components`` (one-process union-find) does,
with a fixed number of GroupByKey rounds, as Spark MinHash deduplicators do
(Kiveris et al., "Connected Components in MapReduce and Beyond", 2014):

1. ``ROUNDS`` alternating large-star and small-star rounds, each one
   GroupByKey by node over the current edges; every round keeps the
   components and moves edges toward each component's minimum;
2. labels: each node's label is the least of itself and its neighbours;
   each node learns its neighbours' labels (one GroupByKey); an edge whose
   two ends have different labels is a *residual* edge between labels;
3. the residual edges (none once the rounds have turned every component into
   a star, which is the usual case) are joined by a union-find over labels
   in one step (``graph.components``): the only step that sees more than one
   node's neighbourhood, and it holds only what the rounds left unresolved;
4. nodes are regrouped by label and given their label's root.

A step holds one node's neighbourhood (rounds, labels) or one label's nodes
(regrouping), so memory per worker is bounded by the largest component, not
by the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.stages.dedup.graph import Edge, NodeKey, components

ROUNDS = 4  # large, small, large, small; the residual step completes whatever they leave


def _both_ways(edge: Edge) -> Iterator[tuple[NodeKey, NodeKey]]:
    a, b = edge
    if a != b:
        yield a, b
        yield b, a


def large_star(u: NodeKey, nbrs: Iterable[NodeKey]) -> Iterator[Edge]:
    """large_star links every neighbour larger than ``u`` to the least of ``u`` and its neighbours."""
    ns = set(nbrs)
    m = min(ns | {u})
    yield from ((v, m) for v in sorted(ns) if v > u)


def small_star(u: NodeKey, nbrs: Iterable[NodeKey]) -> Iterator[Edge]:
    """small_star links ``u`` and its smaller neighbours to the least of them."""
    low = {v for v in nbrs if v < u} | {u}
    m = min(low)
    yield from ((v, m) for v in sorted(low) if v != m)


def _round(item: tuple[NodeKey, list[NodeKey]], large: bool) -> Iterator[Edge]:
    u, nbrs = item
    yield from (large_star if large else small_star)(u, nbrs)


def _labels(item: tuple[NodeKey, list[NodeKey]]) -> Iterator[tuple[NodeKey, tuple[str, NodeKey]]]:
    u, nbrs = item
    label = min([*nbrs, u])
    yield u, ("own", label)
    for v in set(nbrs):
        yield v, ("nl", label)


def _check(item: tuple[NodeKey, list[tuple[str, NodeKey]]]) -> Iterator[tuple[str, Any]]:
    u, parts = item
    own = next(v for t, v in parts if t == "own")
    yield "label", (own, ("node", u))
    for other in {v for t, v in parts if t == "nl" and v != own}:
        yield "residual", (min(own, other), max(own, other))


def _resolve(item: tuple[int, list[Edge]]) -> Iterator[tuple[NodeKey, tuple[str, NodeKey]]]:
    for label, root in components(item[1]).items():
        if label != root:
            yield label, ("root", root)


def _assign(item: tuple[NodeKey, list[tuple[str, NodeKey]]]) -> Iterator[tuple[NodeKey, NodeKey]]:
    label, parts = item
    root = next((v for t, v in parts if t == "root"), label)
    yield from ((v, root) for t, v in parts if t == "node")


def _select(tag: str) -> Any:
    return beam.FlatMap(lambda tv, tag=tag: [tv[1]] if tv[0] == tag else [])


class ConnectComponents(beam.PTransform):
    """ConnectComponents turns edges ``(a, b)`` of node keys into ``(node, root)`` for every node with an edge.

    ``root`` is the least node key of the node's connected component
    (deterministic, whatever the order or number of edges); the result is the
    same as ``graph.components`` over the same edges.
    """

    def expand(self, edges: beam.PCollection) -> beam.PCollection:
        for r in range(ROUNDS):
            edges = (
                edges
                | f"BothWays{r}" >> beam.FlatMap(_both_ways)
                | f"ByNode{r}" >> beam.GroupByKey()
                | f"Star{r}" >> beam.FlatMap(_round, r % 2 == 0)
            )
        checked = (
            edges
            | "BothWays" >> beam.FlatMap(_both_ways)
            | "Neighbours" >> beam.GroupByKey()
            | "Labels" >> beam.FlatMap(_labels)
            | "NeighbourLabels" >> beam.GroupByKey()
            | "Check" >> beam.FlatMap(_check)
        )
        roots = (
            checked
            | "Residual" >> _select("residual")
            | "One" >> beam.Map(lambda e: (0, e))
            | "Gather" >> beam.GroupByKey()
            | "Resolve" >> beam.FlatMap(_resolve)
        )
        return (
            (checked | "Labelled" >> _select("label"), roots)
            | "LabelParts" >> beam.Flatten()
            | "ByLabel" >> beam.GroupByKey()
            | "Assign" >> beam.FlatMap(_assign)
        )
