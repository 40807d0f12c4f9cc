"""Payout statements: computed from the ledger with DuckDB, written, and bound to the ledger.

A statement covers one model and one period. It counts the model's
``usage`` entries among the first ``ledger_size`` entries, credits each used
record to its contributor (and, under ``duplicates: split``, equally to
everyone who contributed the same content), and splits the revenue with
``split.allocate``. Its canonical JSON is hashed; the hash goes on the
ledger in a ``payout`` entry and a checkpoint is signed. Recomputing from
the same ledger prefix and policy gives the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ledger import entries
from ledger.entries import canonical_json
from ledger.storage import WRITER_WAIT, write_atomic
from pipelines.core.appender import writing
from pipelines.core.config import Datanet
from pipelines.core.errors import BadInput
from pipelines.downstream.payout.ids import check_model
from pipelines.downstream.payout.money import EXPONENTS, check_currency, check_minor, check_period, to_minor
from pipelines.downstream.payout.split import allocate, inference_shares, split_parties
from pipelines.downstream.read import View, connect

FORMAT = "datanets-payout-statement/2"
BASIS = 10_000
UNATTRIBUTED = "~unattributed"  # the allocation key of novel text's share; its line is paid to the model developer


LINE_COLUMNS = [
    "kind",
    "payee",
    "amount_minor",
    "records_used",
    "uses",
    "units",
    "contribution_indexes",
    "usage_indexes",
    "copy_indexes",
]
CSV_COLUMNS = LINE_COLUMNS[:6]
__all__ = ["PayoutError", "compute_statement", "load_statement", "run_payout", "to_minor", "write_statement"]


class PayoutError(BadInput):
    """A payout cannot be made (already paid, no usage, bad amount or id)."""


def usage_paid_before(con: View, model: str) -> int:
    """usage_paid_before is the ledger size the model's latest earlier payout covered (0 if none).

    A statement counts only the model's usage entries at or after it, so each
    usage entry is paid once per model, whatever the periods are called.
    """
    row = con.execute("select max(ledger_size) from ledger where kind = 'payout' and model = ?", [model]).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _credits(con: View, dn: Datanet, model: str, since: int) -> list[dict[str, Any]]:
    """Per used record: its contributor, contribution index, uses, usage indexes and weight."""
    weight = dn.config.payout.for_model(model).weight_field
    wsql = f"coalesce(r.{weight}, 0)" if weight else "1"
    rows = con.execute(
        f"""
        with u as (select record_hash, count(*) as uses, list(ledger_index order by ledger_index) as usage_idx
                   from ledger where kind = 'usage' and model = ? and ledger_index >= ? group by record_hash)
        select u.record_hash, c.contributor_id, c.ledger_index, u.uses, u.usage_idx, {wsql} as weight,
               r.record_hash is null as gone
        from u join ledger c on c.kind = 'contribution' and c.record_hash = u.record_hash
        left join records r on r.record_hash = u.record_hash
        order by c.ledger_index
        """,
        [model, since],
    ).fetchall()
    kept = _withdrawn_weights(dn) if weight and any(r[-1] for r in rows) else {}
    keys = ("record_hash", "contributor_id", "contribution_index", "uses", "usage_indexes", "weight")
    out = [dict(zip(keys, r[:-1], strict=True)) for r in rows]
    for c, r in zip(out, rows, strict=True):
        if weight and r[-1]:  # withdrawn since: its weight is the one its withdrawal entry kept
            c["weight"] = kept.get(int(c["contribution_index"]), 0)
    return out


def _withdrawn_weights(dn: Datanet) -> dict[int, int]:
    """The weights withdrawal entries kept, from the whole ledger (a statement may predate the withdrawal)."""
    from pipelines.core.withdrawal.ledgered import withdrawn_of

    return withdrawn_of(dn.ledger_dir).weights()


def _copies(con: View) -> dict[str, dict[str, list[int]]]:
    """Holders of dropped copies, from the view's ``copy`` ledger entries: record -> holder -> indexes."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    rows = con.execute(
        "select record_hash, contributor_id, ledger_index from ledger where kind = 'copy' order by ledger_index"
    )
    for record, holder, index in rows.fetchall():
        out[record][holder].append(int(index))
    return out


def _new_line() -> dict[str, Any]:
    keys = ("contribution_indexes", "usage_indexes", "copy_indexes")
    return {"units": Fraction(0), "records_used": 0, "uses": 0, **{k: [] for k in keys}}


