"""``datanet read | sql | usage | payout``: the downstream commands (training jobs and payouts)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ledger.cli import add_wait_argument
from pipelines.core.config import load_datanet


def cmd_read(args: argparse.Namespace) -> int:
    from pipelines.downstream.read import open_dataset

    table = (
        open_dataset(args.datanet, run=args.run).head(args.limit)
        if args.limit
        else open_dataset(args.datanet, run=args.run).to_table()
    )
    for row in table.to_pylist():
        print(json.dumps(row, ensure_ascii=False, sort_keys=True))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.downstream.read import connect, query_error

    con = connect(args.datanet)
    try:
        rel = con.sql(args.query)
    except duckdb.Error as exc:
        raise query_error(con, exc) from None
    if rel is not None:
        print(rel.to_arrow_table().to_pandas().to_csv(index=False), end="")
    return 0


def _selected(dn: Any, where: str | None, run: str | None) -> list[str]:
    """The record hashes ``--where``/``--run`` select; a query DuckDB refuses is one line listing the columns."""
    import duckdb

    from pipelines.downstream.read import connect, query_error
    from pipelines.downstream.usage import select_records

    try:
        return select_records(dn, where, run)
    except duckdb.Error as exc:
        raise query_error(connect(dn), exc) from None


def cmd_usage(args: argparse.Namespace) -> int:
    from pipelines.downstream.payout.ids import check_model
    from pipelines.downstream.usage import UsageError, record_usage, usage_counts

    dn = load_datanet(args.datanet)
    if args.usage_cmd == "stats":
        print(f"{args.by},uses,records")
        for key, uses, records in usage_counts(dn, args.by, args.model):
            print(f"{key},{uses},{records}")
        return 0
    check_model(args.model)
    if args.records:
        if args.run is not None:
            raise UsageError("--run selects committed records; it cannot narrow a --records file")
        hashes = [h.strip() for h in Path(args.records).read_text().split() if h.strip()]
    else:
        hashes = _selected(dn, args.where, args.run)
    if not hashes:
        chosen = f"--records {args.records}" if args.records else f"--where {args.where!r}" if args.where else "--all"
        scope = f" of run {args.run}" if args.run else ""
        message = f"no committed records of {dn.name}{scope} match {chosen}: no usage recorded"
        if not args.allow_empty:
            raise UsageError(f"{message} (--allow-empty to accept that)")
        print(f"warning: {message}", file=sys.stderr)
        return 0
    result = record_usage(dn, args.model, args.training_run, hashes, wait=args.wait)
    print(
        f"usage of {result['records']} records by {args.model}/{args.training_run}: "
        f"{result['appended']} appended, {result['already_recorded']} already recorded; "
        f"ledger size {result['ledger_size']}"
    )
    return 0


PAYOUT_EPILOG = """\
other forms:
  datanet payout verify STATEMENT [--vkey KEY]          recompute a statement from the ledger; check its lines files
  datanet payout receipt NAME --contributor ID --statement STATEMENT [--out FILE]
                                                       a contributor's receipt: their line, opening and proofs
  datanet payout check-receipt RECEIPT --vkey KEY --contributor ID
                                                       check a receipt offline
