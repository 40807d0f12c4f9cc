"""One ingest run end to end: plan, Beam pipeline, commit, report.

``ingest(datanet)`` is what ``datanet ingest NAME`` and ``make ingest`` call.
Guarantees: one run at a time per Datanet (a lock file); every record read
ends accepted, duplicate or quarantined, and the run fails loudly
(``AccountingError``) rather than publish counts that do not add up; a
rerun after a crash at any point gives the uninterrupted result.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger import checkpoint as keys
from ledger.log import Ledger
from pipelines.commit import (
    Staged,
    append_contributions,
    hash_accepted,
    ledger_base,
    mark_committed,
    publish_files,
)
from pipelines.config import Datanet
from pipelines.faults import crash_point
from pipelines.plan import RunPlan, load_prior, plan_run
from pipelines.write import read_staged

Progress = Callable[[str], None]


class AccountingError(RuntimeError):
    """Counts do not add up: read != accepted + duplicates + quarantined."""


class RunBusyError(RuntimeError):
    """Another ingest run of the same Datanet is in progress."""


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _lock(dn: Datanet) -> int:
    dn.out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(dn.out_dir / "INGEST.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunBusyError(f"another ingest of {dn.name} is running (lock {dn.out_dir / 'INGEST.lock'})") from None
    return fd


def signer_for(dn: Datanet, progress: Progress) -> keys.Signer:
    """signer_for loads the Datanet's signing key, generating a local one on first use."""
    if not dn.key_path.exists():
        keys.save_signer(dn.key_path, keys.generate(dn.origin))
        progress(f"  generated signing key {dn.key_path} (local, not for production)")
    return keys.load_signer(dn.key_path)


def pii_salt(dn: Datanet) -> bytes:
    """pii_salt is the Datanet's secret salt for the ``hash`` operator, kept beside its key."""
    path = dn.key_path.with_suffix(".salt")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(32))
        os.chmod(path, 0o600)
    return path.read_bytes()


def _stage(dn: Datanet, plan: RunPlan, overrides: dict[str, Any] | None, progress: Progress) -> Path:
    staging = dn.out_dir / "runs" / plan.run_id / "staging"
    if (staging / "DONE").exists():
        progress("  staging of an interrupted attempt is complete; reusing it")
        return staging
    from pipelines.curate import run_beam

    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    prior = load_prior(dn, plan)
    progress(f"  beam: {len(plan.specs)} input unit(s), {len(prior.hashes)} records from earlier runs")
    run_beam(dn, plan.specs, prior, pii_salt(dn), staging, overrides)
    (staging / "DONE").touch()
    crash_point("staged")
    return staging


