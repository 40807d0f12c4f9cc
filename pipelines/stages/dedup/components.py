"""Connected components of the candidate graph, distributed: no step holds the whole graph.

``ConnectComponents`` maps every node that has an edge to its component's
earliest node, exactly as ``graph.components`` (one-process union-find) does,
with a fixed number of GroupByKey rounds, as Spark MinHash deduplicators do
(Kiveris et al., "Connected Components in MapReduce and Beyond", 2014):

1. ``ROUNDS`` alternating large-star and small-star rounds; every round keeps
   the components and moves edges toward each component's minimum;
2. labels: each node's label is the least of itself and its neighbours;
   each node learns its neighbours' labels; an edge whose two ends have
   different labels is a *residual* edge between labels;
3. the residual edges (none once the rounds have turned every component into
   a star, which is the usual case) are joined by a union-find over labels
   in one step (``graph.components``): the only step that sees more than one
   node's neighbourhood, and it holds only what the rounds left unresolved;
4. nodes are regrouped by label and given their label's root.

What crosses each shuffle is one list per pair of node buckets, not one
element per edge: nodes are spread over ``buckets`` buckets by a hash of
their key, each step works on one bucket (every node of it with all its
neighbours) and sends each other bucket one list of what it needs. A runner
pays per element (a windowed value, a pickle, a task-graph entry), so the
seven shuffles cost at most ``buckets ** 2`` elements each, whatever the
number of edges. A step holds one bucket: about ``2 E / buckets`` directed
edges for ``E`` edges, never the graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.stages.dedup.graph import Edge, NodeKey, components

ROUNDS = 4  # large, small, large, small; the residual step completes whatever they leave
BUCKETS = 64  # node buckets; a shuffle carries at most BUCKETS ** 2 lists

Routed = Iterator[tuple[int, list[Any]]]


_MASK = 2**64 - 1


def bucket_of(node: NodeKey, buckets: int) -> int:
    """bucket_of spreads node keys over ``buckets`` (the same in every process; only for balance).

    A splitmix64-style mix of the key's integers (run, ledger index, source,
    unit, position), which tell nodes apart; Python's ``hash`` of the string
    part differs between processes.
    """
    h = (node[0] << 62) ^ node[1] ^ (node[3] << 48) ^ (node[4] << 32) ^ node[5]
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
    return (h ^ (h >> 31)) % buckets


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


class _Router:
    """Collects what one step sends to each bucket; ``lists`` gives one list per bucket, in bucket order."""

    def __init__(self, buckets: int) -> None:
        self.buckets = buckets
        self.out: dict[int, list[Any]] = defaultdict(list)
        self.memo: dict[NodeKey, int] = {}

    def bucket(self, node: NodeKey) -> int:
        b = self.memo.get(node)
        if b is None:
            b = self.memo[node] = bucket_of(node, self.buckets)
        return b

    def edge(self, a: NodeKey, b: NodeKey) -> None:
        """Both directions of an edge, each to its first node's bucket."""
        if a != b:
            self.out[self.bucket(a)].append((a, b))
            self.out[self.bucket(b)].append((b, a))

    def send(self, node: NodeKey, value: Any) -> None:
        self.out[self.bucket(node)].append((node, value))

    def lists(self) -> Routed:
        yield from sorted(self.out.items())


def _adjacency(lists: Iterable[list[Edge]]) -> dict[NodeKey, set[NodeKey]]:
    adj: dict[NodeKey, set[NodeKey]] = defaultdict(set)
    for pairs in lists:
        for u, v in pairs:
            adj[u].add(v)
    return adj


def route_edges(edges: list[Edge], buckets: int) -> Routed:
    """route_edges sends each edge, both ways, to its nodes' buckets: one list per bucket."""
    router = _Router(buckets)
    for a, b in edges:
        router.edge(a, b)
    return router.lists()


def star_round(item: tuple[int, Iterable[list[Edge]]], large: bool, buckets: int) -> Routed:
    """One star round over one bucket's nodes, every neighbour included; the new edges routed both ways."""
    router = _Router(buckets)
    for u, nbrs in sorted(_adjacency(item[1]).items()):
        for a, b in (large_star if large else small_star)(u, nbrs):
            router.edge(a, b)
    return router.lists()


def labels(item: tuple[int, Iterable[list[Edge]]], buckets: int) -> Routed:
    """Each node's label (least of itself and its neighbours), to itself and to each neighbour."""
    router = _Router(buckets)
    for u, nbrs in sorted(_adjacency(item[1]).items()):
        label = min(nbrs | {u})
        router.send(u, ("own", label))
        for v in sorted(nbrs):
            router.send(v, ("nl", label))
    return router.lists()


