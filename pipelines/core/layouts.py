"""Output layouts shared by the writer, the driver and every downstream job.

The Arrow schemas of shards, duplicates, quarantine and the contributor map,
and the paths of each split's files under a Datanet's output folder. They
live here, below the stages and the downstream jobs, so that reading a shard
never imports the writer (or Apache Beam). Changing any of them changes the
bytes of every published file: it is a format change.
"""

from __future__ import annotations

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


def shard_name(run_id: str, split: int, part: int) -> str:
    """shard_name is a shard's path relative to the output folder."""
    return f"shards/{run_id}/part-{split:05d}-{part:03d}.parquet"


def part_name(kind: str, run_id: str, split: int) -> str:
    """part_name is the path of a split's duplicates, quarantine or state file, relative to the output folder."""
    return f"{kind}/{run_id}/part-{split:05d}.parquet"
