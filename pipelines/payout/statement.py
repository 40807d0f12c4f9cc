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
import re
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ledger.entries import canonical_json
from ledger.log import Ledger
from ledger.storage import write_atomic
from pipelines.config import Datanet
from pipelines.keys import signer_for
from pipelines.payout.split import allocate, split_parties
from pipelines.read import connect
from pipelines.registry import run_files

FORMAT = "datanets-payout-statement/1"
ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


class PayoutError(ValueError):
    """A payout cannot be made (already paid, no usage, bad amount or id)."""


def to_minor(amount: str, currency: str) -> int:
    """to_minor converts a decimal amount to integer minor units of ``currency`` (exactly, or PayoutError)."""
    exp = EXPONENTS.get(currency.upper(), 2)
    try:
        value = Decimal(amount) * (10**exp)
    except InvalidOperation:
        raise PayoutError(f"revenue {amount!r} is not a decimal number") from None
    if value != value.to_integral_value() or value < 0:
        raise PayoutError(f"revenue {amount} {currency} is negative or has more than {exp} decimal places")
    return int(value)


def check_id(kind: str, value: str) -> str:
    """check_id accepts ids usable as folder names: letters, digits, '.', '_' and '-'."""
    if not ID.match(value):
        raise PayoutError(f"{kind} {value!r} must be letters, digits, '.', '_' or '-' (at most 128)")
    return value


def _credits(dn: Datanet, model: str, upto: int) -> list[dict[str, Any]]:
    """Per used record: its contributor, contribution index, uses, usage indexes and weight."""
    con = connect(dn, upto)
    weight = dn.config.payout.weight_field
    wsql = f"coalesce(r.{weight}, 0)" if weight else "1"
    rows = con.execute(
        f"""
        with u as (select record_hash, count(*) as uses, list(ledger_index order by ledger_index) as usage_idx
                   from ledger where kind = 'usage' and model = ? group by record_hash)
        select u.record_hash, c.contributor_id, c.ledger_index, u.uses, u.usage_idx, {wsql} as weight
        from u join ledger c on c.kind = 'contribution' and c.record_hash = u.record_hash
        left join records r on r.record_hash = u.record_hash
        order by c.ledger_index
        """,
        [model],
    ).fetchall()
    keys = ("record_hash", "contributor_id", "contribution_index", "uses", "usage_indexes", "weight")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def _copies(dn: Datanet) -> dict[str, set[str]]:
    """Contributors of dropped duplicates, by the record hash they duplicate."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in run_files(dn, "duplicates"):
        for row in pq.read_table(path, columns=["duplicate_of", "contributor_id"]).to_pylist():
            if row["duplicate_of"]:
                out[row["duplicate_of"]].add(row["contributor_id"])
    return out


def contributor_lines(dn: Datanet, model: str, upto: int) -> list[dict[str, Any]]:
    """contributor_lines credits each used record's weighted uses to its contributor(s)."""
    policy, credits = dn.config.payout, _credits(dn, model, upto)
    copies = _copies(dn) if policy.duplicates == "split" else {}
    acc: dict[str, dict[str, Any]] = {}
    for c in credits:
        holders = sorted({c["contributor_id"], *copies.get(c["record_hash"], set())})
        share = Fraction(int(c["uses"]) * int(c["weight"]), len(holders))
        for who in holders:
            line = acc.setdefault(
                who,
                {"units": Fraction(0), "records_used": 0, "uses": 0, "contribution_indexes": [], "usage_indexes": []},
            )
            line["units"] += share
            line["records_used"] += 1
            line["uses"] += int(c["uses"])
            line["contribution_indexes"].append(int(c["contribution_index"]))
            line["usage_indexes"].extend(int(i) for i in c["usage_indexes"])
    return [{"payee": who, **acc[who]} for who in sorted(acc)]


