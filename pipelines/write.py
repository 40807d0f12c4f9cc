"""Stage 7, write: deterministic Parquet shards, quarantine and duplicate tables.

Guarantees: the same rows in the same order give byte-identical files
(fixed Arrow schemas, no timestamps, fixed compression); files appear
atomically (temporary name, fsync, rename), so a reader never sees half a
shard. Quarantine (which may hold PII) is written apart from the shards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.config import Datanet, SchemaConfig

ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "boolean": pa.bool_()}

QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("payload", pa.binary()),
        ("run_id", pa.string()),
    ]
)
DUPLICATES_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("contributor_id", pa.string()),
        ("submitted_at", pa.string()),
        ("content_key", pa.string()),
        ("kind", pa.string()),
        ("duplicate_of", pa.string()),
        ("similarity", pa.float64()),
        ("run_id", pa.string()),
    ]
)
STATE_SCHEMA = pa.schema(
    [
        ("content_key", pa.string()),
        ("record_hash", pa.string()),
        ("ledger_index", pa.int64()),
        ("minhash", pa.binary()),
    ]
)


def shard_schema(schema: SchemaConfig) -> pa.Schema:
    """shard_schema is the Arrow schema of a shard: schema fields, then provenance columns."""
    cols = [(f.name, ARROW_TYPES[f.type]) for f in schema.fields]
    cols += [
        ("contributor_id", pa.string()),
        ("submitted_at", pa.string()),
        ("record_hash", pa.string()),
        ("ledger_index", pa.int64()),
        ("run_id", pa.string()),
        ("pii", pa.string()),
    ]
    return pa.schema(cols)


def write_table(path: Path, table: pa.Table, compression: str) -> None:
    """write_table writes a Parquet file atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(
        table,
        tmp,
        compression=None if compression == "none" else compression,
        use_dictionary=True,
        write_statistics=True,
    )
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def shard_rows(
    accepted: Sequence[dict[str, Any]], schema: SchemaConfig, run_id: str, base_index: int
) -> list[dict[str, Any]]:
    """shard_rows flattens accepted records (in ledger order) into shard rows."""
    return [
        {
            **{f.name: r["fields"].get(f.name) for f in schema.fields},
            "contributor_id": r["contributor_id"],
            "submitted_at": r["submitted_at"],
            "record_hash": r["record_hash"],
            "ledger_index": base_index + i,
            "run_id": run_id,
            "pii": json.dumps(r.get("pii", {}), sort_keys=True, separators=(",", ":")),
        }
        for i, r in enumerate(accepted)
    ]


def shard_name(run_id: str, part: int) -> str:
    """shard_name is the shard's path relative to the output folder."""
    return f"shards/{run_id}/part-{part:05d}.parquet"


def write_shards(
    out_dir: Path, rows: list[dict[str, Any]], schema: SchemaConfig, run_id: str, shard_size: int, compression: str
) -> list[str]:
    """write_shards writes rows in order into shards of ``shard_size`` rows; returns their names."""
    arrow = shard_schema(schema)
    names = []
    for part, start in enumerate(range(0, len(rows), shard_size)):
        name = shard_name(run_id, part)
        write_table(out_dir / name, pa.Table.from_pylist(rows[start : start + shard_size], schema=arrow), compression)
        names.append(name)
    return names


def write_rows(path: Path, rows: list[dict[str, Any]], schema: pa.Schema, compression: str = "zstd") -> None:
    """write_rows writes plain rows with a fixed schema (quarantine, duplicates, dedup state)."""
    write_table(path, pa.Table.from_pylist(rows, schema=schema), compression)


class _StageBatch(beam.DoFn):
    """Write one batch to the staging folder under a name derived from its content (retry-safe)."""

    def __init__(self, folder: str, kind: str) -> None:
        self.folder, self.kind = folder, kind

    def process(self, batch: list[dict[str, Any]]) -> None:
        import hashlib
        import pickle

        data = pickle.dumps(batch, protocol=5)
        name = hashlib.sha256(data).hexdigest()[:24]
        path = Path(self.folder) / self.kind / f"{name}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


class StageBatches(beam.PTransform):
    """StageBatches writes batches of plain dicts under ``<folder>/<kind>/`` for the commit step.

    Staging is private to one run; the commit step reads it back, orders
    rows deterministically and writes the published files.
    """

    def __init__(self, datanet: Datanet, folder: Path, kind: str) -> None:
        super().__init__()
        self.folder, self.kind = str(folder), kind

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Write" >> beam.ParDo(_StageBatch(self.folder, self.kind))


def read_staged(folder: Path, kind: str) -> list[dict[str, Any]]:
    """read_staged loads every staged batch of one kind (order is not meaningful)."""
    import pickle

    rows: list[dict[str, Any]] = []
    d = folder / kind
    for p in sorted(d.glob("*.pkl")) if d.exists() else []:
        rows.extend(pickle.loads(p.read_bytes()))
    return rows
