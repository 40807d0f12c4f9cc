"""Between validate and write: each valid record is written once, to its split's spill folder, by the worker
that scrubbed and validated it; only compact dedup nodes travel on through the shuffles.

``spill_batch`` adds ``record_hash`` to a batch of valid records, writes the
batch as one Arrow IPC file (``<spill_dir>/split-<split>/batch-<first id>.arrow``,
0600: it holds contributor IDs) through ``pipelines.core.fs``, and returns
the batch's dedup nodes: priority ``key``, ``content_key``,
``record_hash``, ``minhash``, ``shingles`` and ``split`` (no text, no
fields). A retried batch overwrites its own file, so a split's folder holds
every valid record of the split exactly once. A record's ``fields`` are
stored as one struct column typed as the shard's columns, and ``pii`` as the
shard's ``pii`` string, so the split writer (``pipelines.stages.write``)
builds shards from Arrow columns without turning a record into Python
objects again. ``spill_table`` reads a split's spill back as one table (one
split at a time); ``read_spill`` as records, for tests and tools.

The spill folder belongs to one pipeline attempt; the driver removes it once
the attempt's outputs are written and checked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, cast

import apache_beam as beam
import pyarrow as pa

from ledger.entries import canonical_json
from pipelines.core import fs
from pipelines.core.progress import tick
from pipelines.core.records import HashedRecord, ScrubbedRecord, hash_of_canonical
from pipelines.stages.dedup.graph import current_key

_COLUMNS = [
    ("id", pa.string()),
    ("split", pa.int64()),
    ("order", pa.string()),
    ("file", pa.string()),
    ("line", pa.int64()),
    ("contributor_id", pa.string()),
    ("submitted_at", pa.string()),
    ("pii", pa.string()),
    ("content_key", pa.string()),
    ("record_hash", pa.string()),
    ("minhash", pa.binary()),
    ("shingles", pa.binary()),
]
_ORDER_JSON = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(order, ensure_ascii=False), one encoder
_PII_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode  # a shard's ``pii`` column, as stored
NODE_KEYS = ("content_key", "record_hash", "minhash", "shingles", "split")


def spill_schema(fields: pa.StructType) -> pa.Schema:
    """spill_schema is a spill file's Arrow schema: record columns, then ``fields`` as a struct of the schema's
    fields, typed as in a shard (``pipelines.core.layouts.fields_type``)."""
    return pa.schema([*_COLUMNS, ("fields", fields)])


def split_folder(spill_dir: str, split: int) -> str:
    """split_folder is the folder holding one split's spilled records."""
    return fs.join(spill_dir, f"split-{split:05d}")


def dedup_folder(spill_dir: str) -> str:
    """dedup_folder holds the attempt's dedup batch files (``pipelines.stages.dedup.packed``), beside the splits."""
    return fs.join(spill_dir, "dedup")


def hashed(batch: list[ScrubbedRecord], names: list[str]) -> tuple[list[HashedRecord], list[dict[str, Any]]]:
    """hashed adds ``record_hash`` (of the schema fields as stored) to each record; also returns each record's
    stored fields (the schema's fields, an absent one as None): what the spill keeps and the hash covers."""
    out: list[HashedRecord] = []
    stored: list[dict[str, Any]] = []
    for r in batch:
        fields = {n: r["fields"].get(n) for n in names}
        out.append({**r, "record_hash": hash_of_canonical(canonical_json(fields))})
        stored.append(fields)
    return out, stored


def _encode(rows: list[HashedRecord], stored: list[dict[str, Any]], fields: pa.StructType) -> bytes:
    cols: dict[str, Any] = {name: [r[name] for r in rows] for name, _ in _COLUMNS}  # type: ignore[literal-required]
    cols["order"] = [_ORDER_JSON(o) for o in cols["order"]]
    cols["pii"] = [_PII_JSON(p) for p in cols["pii"]]
    cols["fields"] = stored
    schema = spill_schema(fields)
    buf = io.BytesIO()
    with pa.ipc.new_file(buf, schema) as w:
        w.write_table(pa.table(cols, schema=schema))
    return buf.getvalue()


def spill_batch(batch: list[ScrubbedRecord], fields: pa.StructType, spill_dir: str) -> list[dict[str, Any]]:
    """spill_batch writes a batch of valid records of one split to its spill file; returns their dedup nodes.

    ``fields``: the schema's fields and their shard types; a value that does
    not fit its type fails here, as it would in the shard.
    """
    if not batch:
        return []
    rows, stored = hashed(batch, [f.name for f in fields])
    name = "batch-" + rows[0]["id"].replace("/", "_") + ".arrow"
    data = _encode(rows, stored, fields)
    fs.write_bytes(fs.join(split_folder(spill_dir, rows[0]["split"]), name), data, private=True)
    return [{"key": current_key(r["order"]), **{k: r[k] for k in NODE_KEYS}} for r in rows]  # type: ignore[literal-required]


def spill_table(spill_dir: str, split: int) -> pa.Table | None:
    """spill_table is every record spilled for ``split`` as one Arrow table (spill files in name order), or
    None when nothing was spilled."""
    paths = fs.list_files(fs.join(split_folder(spill_dir, split), "*.arrow"))
    tables = [pa.ipc.open_file(pa.py_buffer(fs.read_bytes(p))).read_all() for p in paths]
    return pa.concat_tables(tables) if tables else None


def read_spill(spill_dir: str, split: int) -> list[HashedRecord]:
    """read_spill returns every record spilled for ``split`` as records (``order`` and ``pii`` parsed back)."""
    table = spill_table(spill_dir, split)
    out = table.to_pylist() if table is not None else []
    for row in out:
        row["order"] = json.loads(row["order"])
        row["pii"] = json.loads(row["pii"])
    return cast(list[HashedRecord], out)


class _Spill(beam.DoFn):
    def __init__(self, fields: pa.StructType, spill_dir: str, progress_dir: str) -> None:
        self.fields, self.spill_dir, self.progress_dir = fields, spill_dir, progress_dir

    def process(self, batch: list[ScrubbedRecord]) -> Iterator[tuple[str, Any]]:
        nodes = spill_batch(batch, self.fields, self.spill_dir)
        if not nodes:
            return
        tick(self.progress_dir, "spill", batch[0]["id"].replace("/", "_"), {"records": len(nodes)})
        yield "valid", (nodes[0]["split"], len(nodes))
        yield "nodes", nodes


class SpillRecords(beam.PTransform):
    """SpillRecords writes batches of valid records to their split's spill folder.

    Output: ``("nodes", [node…])`` per batch (see ``spill_batch``) and
    ``("valid", (split, count))``, the count the split writer checks its
    spill folder against. ``pipelines.stages.read.select`` picks one.
    """

    def __init__(self, fields: pa.StructType, spill_dir: str, progress_dir: str = "") -> None:
        super().__init__()
        self.fields, self.spill_dir, self.progress_dir = fields, spill_dir, progress_dir

    def fn(self) -> beam.DoFn:
        """fn is this stage's DoFn (a batch in, tagged tuples out), for ``pipelines.stages.chain``."""
        return _Spill(self.fields, self.spill_dir, self.progress_dir)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Spill" >> beam.ParDo(self.fn())