def _credit(
    acc: dict[str, dict[str, Any]],
    seen: dict[str, set[int]],
    owner: str,
    held: dict[str, list[int]],
    contribution_index: int,
    units: Fraction,
    uses: int,
    usage_indexes: list[int],
) -> None:
    """_credit splits one record's ``units`` equally among its contributor ``owner`` and the copy holders ``held``.

    Each holder's line counts the record once (however many entries cite
    it; ``seen`` remembers which records each holder was credited), lists
    the record's contribution entry, the holder's copy entries and the
    citing entries (``usage_indexes``; one entry citing two of a holder's
    records is listed once).
    """
    holders = sorted({owner, *held})
    for who in holders:
        line = acc.setdefault(who, _new_line())
        line["units"] += units / len(holders)
        line["uses"] += uses
        if contribution_index not in seen[who]:
            seen[who].add(contribution_index)
            line["records_used"] += 1
            line["contribution_indexes"].append(contribution_index)
            if who != owner:
                line["copy_indexes"].extend(held[who])
        for i in usage_indexes:
            if line["usage_indexes"][-1:] != [i]:
                line["usage_indexes"].append(i)


def attribution_lines(
    con: View, dn: Datanet, model: str, since: int, currency: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """attribution_lines credits each of the model's ``attribution`` entries' weights to contributors.

    Each entry is one inference; its share of the contributors' pool is
    ``split.inference_shares``: its ``fee_minor`` (in ``currency``), the mean
    fee of the others for an entry without one, or equal shares when no
    entry has a fee. Within an entry, a record with weight ``bp`` earns ``share * bp /
    10000``, split equally among its holders under ``duplicates: split``;
    the entry's ``unattributed_bp`` earns for the ``unattributed`` line.
    A line's ``usage_indexes`` are the attribution entries it rests on.
    Returns the lines (the unattributed one last, payee ``UNATTRIBUTED``)
    and the statement's ``attribution`` summary.
    """
    entries = con.execute(
        "select ledger_index, fee_minor, currency, weights, unattributed_bp from ledger "
        "where kind = 'attribution' and model = ? and ledger_index >= ? order by ledger_index",
        [model, since],
    ).fetchall()
    if any(cur not in (None, currency) for _, _, cur, _, _ in entries):
        raise PayoutError(f"some attribution entries of model {model!r} have fees in another currency than {currency}")
    shares, summary = inference_shares([None if fee is None else int(fee) for _, fee, _, _, _ in entries])
    cited = sorted({int(i) for *_, weights, _ in entries for i, _ in weights or []})
    rows = con.execute(
        "select ledger_index, record_hash, contributor_id from ledger where kind = 'contribution'"
        " and ledger_index in (select unnest(?::bigint[]))",
        [cited],
    ).fetchall()
    contrib = {int(i): (h, c) for i, h, c in rows}
    copies = _copies(con) if dn.config.payout.duplicates == "split" else {}
    acc: dict[str, dict[str, Any]] = {}
    seen: dict[str, set[int]] = defaultdict(set)
    unattributed = _new_line()
    for (index, _, _, weights, unattributed_bp), share in zip(entries, shares, strict=True):
        for li, bp in weights or []:
            if int(li) not in contrib:
                raise PayoutError(f"attribution entry {index} weighs ledger entry {li}, which is not a contribution")
            record, owner = contrib[int(li)]
            _credit(acc, seen, owner, copies.get(record, {}), int(li), share * int(bp) / BASIS, 1, [int(index)])
        if unattributed_bp:
            unattributed["units"] += share * int(unattributed_bp) / BASIS
            unattributed["usage_indexes"].append(int(index))
    lines = [{"payee": who, **acc[who]} for who in sorted(acc)]
    if unattributed["units"]:
        lines.append({"payee": UNATTRIBUTED, **unattributed})
    return lines, {"entries": len(entries), **summary}


def contributor_lines(con: View, dn: Datanet, model: str, since: int = 0) -> list[dict[str, Any]]:
    """contributor_lines credits each used record's weighted uses to its contributor(s).

    Under ``duplicates: split`` everyone holding a ``copy`` entry of the
    record shares its credit equally with its contributor; their lines list
    those entries in ``copy_indexes``, so receipts can prove the entitlement.
    """
    policy, credits = dn.config.payout.for_model(model), _credits(con, dn, model, since)
    copies = _copies(con) if policy.duplicates == "split" else {}
    acc: dict[str, dict[str, Any]] = {}
    seen: dict[str, set[int]] = defaultdict(set)
    for c in credits:
        units = Fraction(int(c["uses"]) * int(c["weight"]))
        usage = [int(i) for i in c["usage_indexes"]]
        held = copies.get(c["record_hash"], {})
        _credit(acc, seen, c["contributor_id"], held, int(c["contribution_index"]), units, int(c["uses"]), usage)
    return [{"payee": who, **acc[who]} for who in sorted(acc)]


def compute_statement(
    dn: Datanet,
    model: str,
    period: str,
    revenue_minor: int,
    currency: str,
    ledger_size: int,
    view: View | None = None,
) -> dict[str, Any]:
    """compute_statement builds the statement of ``model``'s usage among the first ``ledger_size`` entries.

    Only usage entries after the model's latest earlier payout count
    (``usage_from``), so no usage entry is paid twice for one model.
    ``view`` is ``read.connect(dn, ledger_size)`` if the caller already has
    it: shards and ledger are loaded once per payout.
    """
    con = view or connect(dn, ledger_size)
    policy = dn.config.payout.for_model(model)
    since = usage_paid_before(con, model)
    extra: dict[str, Any] = {}
    if policy.basis == "attribution":
        contributors, extra["attribution"] = attribution_lines(con, dn, model, since, currency)
        what = "attribution"
    else:
        contributors, what = contributor_lines(con, dn, model, since), "usage"
    if not contributors:
        raise PayoutError(f"no {what} of {dn.name} records by model {model!r} since ledger entry {since} to pay for")
    parties = split_parties(revenue_minor, policy.shares)
    amounts = allocate(parties["contributors"], {c["payee"]: c["units"] for c in contributors})
    lines = [
        {"kind": "platform", "payee": policy.platform_id, "amount_minor": parties["platform"]},
        {"kind": "model_developer", "payee": policy.model_developer_id, "amount_minor": parties["model_developer"]},
    ] + [
        {
            "kind": "contributor" if c["payee"] != UNATTRIBUTED else "unattributed",
            "payee": c["payee"] if c["payee"] != UNATTRIBUTED else policy.model_developer_id,
            "amount_minor": amounts[c["payee"]],
            "units": str(c["units"]),
            "records_used": c["records_used"],
            "uses": c["uses"],
            "contribution_indexes": sorted(c["contribution_indexes"]),
            "usage_indexes": sorted(c["usage_indexes"]),
            "copy_indexes": sorted(c["copy_indexes"]),
        }
        for c in contributors
    ]
    return {
        "format": FORMAT,
        "datanet": dn.name,
        "model": model,
        "period": period,
        "currency": currency,
        "revenue_minor": revenue_minor,
        "ledger_size": ledger_size,
        "usage_from": since,
        "policy": policy.model_dump(mode="json"),
        **extra,
        "lines": lines,
    }


def statement_bytes(statement: dict[str, Any]) -> bytes:
    """statement_bytes is the statement's canonical JSON (what its hash covers)."""
    return canonical_json(statement)


def statement_hash(statement: dict[str, Any]) -> str:
    return hashlib.sha256(statement_bytes(statement)).hexdigest()


def statement_dir(dn: Datanet, model: str, period: str) -> Path:
    return dn.out_dir / "payouts" / model / period


def find_payout(
    dn: Datanet, model: str, period: str, upto: int | None = None, view: View | None = None
) -> tuple[int, dict[str, Any]] | None:
    """find_payout returns (ledger index, entry) of the payout for (model, period), if any (in ``view`` if given)."""
    con = view or connect(dn, upto)
    row = con.execute(
        "select ledger_index, statement_hash, revenue_minor, currency, ledger_size from ledger "
        "where kind = 'payout' and model = ? and period = ? order by ledger_index limit 1",
        [model, period],
    ).fetchone()
    if row is None:
        return None
    return int(row[0]), {"statement_hash": row[1], "revenue_minor": row[2], "currency": row[3], "ledger_size": row[4]}


def write_statement(dn: Datanet, statement: dict[str, Any]) -> Path:
    """write_statement writes statement.json (canonical), lines.parquet, lines.csv and summary.txt."""
    d = statement_dir(dn, statement["model"], statement["period"])
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)  # who was paid what: for the curator and each payee, not every reader of out/
    write_atomic(d / "statement.json", statement_bytes(statement) + b"\n")
    cols = LINE_COLUMNS
    rows = [{c: line.get(c) for c in cols} for line in statement["lines"]]
    pq.write_table(
        pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [
                    ("kind", pa.string()),
                    ("payee", pa.string()),
                    ("amount_minor", pa.int64()),
                    ("records_used", pa.int64()),
                    ("uses", pa.int64()),
                    ("units", pa.string()),
                    ("contribution_indexes", pa.list_(pa.int64())),
                    ("usage_indexes", pa.list_(pa.int64())),
                    ("copy_indexes", pa.list_(pa.int64())),
                ]
            ),
        ),
        d / "lines.parquet",
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerows([[r[c] if r[c] is not None else "" for c in CSV_COLUMNS] for r in rows])
    write_atomic(d / "lines.csv", buf.getvalue().encode())
    write_atomic(d / "summary.txt", summary(statement).encode())
    for name in ("statement.json", "lines.parquet", "lines.csv", "summary.txt"):
        os.chmod(d / name, 0o600)
    return d / "statement.json"


