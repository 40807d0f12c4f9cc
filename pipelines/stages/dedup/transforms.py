"""Beam wrappers for dedup: ``SketchRecords`` (before anonymisation) and ``DropDuplicates`` (after validation).

``DropDuplicates`` is distributed end to end:

1. every node (a valid record of this run, or a record an earlier run
   accepted, read from the dedup state as a PCollection) is keyed three ways:
   by content key, by record hash, and by each LSH band;
2. each exact group and each LSH bucket is turned into candidate edges in
   parallel (``graph.star``, ``graph.bucket_pairs``);
3. one step resolves connected components over the edges only
   (``graph.route``; memory bounded by pairs, not records);
4. records are joined with their component and each component is decided
   in parallel (``clusters.decide_cluster``); records in no component are kept.

Every step is a ParDo, Flatten or GroupByKey, with tags carried inside
elements, so the same graph runs on the DirectRunner and on Dask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import apache_beam as beam
import numpy as np

from pipelines.core.config import DedupConfig
from pipelines.core.keys import read_salt
from pipelines.core.records import (
    HashedRecord,
    ReadRecord,
    Record,
    ScrubbedRecord,
    SketchedRecord,
    content_key,
    dedup_text,
    record_hash,
)
from pipelines.stages.dedup.clusters import decide_cluster, duplicate_row
from pipelines.stages.dedup.graph import bucket_pairs, current_key, prior_key, route, star
from pipelines.stages.dedup.minhash import band_keys, near_bands, sketches
from pipelines.stages.read import select


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

    def __init__(self, text_fields: list[str], cfg: DedupConfig, salt_path: str) -> None:
        super().__init__()
        self.text_fields, self.cfg, self.salt_path = text_fields, cfg, salt_path

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Sketch" >> beam.ParDo(_Sketch(self.text_fields, self.cfg, self.salt_path))


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
    def process(self, source: tuple[str, str]) -> Iterator[Record]:
        yield from prior_nodes(source, self.text_fields, self.cfg, self.salt)


def _keys(node: Record, bands: int, rows: int) -> Iterator[tuple[str, Any]]:
    key, ck = node["key"], node["content_key"]
    yield "ck", (ck, key)
    yield "rh", (node["record_hash"], key)
    sig = np.frombuffer(node["minhash"], dtype=np.uint32).reshape(1, -1)
    for j, bk in enumerate(band_keys(sig, bands, rows)[0].view(np.int64)):
        yield "band", ((j, int(bk)), (key, ck))


def _edges(group: tuple[Any, list[Any]], kind: str) -> Iterator[tuple[str, Any]]:
    if kind == "band":
        yield from (("lsh", p) for p in bucket_pairs(group[1]))
    else:
        yield from (("link", e) for e in star(group[1]))


def _membership(item: tuple[Any, list[tuple[str, Any]]]) -> Iterator[tuple[str, Any]]:
    """One node's record (or earlier-run node) and its component root, if any."""
    _, parts = item
    root = next((v for t, v in parts if t == "root"), None)
    for tag, v in parts:
        if tag == "root":
            continue
        if root is not None:
            yield "member", (root, ("m", v))
        elif tag == "rec":
            yield "kept", v


def _decide(item: tuple[Any, list[tuple[str, Any]]], cfg: DedupConfig) -> Iterator[tuple[str, Any]]:
    _, parts = item
    members = [v for t, v in parts if t == "m"]
    edges = [v for t, v in parts if t == "e"]
    threshold = cfg.near.threshold if cfg.near.enabled else 2.0
    for outcome, m, d in decide_cluster(members, edges, threshold, exact=cfg.exact):
        yield (outcome, m) if d is None else (outcome, duplicate_row(m, d))


def _hash(batch: list[ScrubbedRecord], names: list[str]) -> list[HashedRecord]:
    return [{**r, "record_hash": record_hash({n: r["fields"].get(n) for n in names})} for r in batch]


class DropDuplicates(beam.PTransform):
    """DropDuplicates splits valid, anonymised records into kept records and duplicate rows.

    Input: batches of sketched records (``SketchRecords``) that passed
    validation, and a PCollection of ``("state" | "shards", path)`` sources
    of earlier runs. Output: one PCollection of ``("kept", record)`` (with
    ``record_hash``) and ``("duplicate", row)``; ``select`` picks one. See
    ``pipelines.stages.dedup.clusters`` for the guarantees.
    """

    def __init__(self, field_names: list[str], text_fields: list[str], cfg: DedupConfig, salt_path: str) -> None:
        super().__init__()
        self.field_names, self.text_fields, self.cfg, self.salt_path = field_names, text_fields, cfg, salt_path

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        batches, sources = pcolls
        bands, rows = near_bands(self.cfg.near)
        current = batches | "Hash" >> beam.FlatMap(_hash, self.field_names)
        prior = sources | "ReadPrior" >> beam.ParDo(_ReadPrior(self.text_fields, self.cfg, self.salt_path))
        nodes = (current, prior) | "Nodes" >> beam.Flatten()
        keyed = nodes | "Keys" >> beam.FlatMap(_keys, bands if self.cfg.near.enabled else 0, rows)
        parts = []
        for kind in ("ck", "rh", "band"):
            parts.append(
                keyed
                | f"Select{kind}" >> select(kind)
                | f"Group{kind}" >> beam.GroupByKey()
                | f"Edges{kind}" >> beam.FlatMap(_edges, kind)
            )
        routed = (
            tuple(parts)
            | "AllEdges" >> beam.Flatten()
            | "One" >> beam.Map(lambda e: (0, e))
            | "Gather" >> beam.GroupByKey()
            | "Route" >> beam.FlatMap(lambda kv: route(kv[1]))
        )
        roots = routed | "Roots" >> select("root") | "RootTag" >> beam.Map(lambda nr: (nr[0], ("root", nr[1])))
        recs = current | "RecTag" >> beam.Map(lambda r: (r["key"], ("rec", r)))
        priors = prior | "PriorTag" >> beam.Map(lambda r: (r["key"], ("prior", r)))
        joined = (
            (recs, priors, roots)
            | "JoinAll" >> beam.Flatten()
            | "ByNode" >> beam.GroupByKey()
            | "Membership" >> beam.FlatMap(_membership)
        )
        members = joined | "Members" >> select("member")
        edges = routed | "LshEdges" >> select("edge") | "EdgeTag" >> beam.Map(lambda re: (re[0], ("e", re[1])))
        unclustered = joined | "Unclustered" >> select("kept") | "KeptTag" >> beam.Map(lambda r: ("kept", r))
        decided = (
            (members, edges)
            | "ClusterParts" >> beam.Flatten()
            | "ByCluster" >> beam.GroupByKey()
            | "Decide" >> beam.FlatMap(_decide, self.cfg)
        )
        return (unclustered, decided) | "Outcomes" >> beam.Flatten()
