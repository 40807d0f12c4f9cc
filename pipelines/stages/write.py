"""Step 7, write: each split's shards, duplicates, quarantine, dedup state and contributor map, by a worker.

``write_split`` is pure but for the files it writes: given everything one
input split produced, it writes deterministic Parquet (fixed Arrow schemas,
no timestamps, rows in source order) through Beam's FileSystems, each file
appearing whole, and returns the split's manifest: counts per outcome, reason
and kind, and every file's row count and SHA-256. ``WriteSplits`` is the
Beam wrapper; its single output, the run manifest, is the pipeline's last
step, so runners that compute only the final sink (Dask) still run everything.

Shard ``ledger_index`` is ``base + offset(split) + row``: ledger order is
split order, then source order within a split. Shards and duplicates carry
contributor *pseudonyms* (``ledger.pseudonym``), never contributors' own IDs;
the pseudonym -> ID map goes to ``contributors/`` (0600 in 0700, like
quarantine), for the curator only.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ledger.pseudonym import pseudonym_for
from pipelines.core import fs
from pipelines.core.config import OutputConfig, SchemaConfig
from pipelines.core.layouts import (
    CONTRIBUTORS_SCHEMA,
    DUPLICATES_SCHEMA,
    QUARANTINE_SCHEMA,
    fields_type,
    part_name,
    shard_name,
    shard_schema,
)
from pipelines.core.progress import tick
from pipelines.core.records import Record
from pipelines.stages.dedup.clusters import duplicate_row
from pipelines.stages.dedup.graph import current_key
from pipelines.stages.dedup.state import STATE_SCHEMA, state_schema
from pipelines.stages.spill import spill_schema, spill_table
from pipelines.stages.table_stats import StatsPlan, split_stats


def table_bytes(table: pa.Table, compression: str) -> bytes:
    """table_bytes encodes a table deterministically (same rows and schema, same bytes)."""
    buf = io.BytesIO()
    pq.write_table(
        table.combine_chunks(),  # one chunk per column, as from rows: page breaks do not depend on how it was built
        buf,
        compression=None if compression == "none" else compression,
        use_dictionary=True,
        write_statistics=True,
    )
    return buf.getvalue()


@dataclass(frozen=True)
class WriteSpec:
    """Everything a split writer needs, and nothing secret (the contributor key travels as its path)."""

    out_dir: str
    run_id: str
    schema: SchemaConfig
    output: OutputConfig
    state_params: dict[str, Any]
    contributor_key_path: str = ""
    progress_dir: str = ""
    spill_dir: str = ""  # pipelines.stages.spill: where valid records wait for their split's writer
    stats: StatsPlan = field(default_factory=StatsPlan)  # what table-level checks need (stages.table_stats)


@functools.lru_cache(maxsize=4)
def _contributor_key(path: str) -> bytes:
    return fs.read_bytes(path)


class Pseudonyms:
    """Pseudonyms gives each contributor ID its pseudonym (``ledger.pseudonym``: two HMACs once per contributor,
    not per row) and collects pseudonym -> ID in ``names``. None (a quarantined line naming no readable
    contributor) stays None."""

    def __init__(self, key: bytes, names: dict[str, str] | None = None) -> None:
        self.key = key
        self.names = {} if names is None else names
        self.known: dict[str, str] = {}

    def of(self, cid: str | None) -> str | None:
        if cid is None:
            return None
        p = self.known.get(cid)
        if p is None:
            p = self.known[cid] = pseudonym_for(self.key, cid)
            self.names[p] = cid
        return p

    def rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """rows swaps each row's ``contributor_id`` for its pseudonym, keeping row order."""
        return [
            r if r["contributor_id"] is None else {**r, "contributor_id": self.of(r["contributor_id"])} for r in rows
        ]

    def column(self, ids: pa.ChunkedArray) -> pa.ChunkedArray:
        """column is ``ids`` with each ID replaced by its pseudonym (one HMAC pair per distinct ID)."""
        distinct = pc.unique(ids)
        pseudonyms = pa.array([self.of(c) for c in distinct.to_pylist()], pa.string())
        return pc.take(pseudonyms, pc.index_in(ids, value_set=distinct, skip_nulls=False))