def summary(statement: dict[str, Any]) -> str:
    """summary renders a statement's totals and top lines for people."""
    exp = EXPONENTS.get(statement["currency"], 2)
    fmt = lambda v: f"{Decimal(v) / (10**exp):.{exp}f} {statement['currency']}"  # noqa: E731
    contributors = [x for x in statement["lines"] if x["kind"] == "contributor"]
    lines = [
        f"Payout statement {statement['datanet']} / model {statement['model']} / period {statement['period']}",
        f"  revenue       {fmt(statement['revenue_minor'])}",
        f"  statement     sha256 {statement_hash(statement)}",
        f"  usage counted in ledger entries 0..{statement['ledger_size'] - 1}",
    ]
    lines += [f"  {x['kind']:<17}{x['payee']:<22}{fmt(x['amount_minor']):>18}" for x in statement["lines"][:2]]
    lines += [
        f"  unattributed     {x['payee']:<22}{fmt(x['amount_minor']):>18}"
        f"  (novel text of {len(x['usage_indexes'])} outputs)"
        for x in statement["lines"]
        if x["kind"] == "unattributed"
    ]
    lines += [
        f"  contributor      {x['payee']:<22}{fmt(x['amount_minor']):>18}"
        f"  ({x['records_used']} records, {x['uses']} uses)"
        for x in sorted(contributors, key=lambda x: (-x["amount_minor"], x["payee"]))[:20]
    ]
    total = sum(x["amount_minor"] for x in statement["lines"])
    lines.append(f"  total         {fmt(total)} across {len(statement['lines'])} lines")
    return "\n".join(lines) + "\n"


