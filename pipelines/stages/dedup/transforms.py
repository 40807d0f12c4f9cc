"""Beam wrappers for dedup: ``SketchRecords`` (before anonymisation) and ``DropDuplicates`` (after validation).

``DropDuplicates`` is distributed end to end, and no node crosses a shuffle
whole: each batch of nodes is written once to a batch file in the work
folder and only ``(file, offset, length)`` references to its slices are
grouped (``pipelines.stages.dedup.packed``):

1. every node (a valid record of this run, from its spill step, or a record
   an earlier run accepted, read from the dedup state) is keyed three ways,
   in one GroupByKey of references: by content key, by record hash and by
   each LSH band;
2. each exact group and each LSH bucket is turned into candidate edges in
   parallel (``graph.star``, ``graph.bucket_pairs``);
3. connected components over the edges, distributed
   (``components.ConnectComponents``: star rounds, no step holds the graph);
4. node references are joined with the component roots and the LSH pairs
   they start, and only nodes that have a root are read back (without
   MinHash); components are decided in parallel, ``CLUSTER_BUCKETS`` buckets
   of them by root, each on its own (``clusters.decide_cluster``); a node in
   no component is kept and yields nothing, so only duplicates leave as
   small decisions.

Roots, LSH pairs and joined nodes cross their shuffles as one list per pair
of buckets, not one element per node or pair: a runner pays per element
(on Dask, a pickled windowed value each).

Every step is a ParDo, Flatten or GroupByKey, with tags carried inside
elements, so the same graph runs on the DirectRunner and on Dask.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

import apache_beam as beam
import numpy as np

from pipelines.core.config import DedupConfig
from pipelines.core.keys import read_salt
from pipelines.core.progress import Ticker
from pipelines.core.records import ReadRecord, Record, SketchedRecord, content_key, dedup_text
from pipelines.stages.dedup.clusters import decide_cluster
from pipelines.stages.dedup.components import ConnectComponents, bucket_of
from pipelines.stages.dedup.graph import NodeKey, bucket_pairs, current_key, prior_key, star
from pipelines.stages.dedup.minhash import band_keys, near_bands, sketches
from pipelines.stages.dedup.packed import (
    Ref,
    exact_groups,
    node_bucket,
    node_entries,
    pack_key,
    read_slices,
    unpack_nodes,
    write_batch,
)
from pipelines.stages.read import select

CLUSTER_BUCKETS = 64  # components are decided in this many buckets, by root (``components.bucket_of``)


def sketch_batch(
    batch: Sequence[Mapping[str, Any]], text_fields: list[str], cfg: DedupConfig, salt: bytes
) -> list[SketchedRecord]:
    """sketch_batch adds ``key``, ``content_key``, ``minhash`` (uint32 bytes) and ``shingles`` (uint64 bytes).

    It reads only ``fields`` and ``order``: a ``ReadRecord``, or an earlier
    run's shard row re-sketched (``prior_nodes``).
    """
    texts = [dedup_text(r, text_fields, cfg.normalise) for r in batch]
    sigs, hashed = sketches(texts, cfg.near, salt)
    return [
        cast(
            SketchedRecord,
            {
                **r,
                "key": current_key(r["order"]),
                "content_key": content_key(t, salt),
                "minhash": sigs[i].tobytes(),
                "shingles": hashed[i].tobytes(),
            },
        )
        for i, (r, t) in enumerate(zip(batch, texts, strict=True))
    ]


class _Salted(beam.DoFn):
    """A DoFn that sketches with the Datanet's salt, read from its path on each worker."""

    def __init__(self, text_fields: list[str], cfg: DedupConfig, salt_path: str) -> None:
        self.text_fields, self.cfg, self.salt_path = text_fields, cfg, salt_path
        self.salt = b""

    def setup(self) -> None:
        self.salt = read_salt(self.salt_path)


