"""Dedup state: what later runs deduplicate against, self-describing.

Each run writes ``state/<run>/part-<split>.parquet`` with one row per accepted
record: ``content_key``, ``record_hash``, ``ledger_index``, the MinHash
``minhash`` and the keyed ``shingles``. The file's metadata holds the
parameters that made them (normalisation, ``num_perm``, seed, shingle size,
bands and rows, and a fingerprint of the salt). A later run with other
parameters never compares unlike signatures: ``prior_sources`` sends that
run's published shards to be re-sketched instead, from their stored
(anonymised) text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from pipelines.core import fs
from pipelines.core.config import Datanet, DedupConfig
from pipelines.stages.dedup.minhash import near_bands

STATE_SCHEMA = pa.schema(
    [
        ("content_key", pa.string()),
        ("record_hash", pa.string()),
        ("ledger_index", pa.int64()),
        ("minhash", pa.binary()),
        ("shingles", pa.binary()),
    ]
)
META_KEY = b"datanets.dedup"


def state_params(cfg: DedupConfig, salt_fp: str) -> dict[str, Any]:
    """state_params are the parameters that make two runs' signatures and shingles comparable."""
    bands, rows = near_bands(cfg.near)
    return {
        "v": 3,  # 3: content keys are keyed by the salt (records.content_key)
        "normalise": cfg.normalise.model_dump(mode="json"),
        "num_perm": cfg.near.num_perm,
        "seed": cfg.near.seed,
        "shingle_size": cfg.near.shingle_size,
        "bands": bands,
        "rows": rows,
        "salt": salt_fp,
    }


def state_schema(params: dict[str, Any]) -> pa.Schema:
    """state_schema is the state file schema carrying ``params`` in its metadata."""
    return STATE_SCHEMA.with_metadata({META_KEY: json.dumps(params, sort_keys=True).encode()})


def read_params(path: str) -> dict[str, Any] | None:
    """read_params returns a state file's parameters, or None for a file without them (older format)."""
    import pyarrow.parquet as pq

    with fs.open_read(path) as f:
        meta = pq.read_schema(f).metadata or {}
    return json.loads(meta[META_KEY]) if META_KEY in meta else None


def prior_sources(dn: Datanet, runs: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """prior_sources yields ("state", path) per usable state file, ("shards", path) per shard to re-sketch.

    A committed run whose state files all carry ``params`` is read from its
    state; any other run (older format, other parameters or salt) from its
    published shards.
    """
    for run in runs:
        parts = fs.list_files(str(dn.out_dir / "state" / run["run_id"] / "*.parquet"))
        if parts and all(read_params(p) == params for p in parts):
            yield from (("state", p) for p in parts)
        else:
            yield from (("shards", str(dn.out_dir / s)) for s in run["shards"])