def run_payout(
    dn: Datanet, model: str, period: str, revenue_minor: int, currency: str, wait: float = WRITER_WAIT
) -> dict[str, Any]:
    """run_payout computes, writes and ledgers one statement; refuses a second payout of (model, period).

    Waits up to ``wait`` seconds for the ledger's writer lock (LedgerBusyError after).
    """
    check_model(model)
    check_period(period)
    check_currency(currency)
    check_minor(revenue_minor)
    with writing(dn, wait) as w:
        led = w.ledger
        view = connect(dn, led.size)  # shards and ledger loaded once for this payout
        existing = find_payout(dn, model, period, view=view)
        if existing is not None:
            w.sign()  # an earlier attempt may have stopped before signing
            raise PayoutError(
                f"model {model} was already paid for period {period} (ledger entry {existing[0]}, "
                f"statement {existing[1]['statement_hash']}); refusing to pay twice"
            )
        statement = compute_statement(dn, model, period, revenue_minor, currency, led.size, view)
        path = write_statement(dn, statement)
        digest = statement_hash(statement)
        entry = entries.payout(dn.name, model, period, digest, revenue_minor, currency, statement["ledger_size"])
        note = w.append_signed([entry])
        return {
            "statement": str(path),
            "statement_hash": digest,
            "payout_index": led.size - 1,
            "lines": len(statement["lines"]),
            "checkpoint": note,
            "summary": summary(statement),
        }


def load_statement(path: Path) -> dict[str, Any]:
    """load_statement reads a statement.json (or the folder holding one)."""
    p = path / "statement.json" if path.is_dir() else path
    try:
        value: dict[str, Any] = json.loads(p.read_bytes())
    except (OSError, json.JSONDecodeError) as exc:
        raise PayoutError(f"{p}: not a readable statement ({exc})") from None
    return value