def compute_statement(
    dn: Datanet, model: str, period: str, revenue_minor: int, currency: str, ledger_size: int
) -> dict[str, Any]:
    """compute_statement builds the statement of ``model``'s usage among the first ``ledger_size`` entries."""
    policy = dn.config.payout
    contributors = contributor_lines(dn, model, ledger_size)
    if not contributors:
        raise PayoutError(f"no usage of {dn.name} records is recorded for model {model!r}")
    parties = split_parties(revenue_minor, policy.shares)
    amounts = allocate(parties["contributors"], {c["payee"]: c["units"] for c in contributors})
    lines = [
        {"kind": "platform", "payee": policy.platform_id, "amount_minor": parties["platform"]},
        {"kind": "model_developer", "payee": policy.model_developer_id, "amount_minor": parties["model_developer"]},
    ] + [
        {
            "kind": "contributor",
            "payee": c["payee"],
            "amount_minor": amounts[c["payee"]],
            "units": str(c["units"]),
            "records_used": c["records_used"],
            "uses": c["uses"],
            "contribution_indexes": sorted(c["contribution_indexes"]),
            "usage_indexes": sorted(c["usage_indexes"]),
        }
        for c in contributors
    ]
    return {
        "format": FORMAT,
        "datanet": dn.name,
        "model": model,
        "period": period,
        "currency": currency.upper(),
        "revenue_minor": revenue_minor,
        "ledger_size": ledger_size,
        "policy": policy.model_dump(mode="json"),
        "lines": lines,
    }


def statement_bytes(statement: dict[str, Any]) -> bytes:
    """statement_bytes is the statement's canonical JSON (what its hash covers)."""
    return canonical_json(statement)


def statement_hash(statement: dict[str, Any]) -> str:
    return hashlib.sha256(statement_bytes(statement)).hexdigest()


def statement_dir(dn: Datanet, model: str, period: str) -> Path:
    return dn.out_dir / "payouts" / model / period


def find_payout(dn: Datanet, model: str, period: str, upto: int | None = None) -> tuple[int, dict[str, Any]] | None:
    """find_payout returns (ledger index, entry) of the payout for (model, period), if any."""
    con = connect(dn, upto)
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
    cols = ["kind", "payee", "amount_minor", "records_used", "uses", "units", "contribution_indexes", "usage_indexes"]
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
                ]
            ),
        ),
        d / "lines.parquet",
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols[:6])
    w.writerows([[r[c] if r[c] is not None else "" for c in cols[:6]] for r in rows])
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
        f"  contributor      {x['payee']:<22}{fmt(x['amount_minor']):>18}"
        f"  ({x['records_used']} records, {x['uses']} uses)"
        for x in sorted(contributors, key=lambda x: (-x["amount_minor"], x["payee"]))[:20]
    ]
    total = sum(x["amount_minor"] for x in statement["lines"])
    lines.append(f"  total         {fmt(total)} across {len(statement['lines'])} lines")
    return "\n".join(lines) + "\n"


def run_payout(dn: Datanet, model: str, period: str, revenue_minor: int, currency: str) -> dict[str, Any]:
    """run_payout computes, writes and ledgers one statement; refuses a second payout of (model, period)."""
    check_id("model", model)
    check_id("period", period)
    with Ledger(dn.ledger_dir, writer=True) as led:
        signer = signer_for(dn, lambda m: None)
        existing = find_payout(dn, model, period)
        if existing is not None:
            led.sign(signer)  # an earlier attempt may have stopped before signing
            raise PayoutError(
                f"model {model} was already paid for period {period} (ledger entry {existing[0]}, "
                f"statement {existing[1]['statement_hash']}); refusing to pay twice"
            )
        statement = compute_statement(dn, model, period, revenue_minor, currency, led.size)
        path = write_statement(dn, statement)
        digest = statement_hash(statement)
        led.append(
            [
                {
                    "kind": "payout",
                    "datanet": dn.name,
                    "model": model,
                    "period": period,
                    "statement_hash": digest,
                    "revenue_minor": revenue_minor,
                    "currency": currency.upper(),
                    "ledger_size": statement["ledger_size"],
                    "v": 1,
                }
            ]
        )
        note = led.sign(signer)
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
