"""Between validate and write: each valid record is written once, to its split's spill folder, by the worker
that scrubbed and validated it; only compact dedup nodes travel on through the shuffles.

``spill_batch`` adds ``record_hash`` to a batch of valid records, writes the
batch as one Arrow IPC file (``<spill_dir>/split-<split>/batch-<first id>.arrow``,
0600: it holds contributor IDs) through ``pipelines.core.fs``, and returns
the batch's dedup nodes: priority ``key``, ``content_key``,
``record_hash``, ``minhash``, ``shingles`` and ``split`` (no text, no
fields). A retried batch overwrites its own file, so a split's folder holds
every valid record of the split exactly once. A record's ``fields`` are
stored as the RFC 8785 JSON of its schema fields: the very bytes its
``record_hash`` is the SHA-256 of. ``read_spill`` reads a split's records
back for the split writer (``pipelines.stages.write``); it holds one split
at a time.

The spill folder belongs to one pipeline attempt; the driver removes it once
the attempt's outputs are written and checked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa

from ledger.entries import canonical_json
from pipelines.core import fs
from pipelines.core.progress import tick
from pipelines.core.records import HashedRecord, ScrubbedRecord, hash_of_canonical
from pipelines.stages.dedup.graph import current_key

SPILL_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("split", pa.int64()),
        ("order", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("contributor_id", pa.string()),
        ("submitted_at", pa.string()),
        ("fields", pa.string()),
        ("pii", pa.string()),
        ("content_key", pa.string()),
        ("record_hash", pa.string()),
        ("minhash", pa.binary()),
        ("shingles", pa.binary()),
    ]
)
_JSON = ("order", "pii")  # "fields" is stored as the canonical JSON its record hash covers
_DECODED = ("fields", *_JSON)  # what read_spill parses back per row
_TO_JSON = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(v, ensure_ascii=False), one encoder
NODE_KEYS = ("content_key", "record_hash", "minhash", "shingles", "split")


def split_folder(spill_dir: str, split: int) -> str:
    """split_folder is the folder holding one split's spilled records."""
    return fs.join(spill_dir, f"split-{split:05d}")


def dedup_folder(spill_dir: str) -> str:
    """dedup_folder holds the attempt's dedup batch files (``pipelines.stages.dedup.packed``), beside the splits."""
    return fs.join(spill_dir, "dedup")


def hashed(batch: list[ScrubbedRecord], names: list[str]) -> tuple[list[HashedRecord], list[str]]:
    """hashed adds ``record_hash`` (of the schema fields as stored) to each record; also returns each record's
    stored fields as the canonical JSON that hash is taken over (what the spill keeps, so it is encoded once)."""
    out: list[HashedRecord] = []
    stored: list[str] = []
    for r in batch:
        body = canonical_json({n: r["fields"].get(n) for n in names})
        out.append({**r, "record_hash": hash_of_canonical(body)})
        stored.append(body.decode("utf-8"))
    return out, stored


def _encode(rows: list[HashedRecord], stored: list[str]) -> bytes:
    cols: dict[str, list[Any]] = {
        name: [_TO_JSON(r[name]) for r in rows]  # type: ignore[literal-required]
        if name in _JSON
        else [r[name] for r in rows]  # type: ignore[literal-required]
        for name in SPILL_SCHEMA.names
        if name != "fields"
    }
    cols["fields"] = stored
    buf = io.BytesIO()
    with pa.ipc.new_file(buf, SPILL_SCHEMA) as w:
        w.write_table(pa.table(cols, schema=SPILL_SCHEMA))
    return buf.getvalue()


def _decode(data: bytes) -> Iterator[HashedRecord]:
    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    for row in table.to_pylist():
        for name in _DECODED:
            row[name] = json.loads(row[name])
        yield row


def spill_batch(batch: list[ScrubbedRecord], names: list[str], spill_dir: str) -> list[dict[str, Any]]:
    """spill_batch writes a batch of valid records of one split to its spill file; returns their dedup nodes."""
    if not batch:
        return []
    rows, stored = hashed(batch, names)
    name = "batch-" + rows[0]["id"].replace("/", "_") + ".arrow"
    fs.write_bytes(fs.join(split_folder(spill_dir, rows[0]["split"]), name), _encode(rows, stored), private=True)
    return [{"key": current_key(r["order"]), **{k: r[k] for k in NODE_KEYS}} for r in rows]  # type: ignore[literal-required]


def read_spill(spill_dir: str, split: int) -> list[HashedRecord]:
    """read_spill returns every record spilled for ``split`` (in no particular order)."""
    out: list[HashedRecord] = []
    for path in fs.list_files(fs.join(split_folder(spill_dir, split), "*.arrow")):
        out.extend(_decode(fs.read_bytes(path)))
    return out


class _Spill(beam.DoFn):
    def __init__(self, names: list[str], spill_dir: str, progress_dir: str) -> None:
        self.names, self.spill_dir, self.progress_dir = names, spill_dir, progress_dir

    def process(self, batch: list[ScrubbedRecord]) -> Iterator[tuple[str, Any]]:
        nodes = spill_batch(batch, self.names, self.spill_dir)
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

    def __init__(self, names: list[str], spill_dir: str, progress_dir: str = "") -> None:
        super().__init__()
        self.names, self.spill_dir, self.progress_dir = names, spill_dir, progress_dir

    def fn(self) -> beam.DoFn:
        """fn is this stage's DoFn (a batch in, tagged tuples out), for ``pipelines.stages.chain``."""
        return _Spill(self.names, self.spill_dir, self.progress_dir)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Spill" >> beam.ParDo(self.fn())