class _Sketch(_Salted):
    def process(self, batch: list[ReadRecord]) -> Iterator[list[SketchedRecord]]:
        yield sketch_batch(batch, self.text_fields, self.cfg, self.salt)


class SketchRecords(beam.PTransform):
    """SketchRecords adds dedup keys, MinHash signatures and keyed shingle hashes to batches of records.

    The salt is read by each worker from ``salt_path``; it is never part of the graph.
    """

    def __init__(self, text_fields: list[str], cfg: DedupConfig, salt_path: str, progress_dir: str = "") -> None:
        super().__init__()
        self.text_fields, self.cfg, self.salt_path = text_fields, cfg, salt_path
        self.progress_dir = progress_dir

    def fn(self) -> beam.DoFn:
        """fn is this stage's DoFn (a batch in, the sketched batch out), for ``pipelines.stages.chain``."""
        return _Sketch(self.text_fields, self.cfg, self.salt_path)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Sketch" >> beam.ParDo(self.fn())


def prior_nodes(source: tuple[str, str], dn_fields: list[str], cfg: DedupConfig, salt: bytes) -> Iterator[Record]:
    """prior_nodes reads one state file, or re-sketches one published shard, into earlier-run nodes."""
    import pyarrow.parquet as pq

    from pipelines.core import fs

    kind, path = source
    if kind == "none":  # the placeholder that keeps the source PCollection non-empty
        return
    with fs.open_read(path) as f:
        pf = pq.ParquetFile(f)
        if kind == "state":
            for batch in pf.iter_batches(batch_size=4096):
                for row in batch.to_pylist():
                    yield {"key": prior_key(row["ledger_index"]), "prior": True, **row}
            return
        for batch in pf.iter_batches(batch_size=512, columns=[*dn_fields, "record_hash", "ledger_index"]):
            rows = batch.to_pylist()
            recs = [{"fields": {f: r.get(f) for f in dn_fields}, "order": ["", 0, 0, 0]} for r in rows]
            for r, s in zip(rows, sketch_batch(recs, dn_fields, cfg, salt), strict=True):
                yield {
                    "key": prior_key(r["ledger_index"]),
                    "prior": True,
                    "content_key": s["content_key"],
                    "record_hash": r["record_hash"],
                    "ledger_index": r["ledger_index"],
                    "minhash": s["minhash"],
                    "shingles": s["shingles"],
                }


class _ReadPrior(_Salted):
    def process(self, source: tuple[str, str]) -> Iterator[list[Record]]:
        batch: list[Record] = []
        for node in prior_nodes(source, self.text_fields, self.cfg, self.salt):
            batch.append(node)
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch


class _Pack(beam.DoFn):
    """Writes one batch of nodes to its batch file (``pipelines.stages.dedup.packed``); emits references.

    Yields ``("group", (coarse key, ref))`` for the content-key, record-hash
    and band groups and ``("nodes", (node bucket, ref))`` for the join with
    components. Everything is emitted while the batch is processed, never at
    the end of a bundle (Beam's Dask runner drops ``finish_bundle`` output).
    """

    def __init__(self, bands: int, rows: int, work_dir: str) -> None:
        self.bands, self.rows, self.work_dir = bands, rows, work_dir

    def process(self, nodes: list[Record]) -> Iterator[tuple[str, Any]]:
        if not nodes:
            return
        sigs = np.stack([np.frombuffer(n["minhash"], dtype=np.uint32) for n in nodes])
        for (kind, bucket), ref in write_batch(self.work_dir, nodes, band_keys(sigs, self.bands, self.rows)):
            if kind == "nodes":
                yield "nodes", (bucket, ref)
            else:
                yield "group", ((kind, bucket), ref)


def _node_bucket_of(node: NodeKey) -> int:
    """The node bucket of a node key: where the join finds its packed entry (``packed.node_bucket``)."""
    return node_bucket(pack_key(node))


