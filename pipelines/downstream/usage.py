"""Usage records: a training run states, on the ledger, exactly which records it used.

``record_usage`` appends one ``usage`` entry per distinct record used, in
ledger order of the records' contributions, then signs a checkpoint.
Guarantees: the model id is one ``payout`` accepts (``payout.ids``), so
recorded usage can always be paid; every record must be a contribution on
this ledger (else ``UsageError`` naming the first unknown hash, and nothing
is written) and not withdrawn (``datanet withdraw``; else ``UsageError``,
nothing written);
re-recording the same (model, training run) adds nothing; a run interrupted
between ledger batches is completed, not duplicated, by recording it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow.compute as pc

from ledger import entries
from ledger.storage import WRITER_WAIT
from pipelines.core.appender import writing
from pipelines.core.config import Datanet
from pipelines.core.errors import BadInput
from pipelines.core.registry import committed_runs
from pipelines.core.withdrawal.ledgered import withdrawn
from pipelines.downstream.payout.ids import check_model
from pipelines.downstream.read import connect, ledger_table


class UsageError(BadInput):
    """A usage declaration is invalid (unknown record or run, bad ids)."""


def usage_entry(dn: Datanet, record_hash: str, model: str, training_run: str) -> dict[str, Any]:
    """usage_entry builds a ``usage`` entry (``ledger.entries.usage``): ``training_run`` used this record."""
    return entries.usage(dn.name, record_hash, model, training_run)


def select_records(dn: Datanet, where: str | None = None, run: str | None = None) -> list[str]:
    """select_records returns record hashes of committed shard rows matching an SQL condition, in ledger order.

    ``run`` must be a committed ingest run of ``dn`` (else UsageError naming it).
    """
    if run is not None and run not in {r["run_id"] for r in committed_runs(dn)}:
        raise UsageError(f"run {run!r} is not a committed ingest run of {dn.name} (see datanet status {dn.name})")
    con = connect(dn)
    conditions = [f"({where})"] if where else []
    if run:
        conditions.append("run_id = ?")
    sql = "select record_hash from records" + (" where " + " and ".join(conditions) if conditions else "")
    rows = con.execute(sql + " order by ledger_index", [run] if run else []).fetchall()
    return [r[0] for r in rows]


def recorded(dn: Datanet, model: str, training_run: str) -> set[str]:
    """recorded returns the record hashes already on the ledger for (model, training run)."""
    t = ledger_table(dn)
    mask = pc.and_(
        pc.and_(pc.equal(t["kind"], "usage"), pc.equal(t["model"], model)), pc.equal(t["training_run"], training_run)
    )
    return set(t.filter(mask)["record_hash"].to_pylist())


def record_usage(
    dn: Datanet,
    model: str,
    training_run: str,
    record_hashes: Sequence[str],
    progress: Any = None,
    wait: float = WRITER_WAIT,
) -> dict[str, Any]:
    """record_usage appends the usage entries not yet recorded and signs a checkpoint; returns counts.

    Waits up to ``wait`` seconds for the ledger's writer lock (LedgerBusyError after).
    """
    check_model(model)
    if not training_run.strip():
        raise UsageError("the training run id must be non-empty")
    wanted = sorted({h.lower() for h in record_hashes})
    # the lock first: two recorders must not both see "not yet"
    with writing(dn, wait, progress) as w:
        led = w.ledger
        done = recorded(dn, model, training_run)
        found = led.find_many(wanted)
        unknown = [h for h in wanted if h not in found]
        if unknown:
            raise UsageError(f"{len(unknown)} record(s) are not contributions of {dn.name}, e.g. {unknown[0]}")
        gone = sorted(set(wanted) & withdrawn(led).record_hashes())
        if gone:
            raise UsageError(
                f"{len(gone)} record(s) were withdrawn from {dn.name} and may not be used or paid for, e.g. "
                f"{gone[0]}; nothing was recorded (`datanet withdrawals {dn.name}` lists them)"
            )
        todo = sorted((h for h in wanted if h not in done), key=found.__getitem__)
        first = led.size
        note = w.append_signed(usage_entry(dn, h, model, training_run) for h in todo)
        return {
            "model": model,
            "training_run": training_run,
            "records": len(wanted),
            "already_recorded": len(wanted) - len(todo),
            "appended": len(todo),
            "first_index": first if todo else None,
            "ledger_size": led.size,
            "checkpoint": note,
        }


def usage_counts(dn: Datanet, by: str = "contributor", model: str | None = None) -> list[tuple[Any, ...]]:
    """usage_counts counts usage entries per record, contributor or model (most used first)."""
    column = {"record": "u.record_hash", "contributor": "c.contributor_id", "model": "u.model"}[by]
    con = connect(dn)
    sql = (
        f"select {column} as key, count(*) as uses, count(distinct u.record_hash) as records "
        "from ledger u join ledger c on c.kind = 'contribution' and c.record_hash = u.record_hash "
        "where u.kind = 'usage'" + (" and u.model = ?" if model else "") + " group by 1 order by uses desc, key"
    )
    return con.execute(sql, [model] if model else []).fetchall()
