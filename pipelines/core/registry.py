"""The run registry: which runs are published, and where each run's files live.

A run is published exactly when ``runs/<run_id>/COMMITTED.json`` exists; it
lists the run's shards in ledger order. Everything that reads a Datanet
(``read``, ``usage``, ``payout``, the next ingest) asks this module, so a
reader never sees a run that is still being written or was abandoned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.core.config import Datanet


def run_dir(dn: Datanet, run_id: str) -> Path:
    """run_dir is the folder of a run's reports and manifests."""
    return dn.out_dir / "runs" / run_id


def output_dirs(dn: Datanet, run_id: str) -> list[Path]:
    """output_dirs are the folders a run's pipeline writes (shards, duplicates, quarantine, state, contributors)."""
    return [dn.out_dir / kind / run_id for kind in ("shards", "duplicates", "quarantine", "state", "contributors")]


def committed_runs(dn: Datanet) -> list[dict[str, Any]]:
    """committed_runs lists earlier runs' COMMITTED manifests in run order."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in (dn.out_dir / "runs").glob("*/COMMITTED.json")]
    return sorted(runs, key=lambda r: int(r["seq"]))


def shard_paths(dn: Datanet) -> list[Path]:
    """shard_paths lists the shards of committed runs only, in ledger order."""
    return [dn.out_dir / s for r in committed_runs(dn) for s in r["shards"]]


def run_files(dn: Datanet, kind: str) -> list[Path]:
    """run_files lists committed runs' ``duplicates``, ``quarantine`` or ``contributors`` files, in run order.

    Runs committed before these were listed in ``COMMITTED.json`` kept one
    file per run, ``<kind>/<run_id>.parquet``.
    """
    out: list[Path] = []
    for r in committed_runs(dn):
        if kind in r:
            out += [dn.out_dir / p for p in r[kind]]
        elif (dn.out_dir / kind / f"{r['run_id']}.parquet").exists():
            out.append(dn.out_dir / kind / f"{r['run_id']}.parquet")
    return out


def uncommitted_runs(dn: Datanet) -> list[tuple[str, dict[str, Any]]]:
    """uncommitted_runs lists (run id, PIPELINE.json) of runs whose pipeline finished but that are not committed."""
    committed = {r["run_id"] for r in committed_runs(dn)}
    return [
        (path.parent.name, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted((dn.out_dir / "runs").glob("*/PIPELINE.json"))
        if path.parent.name not in committed
    ]


def started_runs(dn: Datanet, ledger_size: int) -> list[tuple[str, dict[str, Any]]]:
    """started_runs are the uncommitted runs whose ledger appends had begun (the ledger grew past their base)."""
    return [(run_id, done) for run_id, done in uncommitted_runs(dn) if ledger_size > int(done["base"])]


def refuse_if_ingest_unfinished(dn: Datanet, ledger_size: int) -> None:
    """refuse_if_ingest_unfinished raises RuntimeError if an ingest run stopped part-way through its ledger appends.

    Its remaining entries must follow its first ones; anything else appended
    first (usage, a payout) would make the run impossible to finish. Call it
    holding the ledger's writer lock.
    """
    for run_id, _ in started_runs(dn, ledger_size)[:1]:
        raise RuntimeError(
            f"ingest run {run_id} of {dn.name} stopped part-way through its ledger entries; "
            f"run `datanet ingest {dn.name}` to finish it first"
        )