(each takes --help)"""


def _payout_parser(first: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=f"datanet payout{'' if first not in SUB else ' ' + first}",
        description=None if first in SUB else "Pay a model's revenue for one period out to the Datanet's contributors.",
        epilog=None if first in SUB else PAYOUT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if first == "verify":
        ap.add_argument("statement", help="statement.json, or the folder holding it")
        ap.add_argument("--vkey", help="verifier key the auditor trusts (text or file)")
    elif first == "receipt":
        ap.add_argument("datanet")
        ap.add_argument("--contributor", required=True)
        ap.add_argument("--statement", required=True)
        ap.add_argument("--out", help="receipt file (default: print)")
    elif first == "check-receipt":
        ap.add_argument("receipt")
        ap.add_argument("--vkey", required=True, help="verifier key (text or file)")
        ap.add_argument("--contributor", required=True)
    else:
        ap.add_argument("datanet")
        ap.add_argument("--model", required=True)
        ap.add_argument("--period", required=True, help="YYYY-MM, or a date range YYYY-MM-DD/YYYY-MM-DD")
        ap.add_argument("--currency", required=True, help="ISO 4217 code (EUR, USD, JPY...); sets the minor units")
        g = ap.add_mutually_exclusive_group(required=True)
        g.add_argument("--revenue", help="amount in major units, e.g. 1234.56 (plain digits and one point)")
        g.add_argument("--revenue-minor", help="amount in minor units, e.g. 123456 (plain digits)")
        add_wait_argument(ap)
    return ap


SUB = ("verify", "receipt", "check-receipt")


def read_vkey(value: str | None) -> str | None:
    """read_vkey takes a verifier key given as text (it contains '+') or as a file holding it."""
    if value is None or "+" in value:
        return value
    return Path(value).read_text().strip()


def cmd_payout(args: argparse.Namespace) -> int:
    first = args.rest[0] if args.rest else ""
    a = _payout_parser(first).parse_args(args.rest[1:] if first in SUB else args.rest)  # --help exits here, light
    from pipelines.downstream.payout.check import make_receipt, verify_receipt, verify_statement
    from pipelines.downstream.payout.money import minor_amount, to_minor
    from pipelines.downstream.payout.statement import load_statement, run_payout

    if first == "verify":
        where = Path(a.statement)
        statement = load_statement(where)
        folder = where if where.is_dir() else where.parent
        out = verify_statement(load_datanet(str(statement.get("datanet"))), statement, read_vkey(a.vkey), folder)
        print(
            f"OK: statement {out['statement_hash']} matches payout entry {out['payout_index']} and recomputes "
            f"exactly ({out['lines']} lines)"
        )
        return 0
    if first == "receipt":
        made = make_receipt(load_datanet(a.datanet), load_statement(Path(a.statement)), a.contributor)
        text = json.dumps(made, indent=1, sort_keys=True) + "\n"
        if a.out:
            Path(a.out).write_text(text)
            print(f"receipt for {made['contributor']} written to {a.out}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0
    if first == "check-receipt":
        receipt: dict[str, Any] = json.loads(Path(a.receipt).read_text())
        out = verify_receipt(receipt, str(read_vkey(a.vkey)), a.contributor)
        print(
            f"OK: {out['contributor']} ({out['pseudonym']}) is owed {out['amount_minor']} "
            f"(minor units, {out['currency']}) for "
            f"{out['records_used']} records; {out['entries_proven']} ledger entries proven"
        )
        return 0
    dn = load_datanet(a.datanet)
    minor = minor_amount(a.revenue_minor) if a.revenue_minor is not None else to_minor(a.revenue, a.currency)
    result = run_payout(dn, a.model, a.period, minor, a.currency, wait=a.wait)
    print(result["summary"], end="")
    print(f"statement {result['statement']} on the ledger at entry {result['payout_index']}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_commands registers read, sql, usage and payout on the ``datanet`` parser."""
    p = sub.add_parser("read", help="print committed records as JSON lines")
    p.add_argument("datanet")
    p.add_argument("--run")
    p.add_argument("--limit", type=int)
    p.set_defaults(fn=cmd_read)
    p = sub.add_parser("sql", help="query views `records` and `ledger` with DuckDB (CSV out)")
    p.add_argument("datanet")
    p.add_argument("query")
    p.set_defaults(fn=cmd_sql)
    p = sub.add_parser("usage", help="record or count which records training runs used")
    usub = p.add_subparsers(dest="usage_cmd", required=True)
    r = usub.add_parser("record", help="append usage entries for one training run")
    r.add_argument("datanet")
    r.add_argument("--model", required=True)
    r.add_argument("--training-run", required=True)
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--records", help="file of record hashes, one per line")
    g.add_argument("--where", help="SQL condition on `records`, e.g. \"specialty = 'cardiology'\"")
    g.add_argument("--all", action="store_true", help="every committed record")
    r.add_argument("--run", help="only records of this ingest run (with --all or --where)")
    r.add_argument("--allow-empty", action="store_true", help="a selection matching nothing is not an error")
    add_wait_argument(r)
    s = usub.add_parser("stats", help="usage counts")
    s.add_argument("datanet")
    s.add_argument("--by", choices=["record", "contributor", "model"], default="contributor")
    s.add_argument("--model")
    p.set_defaults(fn=cmd_usage)
    p = sub.add_parser(
        "payout", help="pay a model's revenue out (or: payout verify | receipt | check-receipt)", add_help=False
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_payout)
