"""``datanet withdraw`` and ``datanet withdrawals``: a contributor leaves, and downstream jobs learn what to purge."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger import cli as ledger_cli
from pipelines.core.config import load_datanet


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_withdraw(args: argparse.Namespace) -> int:
    """cmd_withdraw withdraws a contributor (by ID or ``--pseudonym``); a repeat is a no-op (exit 0)."""
    from pipelines.driver.withdrawal.withdraw import reason_code, resolve, withdraw

    dn = load_datanet(args.datanet)
    pseud = resolve(dn, args.contributor_id, args.pseudonym)
    code, note = reason_code(args.reason)
    out = withdraw(dn, pseud, code, note, progress=_say if not args.json else None, wait=args.wait)
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    elif out["withdrawn"]:
        print(
            f"withdrawn {out['pseudonym']} from {dn.name} ({out['reason']}): {out['contributions']} record(s), "
            f"{out['copies']} copy(ies), {out['quarantined']} quarantine row(s); withdrawal entry "
            f"{out['withdrawal_index']}, republish entry {out['republish_index']} ({len(out['files'])} file(s)); "
            f"ledger size {out['ledger_size']}, checkpoint signed"
        )
    return 0


def _render(rows: list[dict[str, Any]]) -> str:
    lines = []
    for w in rows:
        state = "" if w["republished"] else " (not finished: the next ledger writer finishes it)"
        lines.append(
            f"withdrawal entry {w['withdrawal_index']}: {w['pseudonym']} ({w['reason']}), "
            f"{len(w['records'])} record(s), {len(w['copies'])} copy(ies){state}"
        )
        lines += [f"  record {index} {h}" for index, h in w["records"]]
    return "\n".join(lines) if lines else "no withdrawals"


def cmd_withdrawals(args: argparse.Namespace) -> int:
    """cmd_withdrawals lists withdrawn record hashes and ledger indexes (a training job purges them)."""
    from pipelines.core.withdrawal.ledgered import list_withdrawals

    rows = list_withdrawals(load_datanet(args.datanet).ledger_dir, args.since)
    print(json.dumps(rows, indent=1) if args.json else _render(rows))
    return 0


def add_commands(sub: Any) -> None:
    """add_commands declares ``withdraw`` and ``withdrawals``."""
    p = sub.add_parser(
        "withdraw",
        help="curator: withdraw a contributor: their records stop being served, paid for and attributed, on the ledger",
    )
    p.add_argument("datanet")
    p.add_argument("contributor_id", nargs="?", help="the contributor's own ID (or give --pseudonym)")
    p.add_argument("--pseudonym", help="the pseudonym (cid1_...) of a contributor who holds only a receipt")
    p.add_argument(
        "--reason",
        help="consent_withdrawn (default), erasure_request, court_order, curator_decision, or any text "
        "(recorded as 'other'; the text stays in the curator's private files)",
    )
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    ledger_cli.add_wait_argument(p)
    p.set_defaults(fn=cmd_withdraw)
    p = sub.add_parser("withdrawals", help="list withdrawn record hashes and ledger indexes, for jobs to purge")
    p.add_argument("datanet")
    p.add_argument("--since", type=int, default=0, help="only withdrawal entries at this ledger index or later")
    p.add_argument("--json", action="store_true", help="print them as JSON")
    p.set_defaults(fn=cmd_withdrawals)