def _edges(group: tuple[tuple[str, int], list[Ref]], work_dir: str) -> Iterator[tuple[str, Any]]:
    """Candidate edges of one coarse group: a star per exact group, pairs per LSH bucket.

    Yields the LSH pairs as one list per node bucket of their first node
    (``("lsh", (bucket, [(a, (content key a, content key b)), ...]))``, for
    the join with the nodes) and the group's component edges as one list
    (``("component", edges)``).
    """
    (kind, _), refs = group
    edges: list[Any] = []
    lsh: dict[int, list[Any]] = defaultdict(list)
    for members in exact_groups(kind, read_slices(work_dir, refs)):
        if kind == "band":
            for p in bucket_pairs(members):
                edges.append((p[0], p[2]))
                lsh[_node_bucket_of(p[0])].append((p[0], (p[1], p[3])))
        else:
            edges.extend(star(members))
    for bucket, pairs in sorted(lsh.items()):
        yield "lsh", (bucket, pairs)
    if edges:
        yield "component", edges


def _membership(item: tuple[int, list[tuple[str, Any]]], work_dir: str) -> Iterator[tuple[int, list[Any]]]:
    """One node bucket: each node that has a component root goes to its root's cluster bucket, as its packed
    entry (bytes cross a shuffle far cheaper than a dict), with the LSH pairs it starts; a node in no
    component is kept and yields nothing (and is never read).

    Yields one list per cluster bucket (``components.bucket_of`` the root):
    ``(bucket, [("m", root, entry) | ("e", root, (content key, content key)), ...])``.
    A runner pays per element, so one list per pair of buckets crosses the
    shuffle, not one element per node and per pair.
    """
    _, parts = item
    roots = dict(pair for t, v in parts if t == "root" for pair in v)
    if not roots:
        return
    out: dict[int, list[Any]] = defaultdict(list)
    wanted = {pack_key(k): root for k, root in roots.items()}
    refs = [v for t, v in parts if t == "nodes"]
    for blob in read_slices(work_dir, refs):
        for key, entry in node_entries(blob, wanted):
            root = wanted[key]
            out[bucket_of(root, CLUSTER_BUCKETS)].append(("m", root, entry))
    for tag, v in parts:
        if tag == "lsh":
            for a, pair in v:
                root = roots[a]
                out[bucket_of(root, CLUSTER_BUCKETS)].append(("e", root, pair))
    yield from sorted(out.items(), key=lambda kv: kv[0])


