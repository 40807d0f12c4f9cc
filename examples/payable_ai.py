"""Payable AI, end to end on an example Datanet: train (toy), record usage, pay out, verify, receipt.

    make payout-demo                      # or: python -m examples.payable_ai [DATANET]

1. ingest the Datanet if needed (``datanet ingest``);
2. a toy "training job" picks its training set with DuckDB (the Python read
   API), "trains" (counts tokens), and records which records it used;
3. a payout job splits 1,000.00 EUR of the model's revenue for a period;
4. the statement is verified by recomputing it from the ledger;
5. the best-paid contributor gets a receipt, checked offline against the
   ledger's verifier key.

Run it again and steps 2 to 4 add nothing: usage is idempotent and a
period is paid once (the demo then just verifies the existing statement).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipelines.core.config import load_datanet
from pipelines.core.registry import committed_runs
from pipelines.downstream.contributors import own_id
from pipelines.downstream.payout.check import make_receipt, verify_receipt, verify_statement
from pipelines.downstream.payout.statement import find_payout, load_statement, run_payout, statement_dir, to_minor
from pipelines.downstream.read import connect
from pipelines.downstream.usage import record_usage
from pipelines.driver.run import ingest

MODEL, PERIOD = "tiny-clinical-lm", "2026-11"


def main(name: str = "clinical-notes") -> None:
    dn = load_datanet(name)
    if not committed_runs(dn):
        ingest(dn)
    con = connect(dn)
    texts = con.sql(
        "select record_hash, text from records where specialty in ('cardiology', 'respiratory') order by ledger_index"
    ).fetchall()
    tokens = sum(len(t.split()) for _, t in texts)
    print(f"training {MODEL}: {len(texts)} records, {tokens} tokens (a toy 'training run')")
    used = record_usage(dn, MODEL, "run-001", [h for h, _ in texts])
    print(f"usage: {used['appended']} entries appended, {used['already_recorded']} already on the ledger")
    if find_payout(dn, MODEL, PERIOD) is None:
        print(run_payout(dn, MODEL, PERIOD, to_minor("1000.00", "EUR"), "EUR")["summary"], end="")
    statement = load_statement(statement_dir(dn, MODEL, PERIOD))
    print(f"verify: statement {verify_statement(dn, statement)['statement_hash']} recomputes exactly")
    best = max((x for x in statement["lines"] if x["kind"] == "contributor"), key=lambda x: x["amount_minor"])
    who = own_id(dn, best["payee"]) or best["payee"]  # the curator's map: pseudonym -> the contributor's own ID
    receipt = make_receipt(dn, statement, who)
    path = statement_dir(dn, MODEL, PERIOD) / f"receipt-{best['payee']}.json"
    path.write_text(json.dumps(receipt, indent=1, sort_keys=True) + "\n")
    out = verify_receipt(json.loads(path.read_text()), (dn.ledger_dir / "vkey").read_text().strip(), who)
    print(
        f"receipt {path}: {out['contributor']} (on the ledger as {out['pseudonym']}) owed {out['amount_minor']} "
        f"minor units ({out['currency']}), {out['entries_proven']} ledger entries proven offline"
    )
    print(
        f"check it yourself: datanet payout check-receipt {path} --vkey {Path(dn.ledger_dir) / 'vkey'} "
        f"--contributor {who}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:2])
