"""Output layouts shared by the writer, the driver and every downstream job.

The Arrow schemas of shards, duplicates, quarantine and the contributor map,
and the paths of each split's files under a Datanet's output folder. They
live here, below the stages and the downstream jobs, so that reading a shard
never imports the writer (or Apache Beam). Changing any of them changes the
bytes of every published file: it is a format change.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import pyarrow as pa

from pipelines.core.config import SchemaConfig

ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "boolean": pa.bool_()}

QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("payload", pa.binary()),
        ("contributor_id", pa.string()),  # the pseudonym of the contributor the line named, if readable
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


CONTRIBUTORS_SCHEMA = pa.schema([("pseudonym", pa.string()), ("contributor_id", pa.string())])


def fields_type(schema: SchemaConfig) -> pa.StructType:
    """fields_type is a record's schema fields as one Arrow struct, each typed as its shard column."""
    return pa.struct([(f.name, ARROW_TYPES[f.type]) for f in schema.fields])


def shard_schema(schema: SchemaConfig) -> pa.Schema:
    """shard_schema is the Arrow schema of a shard: schema fields, then provenance columns."""
    cols = [(f.name, f.type) for f in fields_type(schema)]
    cols += [
        ("contributor_id", pa.string()),
        ("submitted_at", pa.string()),
        ("record_hash", pa.string()),
        ("ledger_index", pa.int64()),
        ("run_id", pa.string()),
        ("pii", pa.string()),
    ]
    return pa.schema(cols)


def shard_name(run_id: str, split: int, part: int) -> str:
    """shard_name is a shard's path relative to the output folder."""
    return f"shards/{run_id}/part-{split:05d}-{part:03d}.parquet"


def part_name(kind: str, run_id: str, split: int) -> str:
    """part_name is the path of a split's duplicates, quarantine or state file, relative to the output folder."""
    return f"{kind}/{run_id}/part-{split:05d}.parquet"


class FileEntry(TypedDict):
    """One file a split wrote: path relative to the output folder, kind, rows, size and SHA-256 of its bytes."""

    path: str
    kind: str  # shard | duplicates | quarantine | state | contributors
    rows: int
    bytes: int
    sha256: str


class SplitManifest(TypedDict):
    """What step 7 (``stages.write.write_split``) reports for one split; the run manifest is a list of these.

    The driver checks ``read == accepted + duplicates + quarantined`` per
    split and every file's hash before anything irreversible
    (``driver.commit``), and sums them into the run report (``driver.outcome``).
    """

    split: int
    writer: str  # host/pid of the worker that wrote it
    tallies: int
    distinct_places: int
    read: int
    blank: int
    accepted: int
    first_index: int
    duplicates: int
    quarantined: int
    duplicate_kinds: dict[str, int]
    quarantine_reasons: dict[str, int]
    quarantine_stages: dict[str, int]
    pii: dict[str, int]
    records_with_pii: int
    files: list[FileEntry]
    table_stats: NotRequired[dict[str, Any]]  # pipelines.stages.table_stats.split_stats, when a check needs it