def _decide(
    item: tuple[int, list[list[tuple[str, Any, Any]]]], cfg: DedupConfig
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """One cluster bucket: each component (by root) decided on its own (``clusters.decide_cluster``); the
    duplicates' decisions as one list per split."""
    _, lists = item
    entries: dict[NodeKey, list[bytes]] = defaultdict(list)
    pairs: dict[NodeKey, list[Any]] = defaultdict(list)
    for parts in lists:
        for tag, root, v in parts:
            (entries if tag == "m" else pairs)[root].append(v)
    threshold = cfg.near.threshold if cfg.near.enabled else 2.0
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for root in sorted(entries):
        members = list(unpack_nodes(b"".join(entries[root])))
        for outcome, m, d in decide_cluster(members, pairs[root], threshold, exact=cfg.exact):
            if outcome == "duplicate" and d is not None:
                decision = {"split": m["split"], "key": m["key"], **d, "similarity": float(d["similarity"])}
                out[m["split"]].append(decision)
    yield from sorted(out.items(), key=lambda kv: kv[0])


def _tagged(tag: str) -> Any:
    """Keys ``(node bucket, value)`` by its bucket, tagged, for the join with packed nodes."""
    return beam.Map(lambda bv, tag=tag: (bv[0], (tag, bv[1])))


class _Ticking(beam.DoFn):
    """Applies a FlatMap function and ticks progress after each element (``pipelines.core.progress.Ticker``)."""

    def __init__(self, fn: Callable[..., Iterable[Any]], stage: str, progress_dir: str, *args: Any) -> None:
        self.fn, self.stage, self.progress_dir, self.args = fn, stage, progress_dir, args
        self.ticker: Ticker | None = None

    def start_bundle(self) -> None:
        # Coarse groups (48), node buckets (16) and cluster buckets (64) are few and large: tick each one.
        self.ticker = Ticker(self.progress_dir, self.stage, every=1)

    def process(self, element: Any) -> Iterator[Any]:
        yield from self.fn(element, *self.args)
        if self.ticker is not None:
            self.ticker.add()  # once the element is done

    def finish_bundle(self) -> None:
        if self.ticker is not None:
            self.ticker.flush()


class DropDuplicates(beam.PTransform):
    """DropDuplicates decides which valid, anonymised records are duplicates, from compact nodes only.

    Input: batches of nodes (``pipelines.stages.spill.spill_batch``: ``key``,
    ``content_key``, ``record_hash``, ``minhash``, ``shingles``, ``split``;
    any record that has these keys will do), or with ``packed=True`` what
    ``pack_fn`` yields for them (references to batch files), and a PCollection of
    ``("state" | "shards", path)`` sources of earlier runs. Output: the
    duplicates' decisions, ``{"split", "key", "kind", "duplicate_of",
    "similarity"}``, as ``(split, [decision, ...])`` lists (at most one per
    split and cluster bucket); a node with no decision is kept. No record
    payload crosses any shuffle. See ``pipelines.stages.dedup.clusters`` for
    the guarantees.
    """

    def __init__(
        self,
        text_fields: list[str],
        cfg: DedupConfig,
        salt_path: str,
        work_dir: str,
        progress_dir: str = "",
        packed: bool = False,
    ) -> None:
        super().__init__()
        if not work_dir:
            raise ValueError("DropDuplicates needs a work folder every worker can read (the attempt's spill folder)")
        self.text_fields, self.cfg, self.salt_path = text_fields, cfg, salt_path
        self.work_dir, self.progress_dir, self.packed = work_dir, progress_dir, packed

    def pack_fn(self) -> beam.DoFn:
        """pack_fn is the DoFn that writes batches of nodes to batch files and yields their references: what
        this transform takes with ``packed=True`` (``pipelines.stages.chain`` runs it where nodes are made)."""
        bands, rows = near_bands(self.cfg.near)
        return _Pack(bands if self.cfg.near.enabled else 0, rows, self.work_dir)

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        batches, sources = pcolls
        prior = sources | "ReadPrior" >> beam.ParDo(_ReadPrior(self.text_fields, self.cfg, self.salt_path))
        # Pack on each side of the Flatten: a runner may materialise a Flatten's inputs (Beam's FnApiRunner
        # buffers them when they come from different stages), and references are all it should hold.
        packed = (
            batches if self.packed else batches | "Pack" >> beam.ParDo(self.pack_fn()),
            prior | "PackPrior" >> beam.ParDo(self.pack_fn()),
        ) | "AllNodes" >> beam.Flatten()
        edges = (
            packed
            | "Groups" >> select("group")
            | "Group" >> beam.GroupByKey()
            | "Edges" >> beam.ParDo(_Ticking(_edges, "group", self.progress_dir, self.work_dir))
        )
        roots = (
            edges
            | "ComponentEdges" >> select("component")
            | "Components" >> ConnectComponents(group=_node_bucket_of)
            | "RootTag" >> _tagged("root")
        )
        lsh = edges | "Lsh" >> select("lsh") | "LshTag" >> _tagged("lsh")
        nodes = packed | "Nodes" >> select("nodes") | "NodeTag" >> _tagged("nodes")
        members = (
            (nodes, roots, lsh)
            | "JoinAll" >> beam.Flatten()
            | "ByNode" >> beam.GroupByKey()
            | "Membership" >> beam.ParDo(_Ticking(_membership, "join", self.progress_dir, self.work_dir))
        )
        return (
            members
            | "ByCluster" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_Ticking(_decide, "decide", self.progress_dir, self.cfg))
        )
