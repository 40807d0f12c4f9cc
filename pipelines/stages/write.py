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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from ledger.pseudonym import pseudonym_for
from pipelines.core import fs
from pipelines.core.config import OutputConfig, SchemaConfig
from pipelines.core.layouts import (
    CONTRIBUTORS_SCHEMA,
    DUPLICATES_SCHEMA,
    QUARANTINE_SCHEMA,
    part_name,
    shard_name,
    shard_schema,
)
from pipelines.core.progress import tick
from pipelines.core.records import HashedRecord, Record
from pipelines.stages.dedup.clusters import duplicate_row
from pipelines.stages.dedup.graph import current_key
from pipelines.stages.dedup.state import state_schema
from pipelines.stages.spill import read_spill
from pipelines.stages.table_stats import StatsPlan, split_stats

_PII_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode  # one encoder for every row
STATE_KEYS = ("content_key", "record_hash", "minhash", "shingles")  # from a kept record; ledger_index is added


def parquet_bytes(rows: list[dict[str, Any]], schema: pa.Schema, compression: str) -> bytes:
    """parquet_bytes encodes rows deterministically (same rows and schema, same bytes)."""
    buf = io.BytesIO()
    pq.write_table(
        pa.Table.from_pylist(rows, schema=schema),
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


def pseudonymise(rows: list[dict[str, Any]], key: bytes, names: dict[str, str]) -> list[dict[str, Any]]:
    """pseudonymise swaps each row's ``contributor_id`` for its pseudonym, keeping row order; ``names`` collects
    pseudonym -> ID. Rows naming no contributor (quarantined lines where none was readable) stay as they are."""
    out = []
    known: dict[str, str] = {}  # contributor -> pseudonym: two HMACs once per contributor, not per row
    for r in rows:
        cid = r["contributor_id"]
        if cid is None:
            out.append(r)
            continue
        p = known.get(cid)
        if p is None:
            p = known[cid] = pseudonym_for(key, cid)
            names[p] = cid
        out.append({**r, "contributor_id": p})
    return out


def _position(r: dict[str, Any]) -> tuple[int, int]:
    return int(r["order"][2]), int(r["order"][3])


def shard_row(r: HashedRecord, names: list[str], run_id: str, index: int) -> dict[str, Any]:
    """shard_row flattens one accepted record into a shard row."""
    return {
        **{n: r["fields"].get(n) for n in names},
        "contributor_id": r["contributor_id"],
        "submitted_at": r["submitted_at"],
        "record_hash": r["record_hash"],
        "ledger_index": index,
        "run_id": run_id,
        "pii": _PII_JSON(r.get("pii", {})),
    }


def _write(spec: WriteSpec, rel: str, rows: list[dict[str, Any]], schema: pa.Schema, kind: str) -> dict[str, Any]:
    data = parquet_bytes(rows, schema, spec.output.compression)
    fs.write_bytes(fs.join(spec.out_dir, rel), data, private=kind in ("quarantine", "contributors"))
    return {
        "path": rel,
        "kind": kind,
        "rows": len(rows),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _with_run(rows: list[dict[str, Any]], schema: pa.Schema, run_id: str) -> list[dict[str, Any]]:
    """The schema's columns of each row, ``run_id`` filled in."""
    return [{**{k: r[k] for k in schema.names if k != "run_id"}, "run_id": run_id} for r in rows]


def _write_files(
    spec: WriteSpec, split: int, acc: list[Record], dups: list[dict[str, Any]], rej: list[dict[str, Any]], base: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Write a split's shards (``shard_rows`` each), dedup state, duplicates and quarantine.

    Returns their file entries and, when ``spec.stats`` names columns, the
    split's table statistics over the shard rows as written.
    """
    names, run_id, files = [f.name for f in spec.schema.fields], spec.run_id, []
    written: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    if spec.contributor_key_path:
        key = _contributor_key(spec.contributor_key_path)
        acc, dups, rej = (pseudonymise(rows, key, ids) for rows in (acc, dups, rej))
    for k, start in enumerate(range(0, len(acc), spec.output.shard_rows)):
        chunk = acc[start : start + spec.output.shard_rows]
        rows = [shard_row(cast(HashedRecord, r), names, run_id, base + start + i) for i, r in enumerate(chunk)]
        files.append(_write(spec, shard_name(run_id, split, k), rows, shard_schema(spec.schema), "shard"))
        if spec.stats:
            written.extend({c: r[c] for c, _, _ in spec.stats.columns} for r in rows)
    if acc:
        state = [{**{k: r[k] for k in STATE_KEYS}, "ledger_index": base + i} for i, r in enumerate(acc)]
        files.append(_write(spec, part_name("state", run_id, split), state, state_schema(spec.state_params), "state"))
    if dups:
        rows = _with_run(dups, DUPLICATES_SCHEMA, run_id)
        files.append(_write(spec, part_name("duplicates", run_id, split), rows, DUPLICATES_SCHEMA, "duplicates"))
    if rej:
        rows = _with_run(rej, QUARANTINE_SCHEMA, run_id)
        files.append(_write(spec, part_name("quarantine", run_id, split), rows, QUARANTINE_SCHEMA, "quarantine"))
    if ids:
        rows = [{"pseudonym": p, "contributor_id": ids[p]} for p in sorted(ids)]
        files.append(_write(spec, part_name("contributors", run_id, split), rows, CONTRIBUTORS_SCHEMA, "contributors"))
    stats = split_stats(written, spec.stats, spec.spill_dir, split) if spec.stats else None
    return files, stats


class SpillMismatchError(RuntimeError):
    """A split's spill folder does not hold exactly the valid records the pipeline counted for it."""


def _kept_and_dups(spec: WriteSpec, split: int, parts: list[tuple[str, Any]]) -> tuple[list[Record], list[Record]]:
    """Join a split's spilled records with its duplicate decisions: (kept records, duplicate rows), source order."""
    decisions = {tuple(d["key"]): d for t, d in parts if t == "dup"}
    valid = sum(int(n) for t, n in parts if t == "valid")
    spilled = read_spill(spec.spill_dir, split) if valid else []
    if len(spilled) != valid or len({r["id"] for r in spilled}) != valid:
        raise SpillMismatchError(f"split {split}: {len(spilled)} spilled records, {valid} valid ones counted")
    acc: list[Record] = []
    dups: list[Record] = []
    for r in cast(list[Record], spilled):
        d = decisions.pop(current_key(r["order"]), None)
        if d is None:
            acc.append(r)
        else:
            dups.append(duplicate_row(r, d))
    if decisions:
        raise SpillMismatchError(f"split {split}: {len(decisions)} duplicate decisions name no spilled record")
    return sorted(acc, key=_position), sorted(dups, key=_position)


def write_split(spec: WriteSpec, split: int, parts: list[tuple[str, Any]]) -> dict[str, Any]:
    """write_split joins one split's spill with its decisions, writes its outputs and returns its manifest.

    ``parts``: ``("valid", count)`` per spilled batch, ``("dup", decision)``
    per duplicate (``pipelines.stages.dedup.transforms.DropDuplicates``),
    ``("rej", row)``, ``("tally", counts)`` and ``("offset", first index)``.
    Raises ``SpillMismatchError`` unless the spill holds exactly the counted
    records and every decision names one of them.
    """
    acc, dups = _kept_and_dups(spec, split, parts)
    rej = sorted(
        (v for t, v in parts if t == "rej"), key=lambda q: (q["file"], q["line"], q["stage"], q["reason"], q["detail"])
    )
    tallies = [v for t, v in parts if t == "tally"]
    base = next((v for t, v in parts if t == "offset"), 0)
    files, stats = _write_files(spec, split, acc, dups, rej, base)
    pii: Counter[str] = Counter()
    for r in acc:
        pii.update(r.get("pii", {}))
    places = {(x["file"], x["line"]) for x in [*acc, *dups, *rej]}
    tick(
        spec.progress_dir,
        "write",
        f"{split:05d}",
        {"accepted": len(acc), "duplicates": len(dups), "quarantined": len(rej)},
    )
    writer = f"{socket.gethostname()}/{os.getpid()}"
    logging.getLogger(__name__).info("split %d: %d accepted, written by %s", split, len(acc), writer)
    return {
        "split": split,
        "writer": writer,
        "tallies": len(tallies),
        "distinct_places": len(places),
        "read": sum(int(t["items"]) for t in tallies),
        "blank": sum(int(t["blank"]) for t in tallies),
        "accepted": len(acc),
        "first_index": base,
        "duplicates": len(dups),
        "quarantined": len(rej),
        "duplicate_kinds": dict(sorted(Counter(d["kind"] for d in dups).items())),
        "quarantine_reasons": dict(sorted(Counter(q["reason"] for q in rej).items())),
        "quarantine_stages": dict(sorted(Counter(q["stage"] for q in rej).items())),
        "pii": dict(sorted(pii.items())),
        "records_with_pii": sum(1 for r in acc if r.get("pii")),
        "files": files,
        **({"table_stats": stats} if stats is not None else {}),
    }


def _accepted(kv: tuple[int, tuple[str, Any]]) -> list[tuple[int, int]]:
    """A split's accepted count, in parts: + each spilled batch's valid count, - 1 per duplicate."""
    tag, value = kv[1]
    if tag == "valid":
        return [(kv[0], int(value))]
    return [(kv[0], -1)] if tag == "dup" else []


def offsets(counts: list[tuple[int, int]], base: int) -> Iterator[tuple[int, tuple[str, int]]]:
    """offsets turns (split, accepted count) pairs into each split's first ledger index."""
    at = base
    for split, n in sorted(counts):
        yield split, ("offset", at)
        at += n


class WriteSplits(beam.PTransform):
    """WriteSplits writes every split's outputs and then the run manifest ``manifest_path``.

    Input: ``(split, (tag, value))`` with tags ``valid`` (a spilled batch's
    count), ``dup`` (duplicate decisions), ``rej`` (rejections) and ``tally``
    (the reader's count); kept records are read back from ``spec.spill_dir``.
    ``base`` is the ledger size the run starts at. Output: a PCollection
    holding the manifest path once written.
    """

    def __init__(self, spec: WriteSpec, base: int, manifest_path: str) -> None:
        super().__init__()
        self.spec, self.base, self.manifest_path = spec, base, manifest_path

    def expand(self, tagged: beam.PCollection) -> beam.PCollection:
        counts = (
            tagged
            | "Accepted" >> beam.FlatMap(_accepted)
            | "PerSplit" >> beam.CombinePerKey(sum)
            | "One" >> beam.Map(lambda kv: (0, kv))
            | "AllCounts" >> beam.GroupByKey()
            | "Offsets" >> beam.FlatMap(lambda kv, base: offsets(list(kv[1]), base), self.base)
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