def build_report(
    dn: Datanet,
    plan: RunPlan,
    staged: Staged,
    kept: list[dict[str, Any]],
    dups: list[dict[str, Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """build_report counts per stage and reason; raises AccountingError if they do not add up."""
    q_reason = Counter(q["reason"] for q in staged.quarantine)
    q_stage = Counter(q["stage"] for q in staged.quarantine)
    d_kind = Counter(d["kind"] for d in dups)
    pii: Counter[str] = Counter()
    for r in kept:
        pii.update(r.get("pii", {}))
    read = extra.pop("read")
    report = {
        "datanet": dn.name,
        "run_id": plan.run_id,
        "seq": plan.seq,
        "inputs": sorted(plan.digests),
        "read": read,
        "accepted": len(kept),
        "duplicates": {"total": len(dups), **dict(sorted(d_kind.items()))},
        "quarantined": {
            "total": len(staged.quarantine),
            "by_stage": dict(sorted(q_stage.items())),
            "by_reason": dict(sorted(q_reason.items())),
        },
        "blank_lines_skipped": staged.blank,
        "pii": {"records_with_pii": sum(1 for r in kept if r.get("pii")), "entities": dict(sorted(pii.items()))},
        **extra,
    }
    if read != len(kept) + len(dups) + len(staged.quarantine):
        raise AccountingError(
            f"read {read} != accepted {len(kept)} + duplicates {len(dups)} + quarantined {len(staged.quarantine)}"
        )
    return report


def _table_checks(dn: Datanet, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from pipelines.validate import Validator, is_row_level, to_frame

    specs = [s for s in dn.config.validation.expectations if not is_row_level(s)]
    if not specs:
        return []
    return Validator(specs).table_results(to_frame(kept, [f.name for f in dn.schema.fields]))


def ingest(dn: Datanet, overrides: dict[str, Any] | None = None, progress: Progress = _stderr) -> dict[str, Any]:
    """ingest runs one incremental ingest of a Datanet and returns its report."""
    fd = _lock(dn)
    try:
        return _ingest_locked(dn, overrides, progress)
    finally:
        os.close(fd)


def _ingest_locked(dn: Datanet, overrides: dict[str, Any] | None, progress: Progress) -> dict[str, Any]:
    t0 = time.perf_counter()
    plan = plan_run(dn)
    for run in plan.prior_runs:  # a crash after COMMITTED may leave a staging folder behind
        shutil.rmtree(dn.out_dir / "runs" / run["run_id"] / "staging", ignore_errors=True)
    progress(f"[1/3] plan: run {plan.run_id} (#{plan.seq}), {len(plan.specs)} new input unit(s)")
    if plan.empty:
        progress("nothing new to ingest: every input was ingested by an earlier run")
        return {
            "datanet": dn.name,
            "run_id": None,
            "read": 0,
            "accepted": 0,
            "duplicates": {"total": 0},
            "quarantined": {"total": 0},
        }
    signer = signer_for(dn, progress)
    staging = _stage(dn, plan, overrides, progress)
    t1 = time.perf_counter()
    progress(f"[2/3] beam pipeline done in {t1 - t0:.1f}s")
    records = read_staged(staging, "accepted")
    tally = read_staged(staging, "tally")
    staged = Staged(
        records,
        read_staged(staging, "duplicates"),
        read_staged(staging, "quarantine"),
        sum(int(t["blank"]) for t in tally),
    )
    with Ledger(dn.ledger_dir, writer=True, create=True) as led:
        kept, copies = hash_accepted(staged, dn, led, plan.run_id)
        dups = staged.duplicates + copies
        base, done = ledger_base(kept, led)
        shards = publish_files(dn, plan, staged, kept, dups, base)
        crash_point("published")
        note = append_contributions(dn, plan, kept, led, base, done, signer)
        crash_point("signed")
        ledger_info = {
            "first_index": base,
            "entries": len(kept),
            "size": led.size,
            "root": led.root.hex(),
            "checkpoint": note,
        }
    read = sum(int(t["items"]) for t in tally)
    t2 = time.perf_counter()
    input_bytes = sum(_unit_bytes(Path(s.path)) for s in plan.specs)
    report = build_report(
        dn,
        plan,
        staged,
        kept,
        dups,
        {
            "read": read,
            "shards": shards,
            "ledger": ledger_info,
            "validation": {"table": _table_checks(dn, kept)},
            "timings": {
                "pipeline_s": round(t1 - t0, 3),
                "commit_s": round(t2 - t1, 3),
                "total_s": round(t2 - t0, 3),
                "input_bytes": input_bytes,
            },
        },
    )
    mark_committed(dn, plan, report)
    crash_point("reported")
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"[3/3] committed: {len(shards)} shard(s), ledger size {ledger_info['size']}")
    return report


def _unit_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def summary(report: dict[str, Any]) -> str:
    """summary renders a report as a few readable lines (counts only, never content)."""
    if report.get("run_id") is None:
        return f"{report['datanet']}: nothing new (0 records read)"
    q, d = report["quarantined"], report["duplicates"]
    t = report["timings"]
    rate = report["read"] / t["total_s"] if t["total_s"] else 0.0
    mb_s = t["input_bytes"] / 1e6 / t["total_s"] if t["total_s"] else 0.0
    lines = [
        f"Datanet {report['datanet']} run {report['run_id']}",
        f"  read         {report['read']:>8}",
        f"  accepted     {report['accepted']:>8}",
        f"  duplicates   {d['total']:>8}  " + ", ".join(f"{k} {v}" for k, v in d.items() if k != "total"),
        f"  quarantined  {q['total']:>8}  " + ", ".join(f"{k} {v}" for k, v in q["by_reason"].items()),
        f"  check        read = accepted + duplicates + quarantined "
        f"({report['read']} = {report['accepted']} + {d['total']} + {q['total']})",
        "  PII removed  " + (", ".join(f"{k} {v}" for k, v in report["pii"]["entities"].items()) or "none"),
        f"  ledger       size {report['ledger']['size']}, root {report['ledger']['root']}",
        f"  time         {t['total_s']:.1f}s ({rate:.0f} records/s, {mb_s:.2f} MB/s)",
    ]
    for check in report.get("validation", {}).get("table", []):
        lines.append(f"  table check  {check['expectation']}: {'ok' if check['success'] else 'FAILED'}")
    return "\n".join(lines)
