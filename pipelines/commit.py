"""Stage 8, commit: publish a run's staged outputs as shards, ledger entries and a checkpoint.

Order of writes (each idempotent, so a rerun after a crash at any point
gives exactly the outputs of an uninterrupted run):

1. accepted records are ordered (submitted_at, source order) and hashed;
   a record whose stored hash is already on the ledger or earlier in the
   run (different text that anonymises to the same record) becomes a
   duplicate of it;
2. the ledger base index is the ledger size, or, if a previous attempt
   already appended part of this run, the index of its first entry;
3. shards, quarantine, duplicates and dedup state are (re)written atomically;
4. missing ledger entries are appended in batches, then a checkpoint signed;
5. ``runs/<run_id>/COMMITTED.json`` marks the run done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.checkpoint import Signer
from ledger.entries import contribution, decode_entry
from ledger.log import Ledger
from ledger.storage import write_atomic
from pipelines.config import Datanet
from pipelines.dedup.clusters import duplicate_row
from pipelines.faults import crash_point
from pipelines.plan import RunPlan
from pipelines.records import order_key, record_hash
from pipelines.write import (
    DUPLICATES_SCHEMA,
    QUARANTINE_SCHEMA,
    STATE_SCHEMA,
    shard_name,
    shard_rows,
    write_rows,
    write_shards,
)


class CommitError(RuntimeError):
    """The ledger and this run's outputs disagree in a way a rerun cannot repair."""


@dataclass
class Staged:
    """A run's staged outputs, as read back from the staging folder."""

    accepted: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    blank: int


def hash_accepted(
    staged: Staged, dn: Datanet, ledger: Ledger, run_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """hash_accepted orders accepted records, adds ``record_hash`` and splits off post-anonymisation copies.

    A record is a copy if its hash is on the ledger from another run, or
    appears earlier in this run; entries this run appended in an earlier,
    interrupted attempt are recognised by their ``run`` field.
    """
    names = [f.name for f in dn.schema.fields]
    ordered = sorted(staged.accepted, key=order_key)
    for r in ordered:
        r["record_hash"] = record_hash({n: r["fields"].get(n) for n in names})
    on_ledger = ledger.find_many([r["record_hash"] for r in ordered])
    other_runs = {h for h, i in on_ledger.items() if decode_entry(ledger.entry(i)).get("run") != run_id}
    kept, copies, seen = [], [], set()
    for r in ordered:
        h = r["record_hash"]
        if h in other_runs or h in seen:
            copies.append(
                duplicate_row(r, {"kind": "exact_after_anonymisation", "of_id": None, "of_hash": h, "similarity": 1.0})
            )
            continue
        seen.add(h)
        kept.append(r)
    return kept, copies


def ledger_base(kept: list[dict[str, Any]], ledger: Ledger) -> tuple[int, int]:
    """ledger_base returns (base index, entries already appended) for this run's records.

    Raises CommitError unless the already-appended entries are exactly a
    prefix of ``kept`` at consecutive indexes.
    """
    found = ledger.find_many([r["record_hash"] for r in kept])
    if not found:
        return ledger.size, 0
    base = found[kept[0]["record_hash"]] if kept[0]["record_hash"] in found else -1
    done = 0
    while done < len(kept) and kept[done]["record_hash"] in found:
        if found[kept[done]["record_hash"]] != base + done:
            raise CommitError(f"ledger entry {found[kept[done]['record_hash']]} is out of place for this run")
        done += 1
    if base < 0 or done != len(found) or base + done != ledger.size:
        raise CommitError("the ledger holds part of this run, but not as its last entries")
    return base, done


def resolve_duplicates(dups: list[dict[str, Any]], kept: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """resolve_duplicates fills ``duplicate_of`` with the kept record's hash, in source order."""
    by_id = {r["id"]: r["record_hash"] for r in kept}
    out = []
    for d in sorted(dups, key=lambda d: (d["id"].split("/")[0], *map(int, d["id"].split("/")[1:]))):
        of = d["duplicate_of"] or by_id.get(str(d["duplicate_of_id"]))
        out.append(
            {
                "file": d["file"],
                "line": d["line"],
                "contributor_id": d["contributor_id"],
                "submitted_at": d["submitted_at"],
                "content_key": d["content_key"],
                "kind": d["kind"],
                "duplicate_of": of,
                "similarity": float(d["similarity"]),
                "run_id": run_id,
            }
        )
    return out


def publish_files(
    dn: Datanet, plan: RunPlan, staged: Staged, kept: list[dict[str, Any]], dups: list[dict[str, Any]], base: int
) -> list[str]:
    """publish_files (re)writes shards, quarantine, duplicates and dedup state; returns shard names."""
    out, run_id, o = dn.out_dir, plan.run_id, dn.config.output
    rows = shard_rows(kept, dn.schema, run_id, base)
    shards = write_shards(out, rows, dn.schema, run_id, o.shard_rows, o.compression)
    quarantine = sorted(staged.quarantine, key=lambda q: (q["file"], q["line"], q["stage"], q["reason"]))
    write_rows(
        out / "quarantine" / f"{run_id}.parquet", [{**q, "run_id": run_id} for q in quarantine], QUARANTINE_SCHEMA
    )
    write_rows(out / "duplicates" / f"{run_id}.parquet", resolve_duplicates(dups, kept, run_id), DUPLICATES_SCHEMA)
    state = [
        {
            "content_key": r["content_key"],
            "record_hash": r["record_hash"],
            "ledger_index": base + i,
            "minhash": r["minhash"],
        }
        for i, r in enumerate(kept)
    ]
    write_rows(out / "state" / f"dedup-{run_id}.parquet", state, STATE_SCHEMA)
    return shards


def append_contributions(
    dn: Datanet, plan: RunPlan, kept: list[dict[str, Any]], ledger: Ledger, base: int, done: int, signer: Signer
) -> str:
    """append_contributions appends the missing contribution entries and signs a checkpoint."""
    size, batch = dn.config.output.shard_rows, dn.config.ledger.batch_size
    for start in range(done, len(kept), batch):
        chunk = kept[start : start + batch]
        ledger.append(
            [
                contribution(
                    dn.name,
                    r["record_hash"],
                    r["contributor_id"],
                    shard_name(plan.run_id, (start + i) // size),
                    (start + i) % size,
                    plan.run_id,
                )
                for i, r in enumerate(chunk)
            ]
        )
        crash_point("ledger-batch")
    return ledger.sign(signer)


def mark_committed(dn: Datanet, plan: RunPlan, report: dict[str, Any]) -> None:
    """mark_committed writes the run's report and its COMMITTED manifest (atomically, last)."""
    run_dir = dn.out_dir / "runs" / plan.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    body = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
    write_atomic(run_dir / "report.json", body)
    write_atomic(dn.out_dir / "report.json", body)
    manifest = {
        "run_id": plan.run_id,
        "seq": plan.seq,
        "inputs": plan.digests,
        "ledger": report["ledger"],
        "shards": report["shards"],
    }
    write_atomic(run_dir / "COMMITTED.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def shard_paths(dn: Datanet) -> list[Path]:
    """shard_paths lists the shards of committed runs only, in ledger order."""
    from pipelines.plan import committed_runs

    return [dn.out_dir / s for r in committed_runs(dn) for s in r["shards"]]