def check(item: tuple[int, Iterable[list[tuple[NodeKey, tuple[str, NodeKey]]]]], buckets: int) -> Routed:
    """Each node to its label's bucket; each residual edge between two labels to bucket -1 (one step)."""
    own: dict[NodeKey, NodeKey] = {}
    seen: dict[NodeKey, set[NodeKey]] = defaultdict(set)
    for parts in item[1]:
        for u, (tag, label) in parts:
            if tag == "own":
                own[u] = label
            else:
                seen[u].add(label)
    router = _Router(buckets)
    residual: set[Edge] = set()
    for u in sorted(own):
        router.send(own[u], ("node", u))
        residual.update((min(own[u], o), max(own[u], o)) for o in seen[u] if o != own[u])
    yield from router.lists()
    if residual:
        yield -1, sorted(residual)


def resolve(item: tuple[int, Iterable[list[Edge]]], buckets: int) -> Routed:
    """The union-find over the residual edges: each label that is not its own root, to its label's bucket."""
    router = _Router(buckets)
    for label, root in sorted(components(e for edges in item[1] for e in edges).items()):
        if label != root:
            router.send(label, ("root", root))
    return router.lists()


Labelled = tuple[int, Iterable[list[tuple[NodeKey, tuple[str, NodeKey]]]]]


def _assigned(item: Labelled) -> Iterator[tuple[NodeKey, NodeKey]]:
    roots: dict[NodeKey, NodeKey] = {}
    nodes: dict[NodeKey, list[NodeKey]] = defaultdict(list)
    for parts in item[1]:
        for label, (tag, v) in parts:
            if tag == "root":
                roots[label] = v
            else:
                nodes[label].append(v)
    for label in sorted(nodes):
        root = roots.get(label, label)
        yield from ((v, root) for v in sorted(nodes[label]))


def assign(item: Labelled, group: Callable[[NodeKey], Any] | None = None) -> Iterator[Any]:
    """``(node, root)`` for every node of one bucket of labels: its label's root, or the label itself.

    With ``group``, the same pairs as one list per ``group(node)``:
    ``(group, [(node, root), ...])``, for a consumer that joins them by
    that key (one element per bucket, not per node, crosses its shuffle).
    """
    if group is None:
        yield from _assigned(item)
        return
    out: dict[Any, list[tuple[NodeKey, NodeKey]]] = defaultdict(list)
    for v, root in _assigned(item):
        out[group(v)].append((v, root))
    yield from sorted(out.items())


class ConnectComponents(beam.PTransform):
    """ConnectComponents turns lists of edges ``(a, b)`` of node keys into ``(node, root)`` for every node with an edge.

    Input: a PCollection of lists of edges (any grouping of the edges into
    lists; a producer that yields many edges at once gives them as one list).
    ``root`` is the least node key of the node's connected component
    (deterministic, whatever the order, grouping or number of edges); the
    result is the same as ``graph.components`` over the same edges. With
    ``group`` (a function of a node key), the pairs come as lists:
    ``(group(node), [(node, root), ...])`` (``assign``).
    """

    def __init__(self, buckets: int = BUCKETS, group: Callable[[NodeKey], Any] | None = None) -> None:
        super().__init__()
        self.buckets, self.group = buckets, group

    def expand(self, edge_lists: beam.PCollection) -> beam.PCollection:
        n = self.buckets
        routed = edge_lists | "Route" >> beam.FlatMap(route_edges, n)
        for r in range(ROUNDS):
            routed = routed | f"ByNode{r}" >> beam.GroupByKey() | f"Star{r}" >> beam.FlatMap(star_round, r % 2 == 0, n)
        checked = (
            routed
            | "Neighbours" >> beam.GroupByKey()
            | "Labels" >> beam.FlatMap(labels, n)
            | "NeighbourLabels" >> beam.GroupByKey()
            | "Check" >> beam.FlatMap(check, n)
        )
        roots = (
            checked
            | "Residual" >> beam.Filter(lambda kv: kv[0] == -1)
            | "Gather" >> beam.GroupByKey()
            | "Resolve" >> beam.FlatMap(resolve, n)
        )
        return (
            (checked | "Labelled" >> beam.Filter(lambda kv: kv[0] != -1), roots)
            | "LabelParts" >> beam.Flatten()
            | "ByLabel" >> beam.GroupByKey()
            | "Assign" >> beam.FlatMap(assign, self.group)
        )
