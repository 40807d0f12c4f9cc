"""Run planning: which input files are new, the run's deterministic id, and what earlier runs left.

A Datanet grows over runs. Each committed run records the digests of the
input units it consumed (``runs/<run_id>/COMMITTED.json``); a new run takes
only units whose digest no committed run has seen, so re-running the same
inputs adds nothing. The run id is a hash of the effective config, the
earlier run ids and the new units' digests, so a rerun after a crash gets
the same id and produces the same outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipelines.config import Datanet
from pipelines.dedup.clusters import Prior
from pipelines.ingest import FileSpec


@dataclass
class RunPlan:
    """What one ingest run will do."""

    run_id: str
    seq: int
    specs: list[FileSpec]
    digests: dict[str, str]
    prior_runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.specs


def _digest_file(path: Path, h: Any) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def unit_digest(spec: FileSpec) -> str:
    """unit_digest hashes an input unit's bytes (a file, or a textdir's manifest and texts)."""
    h = hashlib.sha256()
    try:
        if spec.format == "textdir":
            _digest_file(Path(str(spec.manifest)), h)
            for p in sorted(Path(spec.path).rglob("*.txt")):
                h.update(p.relative_to(spec.path).as_posix().encode() + b"\0")
                _digest_file(p, h)
        else:
            _digest_file(Path(spec.path), h)
    except OSError:
        h.update(b"unreadable:" + spec.rel.encode())  # still a unit: ingest quarantines it
    return h.hexdigest()


def committed_runs(dn: Datanet) -> list[dict[str, Any]]:
    """committed_runs lists earlier runs' COMMITTED manifests in run order."""
    runs = []
    for p in (dn.out_dir / "runs").glob("*/COMMITTED.json"):
        runs.append(json.loads(p.read_text(encoding="utf-8")))
    return sorted(runs, key=lambda r: int(r["seq"]))


def input_units(dn: Datanet) -> list[FileSpec]:
    """input_units lists every input unit of the declaration, in source order."""
    specs: list[FileSpec] = []
    for i, src in enumerate(dn.config.sources):
        if src.format == "textdir":
            folder = dn.root / src.path
            specs.append(
                FileSpec(
                    i,
                    len(specs),
                    str(folder),
                    src.path.rstrip("/"),
                    "textdir",
                    str(dn.root / str(src.manifest)),
                    str(src.manifest),
                )
            )
            continue
        for path in dn.source_files(i):
            specs.append(FileSpec(i, len(specs), str(path), os.path.relpath(path, dn.root), src.format))
    return specs


def plan_run(dn: Datanet) -> RunPlan:
    """plan_run decides which units are new and names the run."""
    prior = committed_runs(dn)
    seen = {d for r in prior for d in r["inputs"].values()}
    todo, digests = [], {}
    for spec in input_units(dn):
        d = unit_digest(spec)
        if d not in seen:
            todo.append(spec)
            digests[spec.rel] = d
    body = {"config": dn.digest(), "prior": [r["run_id"] for r in prior], "inputs": digests}
    run_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return RunPlan(run_id, len(prior) + 1, todo, digests, prior)


def load_prior(dn: Datanet, plan: RunPlan) -> Prior:
    """load_prior reads the dedup state of every committed run (content keys, signatures) in ledger order."""
    key_to_hash: dict[str, str] = {}
    hashes: list[str] = []
    sigs: list[np.ndarray] = []
    for run in plan.prior_runs:
        path = dn.out_dir / "state" / f"dedup-{run['run_id']}.parquet"
        for row in pq.read_table(path).to_pylist():
            key_to_hash.setdefault(row["content_key"], row["record_hash"])
            hashes.append(row["record_hash"])
            sigs.append(np.frombuffer(row["minhash"], dtype=np.uint32))
    arr = np.stack(sigs) if sigs else np.empty((0, dn.config.dedup.near.num_perm), dtype=np.uint32)
    return Prior(key_to_hash, hashes, arr)
