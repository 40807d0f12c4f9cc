"""One ingest run end to end: plan, Beam pipeline, commit, report.

``ingest(datanet)`` is what ``datanet ingest NAME`` and ``make ingest`` call.
Guarantees: one run at a time per Datanet (a lock file, and the ledger's
writer lock held from planning to commit, so the ledger base the shards were
numbered from cannot move); every record read ends accepted, duplicate or
quarantined, checked per split before anything irreversible
(``AccountingError`` otherwise); a rerun after a crash at any point gives
the uninterrupted result. A run whose ledger appends had begun is finished
first; one that had not is planned afresh over the inputs as they are now.
The guard rails (``outcome.refusal``) are checked after the pipeline and
before the first ledger append: a refused run publishes nothing. A dry run
(``RunOptions.dry_run``) writes only under ``<out>/dry-run`` and never
touches the ledger.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from typing import Any

from ledger.log import Ledger
from pipelines.core import fs
from pipelines.core.appender import LedgerWriter, publish
from pipelines.core.config import Datanet
from pipelines.core.errors import crash_point
from pipelines.core.keys import contributor_key_path, read_salt, salt_fingerprint, salt_path, signer_for
from pipelines.core.layouts import SplitManifest
from pipelines.core.progress import Watch, WorkerLog, tick
from pipelines.core.registry import committed_runs, output_dirs, run_dir, started_runs
from pipelines.core.withdrawal.apply import finish_started as finish_withdrawals
from pipelines.driver.checks import check_runnable
from pipelines.driver.commit import (
    AccountingError,
    CommitError,
    append_contributions,
    check_accounting,
    check_files,
    files_of,
    journal_dir,
    mark_committed,
    run_entry,
    shards_in_order,
    write_json,
)
from pipelines.driver.options import Progress, RunOptions
from pipelines.driver.outcome import RunRefused, build_report, quarantine_examples, refusal, summary
from pipelines.driver.plan import RunPlan, plan_run

PIPELINE = "PIPELINE.json"

__all__ = ["AccountingError", "CommitError", "RunBusyError", "RunRefused", "ingest", "summary"]


class RunBusyError(RuntimeError):
    """Another ingest run of the same Datanet is in progress."""


def _lock(dn: Datanet) -> int:
    dn.out_dir.mkdir(parents=True, exist_ok=True)
    for private in ("quarantine", "contributors"):  # raw input; who is behind each pseudonym: the curator's only
        (dn.out_dir / private).mkdir(mode=0o700, exist_ok=True)
        os.chmod(dn.out_dir / private, 0o700)
    fd = os.open(dn.out_dir / "INGEST.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunBusyError(f"another ingest of {dn.name} is running (lock {dn.out_dir / 'INGEST.lock'})") from None
    return fd


def ingest(dn: Datanet, opts: RunOptions | None = None, **options: Any) -> dict[str, Any]:
    """ingest runs one incremental ingest of a Datanet and returns its report.

    ``opts`` (``pipelines.driver.options.RunOptions``), or its fields as
    keywords (``ingest(dn, progress=print, html=True)``), say how.
    It waits up to ``wait`` seconds for the ledger's writer lock (held by an
    ``attribute``, ``usage record``, ``payout`` or ``index``), before the pipeline runs.

    With ``html`` (what ``datanet ingest`` does) the committed run also gets
    ``runs/<run>/report.html`` and Great Expectations Data Docs
    (``pipelines.driver.report``); the report's ``report_html`` names it.

    ``live`` shows progress while the pipeline runs (``pipelines.core.progress``):
    ``auto`` (bars on a terminal, else a line every 10 s), ``bars``,
    ``lines`` or ``off``; with a ``progress`` callback of its own, lines go
    to it. Beam's and its workers' own log lines go to the attempt's
    ``beam.log`` unless ``verbose``.

    The declaration's deep checks (``pipelines.driver.checks``) run first, so a
    config problem is one error naming its key, never a failure mid-run.
    """
    opts = opts or RunOptions(**options)
    check_runnable(dn, dict(opts.overrides or {}))
    fd = _lock(dn)
    if opts.dry_run:
        try:
            return _dry_run(dn, opts)
        finally:
            os.close(fd)
    try:
        with Ledger(dn.ledger_dir, writer=True, create=True, wait=opts.wait) as led:
            report = _ingest_locked(dn, led, opts)
    finally:
        os.close(fd)
    if report.get("run_id"):
        publish(dn, opts.progress)  # the run is committed; witnesses cosign its checkpoint (if any are named)
    if opts.html and report.get("run_id"):
        from pipelines.driver.report import write_report

        try:
            report["report_html"] = str(write_report(dn, report["run_id"]))
        except Exception as exc:  # the run is committed; a report that cannot be drawn is not a failed run
            opts.progress(f"  could not write report.html: {type(exc).__name__}: {exc}")
    return report


def _ingest_locked(dn: Datanet, led: Ledger, opts: RunOptions) -> dict[str, Any]:
    progress = opts.progress
    t0 = time.perf_counter()
    _finish_started(dn, led, progress)
    finish_withdrawals(dn, LedgerWriter(dn, led, progress), progress)  # a stopped withdrawal, before planning
    plan = plan_run(dn)
    progress(
        f"[1/3] plan: run {plan.run_id} (#{plan.seq}), {len(plan.specs)} new input unit(s), {len(plan.splits)} split(s)"
    )
    _discard_uncommitted(dn, keep=plan.run_id, progress=progress)
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
    signer_for(dn, progress)  # the signing key exists (or is made) before anything runs
    pipeline = _pipeline(dn, plan, led.size, opts)
    t1 = time.perf_counter()
    progress(f"[2/3] beam pipeline done in {t1 - t0:.1f}s")
    _guard(dn, pipeline, opts)
    return _commit(dn, pipeline, led, progress, t0, t1)


def _guard(dn: Datanet, done: dict[str, Any], opts: RunOptions) -> None:
    """The guard rails, before the first ledger append: raise RunRefused (nothing published) unless accepted."""
    draft = build_report(dn, done, [], {}, {}, examples=False)  # counts decide; examples only name a refusal
    why = refusal(draft, dn.config.validation.max_quarantine_share)
    if why is None:
        return
    if opts.accept_quarantine:
        opts.progress(f"  accepted on purpose (--accept-quarantine): {why.splitlines()[0]}")
        return
    draft["quarantined"]["examples"] = quarantine_examples(dn.out_dir, done["splits"])
    why = str(refusal(draft, dn.config.validation.max_quarantine_share))
    hint = (
        f"nothing was published; see every quarantined line with `datanet quarantine {dn.name} --run {done['run_id']}`,"
        " fix the inputs (or raise validation.max_quarantine_share), or commit it anyway with --accept-quarantine"
    )
    raise RunRefused(f"{why}\n{hint}")


def _scratch(dn: Datanet) -> Datanet:
    """The Datanet as a dry run writes it: outputs under ``<out>/dry-run``, the same keys and inputs."""
    cfg = dn.config.model_copy(
        update={
            "output": dn.config.output.model_copy(update={"dir": str(dn.out_dir / "dry-run")}),
            "ledger": dn.config.ledger.model_copy(update={"key": str(dn.key_path)}),
        }
    )
    return Datanet(cfg, dn.schema, dn.root, dn.path)


def _dry_run(dn: Datanet, opts: RunOptions) -> dict[str, Any]:
    """Plan and run the pipeline into ``<out>/dry-run``; report it; publish nothing, append nothing."""
    t0 = time.perf_counter()
    plan = plan_run(dn)
    opts.progress(f"[1/2] plan (dry run): run {plan.run_id}, {len(plan.specs)} new input unit(s)")
    if plan.empty:
        return {"datanet": dn.name, "run_id": None, "read": 0, "dry_run": True}
    scratch = _scratch(dn)
    fs.delete_tree(str(scratch.out_dir))
    base = 0
    if (dn.ledger_dir / "STATE").exists():
        with Ledger(dn.ledger_dir) as led:
            base = led.size
    manifests, attempt, table = _attempt(dn, plan, base, opts, scratch)
    t1 = time.perf_counter()
    opts.progress(f"[2/2] beam pipeline done in {t1 - t0:.1f}s; nothing is committed")
    shards = shards_in_order(manifests)
    done = {"run_id": plan.run_id, "seq": plan.seq, "inputs": plan.digests, "splits": manifests}
    done["table_checks"] = table
    ledger = {"size": base, "appended": 0}
    timings = {"pipeline_s": round(t1 - t0, 3), "total_s": round(t1 - t0, 3), "input_bytes": plan.input_bytes}
    report = build_report(scratch, done, shards, ledger, timings)
    report.update(dry_run=True, attempt=attempt, outputs=str(scratch.out_dir))
    report["refused"] = refusal(report, dn.config.validation.max_quarantine_share)
    write_json(str(run_dir(scratch, plan.run_id) / "report.json"), report)
    return report


def _pipeline(dn: Datanet, plan: RunPlan, base: int, opts: RunOptions) -> dict[str, Any]:
    """Run the pipeline (or reuse a checked, uncommitted result of the same run) and record PIPELINE.json."""
    path = run_dir(dn, plan.run_id) / PIPELINE
    if path.exists():
        done: dict[str, Any] = json_load(str(path))
        if done["base"] == base:
            check_files(dn, plan.run_id, done["splits"])
            opts.progress("  the pipeline of an interrupted attempt finished and checks out; reusing it")
            return done
    manifests, attempt, table = _attempt(dn, plan, base, opts)
    done = {
        "run_id": plan.run_id,
        "seq": plan.seq,
        "base": base,
        "inputs": plan.digests,
        "input_bytes": plan.input_bytes,
        "attempt": attempt,
        "splits": manifests,
        "table_checks": table,
    }
    write_json(str(path), done)
    crash_point("published")
    return done


def _attempt(
    dn: Datanet, plan: RunPlan, base: int, opts: RunOptions, out: Datanet | None = None
) -> tuple[list[SplitManifest], dict[str, Any], list[dict[str, Any]]]:
    """One attempt at the pipeline on clean output folders.

    Returns its checked split manifests, its identity and its table-level
    checks (``pipelines.stages.table_stats``: from the split writers'
    statistics, read back from the shards only where GX needs more).
    ``out`` is where the attempt writes (default ``dn`` itself; a dry run's
    scratch Datanet); keys, salt and earlier runs' dedup state are ``dn``'s.
    """
    from pipelines.stages.dedup.state import prior_sources, state_params
    from pipelines.stages.pipeline import RunInputs, run_beam, runner_name
    from pipelines.stages.write import WriteSpec

    out = out or dn
    progress, overrides = opts.progress, dict(opts.overrides or {})
    for folder in output_dirs(out, plan.run_id):
        fs.delete_tree(str(folder))
    attempt = uuid.uuid4().hex[:12]
    salt = salt_path(dn)
    params = state_params(dn.config.dedup, salt_fingerprint(read_salt(salt)))
    sources = list(prior_sources(dn, plan.prior_runs, params))
    if resketch := sum(1 for kind, _ in sources if kind == "shards"):
        progress(f"  dedup state of earlier runs has other parameters: re-sketching {resketch} published shard(s)")
    folder = run_dir(out, plan.run_id) / "attempts" / attempt
    manifest_path, ticks, spill = (str(folder / n) for n in ("manifest.json", "progress", "spill"))
    specs, stats = _table_plan(dn)
    key = contributor_key_path(dn)
    write = WriteSpec(str(out.out_dir), plan.run_id, dn.schema, dn.config.output, params, key, ticks, spill, stats)
    runner = runner_name(dn, overrides)
    progress(f"  beam: {runner.rsplit('.', 1)[-1]}, attempt {attempt}, {len(sources)} earlier-run source(s)")
    log = str(folder / "beam.log")
    tick(ticks, "start", "0", {})  # the clock the report's stage timings start from
    try:
        with WorkerLog(log, enabled=not opts.verbose), Watch(ticks, len(plan.splits), opts.live_mode, out=progress):
            run_beam(dn, RunInputs(plan.splits, sources, salt, write, base, manifest_path, ticks), overrides)
    except Exception:
        progress(f"  the pipeline failed; Beam's and the workers' own log: {log}")
        raise
    if not fs.exists(manifest_path):
        raise AccountingError(f"the runner reported success but wrote no run manifest ({manifest_path})")
    manifests: list[SplitManifest] = json_load(manifest_path)["splits"]
    check_accounting(manifests, len(plan.splits))
    check_files(out, plan.run_id, manifests)
    table = _table_checks(out, specs, stats, manifests, spill)
    fs.delete_tree(spill)  # every split writer has read its spill; the records now live in the shards
    crash_point("staged")
    identity = {"id": attempt, "runner": runner, "options": {k: str(v) for k, v in (overrides or {}).items()}}
    return manifests, identity, table


def _commit(dn: Datanet, done: dict[str, Any], led: Ledger, progress: Progress, t0: float, t1: float) -> dict[str, Any]:
    run_id, manifests = done["run_id"], done["splits"]
    shards = shards_in_order(manifests)
    accepted = sum(m["accepted"] for m in manifests)
    tail = run_entry(dn, run_id, done["seq"], done["base"], manifests)
    dups = files_of(manifests, "duplicates")
    writer = LedgerWriter(dn, led, progress, on_batch=lambda: crash_point("ledger-batch"))
    note = append_contributions(dn, run_id, shards, done["base"], accepted, writer, tail, dups)
    crash_point("signed")
    t2 = time.perf_counter()
    ledger_info = {
        "first_index": done["base"],
        "entries": accepted,
        "size": led.size,
        "root": led.root.hex(),
        "checkpoint": note,
    }
    report = build_report(
        dn,
        done,
        shards,
        ledger_info,
        {
            "pipeline_s": round(t1 - t0, 3),
            "commit_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3),
            "input_bytes": done["input_bytes"],
        },
    )
    files = {kind: files_of(manifests, kind) for kind in ("duplicates", "quarantine", "contributors")}
    mark_committed(dn, run_id, done["seq"], done["inputs"], report, files)
    shutil.rmtree(journal_dir(dn, run_id), ignore_errors=True)  # rebuilt by any later check
    crash_point("reported")
    progress(f"[3/3] committed: {len(shards)} shard(s), ledger size {led.size}")
    return report


def _finish_started(dn: Datanet, led: Ledger, progress: Progress) -> None:
    """Finish any run whose ledger appends had begun (they cannot be undone); others are left to planning."""
    for _, done in started_runs(dn, led.size):
        progress(f"  finishing run {done['run_id']}: its ledger entries had begun when it was interrupted")
        check_files(dn, done["run_id"], done["splits"])
        now = time.perf_counter()
        _commit(dn, done, led, progress, now, now)


def _discard_uncommitted(dn: Datanet, keep: str, progress: Progress) -> None:
    """Remove outputs of runs that never committed and are not this plan's run (nothing of theirs is on the ledger)."""
    committed = {r["run_id"] for r in committed_runs(dn)}
    seen = {
        p.name
        for kind in ("shards", "duplicates", "quarantine", "state", "runs")
        for p in (dn.out_dir / kind).glob("*")
        if p.is_dir()
    }
    for run_id in sorted(seen - committed - {keep}):
        progress(f"  discarding outputs of run {run_id}, which never committed")
        for folder in [*output_dirs(dn, run_id), run_dir(dn, run_id)]:
            fs.delete_tree(str(folder))


def json_load(path: str) -> Any:
    import json

    return json.loads(fs.read_bytes(path))


def _table_plan(dn: Datanet) -> tuple[list[Any], Any]:
    """The Datanet's table-level expectations and what its split writers compute for them."""
    from pipelines.stages.table_stats import StatsPlan, plan_table, shard_types
    from pipelines.stages.validate import is_row_level

    specs = [s for s in dn.config.validation.expectations if not is_row_level(s)]
    return specs, (plan_table(specs, shard_types(dn.schema)) if specs else StatsPlan())


def _table_checks(dn: Datanet, specs: list[Any], stats: Any, manifests: list[SplitManifest], spill: str) -> list[Any]:
    """Table-level expectations over the run's accepted records (``pipelines.stages.table_stats.table_checks``)."""
    from pipelines.stages.table_stats import table_checks

    if not specs:
        return []
    shards = [str(dn.out_dir / s) for s in shards_in_order(manifests)]
    return table_checks(specs, stats, manifests, spill, shards)