def pseudonymise(rows: list[dict[str, Any]], key: bytes, names: dict[str, str]) -> list[dict[str, Any]]:
    """pseudonymise swaps each row's ``contributor_id`` for its pseudonym, keeping row order; ``names`` collects
    pseudonym -> ID. Rows naming no contributor (quarantined lines where none was readable) stay as they are."""
    return Pseudonyms(key, names).rows(rows)


def _position(r: dict[str, Any]) -> tuple[int, int]:
    return int(r["order"][2]), int(r["order"][3])


def shard_table(spec: WriteSpec, acc: pa.Table, contributors: pa.ChunkedArray, base: int) -> pa.Table:
    """shard_table is every shard row of a split's kept records (spill columns, ``acc``), in their order: the
    schema fields, then ``contributors`` (pseudonyms), ``submitted_at``, ``record_hash``, ``ledger_index``
    from ``base``, ``run_id`` and ``pii``."""
    n = acc.num_rows
    return pa.Table.from_arrays(
        [
            *acc.column("fields").flatten(),
            contributors,
            acc.column("submitted_at"),
            acc.column("record_hash"),
            pa.array(np.arange(base, base + n, dtype=np.int64)),
            pa.array([spec.run_id] * n, pa.string()),
            acc.column("pii"),
        ],
        schema=shard_schema(spec.schema),
    )


def _write(spec: WriteSpec, rel: str, table: pa.Table, kind: str) -> dict[str, Any]:
    data = table_bytes(table, spec.output.compression)
    fs.write_bytes(fs.join(spec.out_dir, rel), data, private=kind in ("quarantine", "contributors"))
    return {
        "path": rel,
        "kind": kind,
        "rows": table.num_rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _rows(rows: list[dict[str, Any]], schema: pa.Schema, run_id: str) -> pa.Table:
    """The schema's columns of each row, ``run_id`` filled in, as a table."""
    rows = [{**{k: r[k] for k in schema.names if k != "run_id"}, "run_id": run_id} for r in rows]
    return pa.Table.from_pylist(rows, schema=schema)


def _write_files(
    spec: WriteSpec, split: int, acc: pa.Table, dups: list[dict[str, Any]], rej: list[dict[str, Any]], base: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Write a split's shards (``shard_rows`` each), dedup state, duplicates and quarantine.

    ``acc``: the kept records' spill columns, in ledger order. Returns the
    files' entries and, when ``spec.stats`` names columns, the split's table
    statistics over the shard rows as written.
    """
    run_id, files = spec.run_id, []
    contributors = acc.column("contributor_id")
    ids: dict[str, str] = {}
    if spec.contributor_key_path:
        pseudonyms = Pseudonyms(_contributor_key(spec.contributor_key_path), ids)
        contributors = pseudonyms.column(contributors)
        dups, rej = pseudonyms.rows(dups), pseudonyms.rows(rej)
    shards = shard_table(spec, acc, contributors, base)
    for k, start in enumerate(range(0, acc.num_rows, spec.output.shard_rows)):
        files.append(_write(spec, shard_name(run_id, split, k), shards.slice(start, spec.output.shard_rows), "shard"))
    if acc.num_rows:
        state = pa.Table.from_arrays(
            [acc.column(k) if k != "ledger_index" else shards.column(k) for k in STATE_SCHEMA.names],
            schema=state_schema(spec.state_params),
        )
        files.append(_write(spec, part_name("state", run_id, split), state, "state"))
    if dups:
        rows = _rows(dups, DUPLICATES_SCHEMA, run_id)
        files.append(_write(spec, part_name("duplicates", run_id, split), rows, "duplicates"))
    if rej:
        rows = _rows(rej, QUARANTINE_SCHEMA, run_id)
        files.append(_write(spec, part_name("quarantine", run_id, split), rows, "quarantine"))
    if ids:
        names = pa.Table.from_pylist(
            [{"pseudonym": p, "contributor_id": ids[p]} for p in sorted(ids)], schema=CONTRIBUTORS_SCHEMA
        )
        files.append(_write(spec, part_name("contributors", run_id, split), names, "contributors"))
    if not spec.stats:
        return files, None
    written = shards.select([c for c, _, _ in spec.stats.columns]).to_pylist()
    return files, split_stats(written, spec.stats, spec.spill_dir, split)


class SpillMismatchError(RuntimeError):
    """A split's spill folder does not hold exactly the valid records the pipeline counted for it."""


def _kept_and_dups(spec: WriteSpec, split: int, parts: list[tuple[str, Any]]) -> tuple[pa.Table, list[Record]]:
    """Join a split's spill with its duplicate decisions: (kept records' spill columns, duplicate rows), both in
    source order. Only the order column is read into Python for every record; a duplicate's row is built from
    its own spill row."""
    decisions = {tuple(d["key"]): d for t, ds in parts if t == "dups" for d in ds}
    valid = sum(int(n) for t, n in parts if t == "valid")
    spilled = spill_table(spec.spill_dir, split) if valid else None
    if spilled is None:
        spilled = spill_schema(fields_type(spec.schema)).empty_table()
    n = spilled.num_rows
    if n != valid or (n and pc.count_distinct(spilled.column("id")).as_py() != valid):
        raise SpillMismatchError(f"split {split}: {n} spilled records, {valid} valid ones counted")
    orders = [json.loads(o) for o in spilled.column("order").to_pylist()]
    kept: list[int] = []
    dropped: list[tuple[int, dict[str, Any]]] = []
    for i, o in enumerate(orders):
        d = decisions.pop(current_key(o), None)
        if d is None:
            kept.append(i)
        else:
            dropped.append((i, d))
    if decisions:
        raise SpillMismatchError(f"split {split}: {len(decisions)} duplicate decisions name no spilled record")
    kept.sort(key=lambda i: (int(orders[i][2]), int(orders[i][3])))
    rows = spilled.take(pa.array([i for i, _ in dropped], pa.int64())).drop_columns(["fields"]).to_pylist()
    dups = [duplicate_row(cast(Any, {**r, "order": orders[i]}), d) for r, (i, d) in zip(rows, dropped, strict=True)]
    return spilled.take(pa.array(kept, pa.int64())), sorted(dups, key=_position)


def write_split(spec: WriteSpec, split: int, parts: list[tuple[str, Any]]) -> dict[str, Any]:
    """write_split joins one split's spill with its decisions, writes its outputs and returns its manifest.

    ``parts``: ``("valid", count)`` per spilled batch, ``("dups", [decision,
    ...])`` lists (``pipelines.stages.dedup.transforms.DropDuplicates``),
    ``("rejs", [row, ...])`` lists, ``("tally", counts)`` and ``("offset",
    first index)``.
    Raises ``SpillMismatchError`` unless the spill holds exactly the counted
    records and every decision names one of them.
    """
    acc, dups = _kept_and_dups(spec, split, parts)
    rej = sorted(
        (q for t, qs in parts if t == "rejs" for q in qs),
        key=lambda q: (q["file"], q["line"], q["stage"], q["reason"], q["detail"]),
    )
    tallies = [v for t, v in parts if t == "tally"]
    base = next((v for t, v in parts if t == "offset"), 0)
    files, stats = _write_files(spec, split, acc, dups, rej, base)
    pii: Counter[str] = Counter()
    with_pii = 0
    for counts in acc.column("pii").to_pylist():
        if counts != "{}":
            pii.update(json.loads(counts))
            with_pii += 1
    places = set(zip(acc.column("file").to_pylist(), acc.column("line").to_pylist(), strict=True))
    places.update((x["file"], x["line"]) for x in [*dups, *rej])
    tick(
        spec.progress_dir,
        "write",
        f"{split:05d}",
        {"accepted": acc.num_rows, "duplicates": len(dups), "quarantined": len(rej)},
    )
    writer = f"{socket.gethostname()}/{os.getpid()}"
    logging.getLogger(__name__).info("split %d: %d accepted, written by %s", split, acc.num_rows, writer)
    return {
        "split": split,
        "writer": writer,
        "tallies": len(tallies),
        "distinct_places": len(places),
        "read": sum(int(t["items"]) for t in tallies),
        "blank": sum(int(t["blank"]) for t in tallies),
        "accepted": acc.num_rows,
        "first_index": base,
        "duplicates": len(dups),
        "quarantined": len(rej),
        "duplicate_kinds": dict(sorted(Counter(d["kind"] for d in dups).items())),
        "quarantine_reasons": dict(sorted(Counter(q["reason"] for q in rej).items())),
        "quarantine_stages": dict(sorted(Counter(q["stage"] for q in rej).items())),
        "pii": dict(sorted(pii.items())),
        "records_with_pii": with_pii,
        "files": files,
        **({"table_stats": stats} if stats is not None else {}),
    }


def _accepted(kv: tuple[int, tuple[str, Any]]) -> list[tuple[int, tuple[int, int]]]:
    """A split's accepted count, in parts, all under one key: + each spilled batch's valid count, - each list
    of duplicate decisions' length."""
    tag, value = kv[1]
    if tag == "valid":
        return [(0, (kv[0], int(value)))]
    return [(0, (kv[0], -len(value)))] if tag == "dups" else []


def offsets(counts: Iterable[tuple[int, int]], base: int) -> Iterator[tuple[int, tuple[str, int]]]:
    """offsets turns (split, part of its accepted count) pairs into each split's first ledger index."""
    per_split: Counter[int] = Counter()
    for split, n in counts:
        per_split[split] += n
    at = base
    for split in sorted(per_split):
        yield split, ("offset", at)
        at += per_split[split]


class WriteSplits(beam.PTransform):
    """WriteSplits writes every split's outputs and then the run manifest ``manifest_path``.

    Input: ``(split, (tag, value))`` with tags ``valid`` (a spilled batch's
    count), ``dups`` (lists of duplicate decisions), ``rejs`` (lists of rejections) and ``tally``
    (the reader's count); kept records are read back from ``spec.spill_dir``.
    ``base`` is the ledger size the run starts at. Output: a PCollection
    holding the manifest path once written.
    """

    def __init__(self, spec: WriteSpec, base: int, manifest_path: str) -> None:
        super().__init__()
        self.spec, self.base, self.manifest_path = spec, base, manifest_path

    def expand(self, tagged: beam.PCollection) -> beam.PCollection:
        # One shuffle of counts, not two: at most one small tuple per spilled batch and per duplicate.
        counts = (
            tagged
            | "Accepted" >> beam.FlatMap(_accepted)
            | "AllCounts" >> beam.GroupByKey()
            | "Offsets" >> beam.FlatMap(lambda kv, base: offsets(kv[1], base), self.base)
        )
        manifests = (
            (tagged, counts)
            | "WithOffsets" >> beam.Flatten()
            | "BySplit" >> beam.GroupByKey()
            | "Write" >> beam.Map(lambda kv, spec: write_split(spec, kv[0], list(kv[1])), self.spec)
        )
        return (
            manifests
            | "OneManifest" >> beam.Map(lambda m: (0, m))
            | "AllManifests" >> beam.GroupByKey()
            | "WriteManifest" >> beam.Map(lambda kv, path: _write_manifest(path, list(kv[1])), self.manifest_path)
        )


def _write_manifest(path: str, manifests: list[dict[str, Any]]) -> str:
    body = {"splits": sorted(manifests, key=lambda m: m["split"])}
    fs.write_bytes(path, (json.dumps(body, indent=1, sort_keys=True) + "\n").encode())
    return path
