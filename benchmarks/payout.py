"""Payout benchmark: a payout over 1,000,000 usage entries, and its verification.

    python -m benchmarks.payout [--usage 1000000] [--records 100000]

Builds a throwaway Datanet whose ledger holds ``--records`` contributions
from 200 contributors and ``--usage`` usage entries of one model (spread
over training runs), then times ``run_payout`` (DuckDB aggregation, exact
split, statement files, ledger entry and checkpoint) and
``verify_statement`` (full ledger audit plus recomputation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

from ledger.checkpoint import generate, save_signer
from ledger.storage import Store
from pipelines.core.config import load_datanet
from pipelines.downstream.payout.check import verify_statement
from pipelines.downstream.payout.statement import load_statement, run_payout, statement_dir


def build(root: Path, records: int, usage: int) -> None:
    (root / "datanets").mkdir()
    (root / "schemas").mkdir()
    (root / "data").mkdir()
    (root / "data" / "x.jsonl").write_text("")
    (root / "schemas" / "s.yaml").write_text("name: s\nfields:\n  - {name: text, type: string, text: true}\n")
    (root / "datanets" / "bench.yaml").write_text(
        "name: bench\nschema: schemas/s.yaml\nsources: [{path: data/*.jsonl, format: jsonl}]\n"
    )
    dn = load_datanet("bench", root=root)
    save_signer(dn.key_path, generate(dn.origin))
    store = Store(dn.ledger_dir, writer=True, create=True)
    hashes = [hashlib.sha256(i.to_bytes(8, "big")).hexdigest() for i in range(records)]
    for s in range(0, records, 10_000):
        chunk = hashes[s : s + 10_000]
        store.append(
            [
                b'{"contributor_id":"c%03d","datanet":"bench","kind":"contribution","record_hash":"%s",'
                b'"row":%d,"run":"r","shard":"shards/r/part-00000.parquet","v":1}' % (i % 200, h.encode(), i)
                for i, h in enumerate(chunk, s)
            ],
            [bytes.fromhex(h) for h in chunk],
        )
    for s in range(0, usage, 10_000):
        store.append(
            [
                b'{"datanet":"bench","kind":"usage","model":"m","record_hash":"%s","training_run":"tr%d","v":1}'
                % (hashes[(i * 7919) % records].encode(), i // records)
                for i in range(s, min(s + 10_000, usage))
            ],
            [None] * min(10_000, usage - s),
        )
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--usage", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--out", default="bench-out/payout.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.records, args.usage)
        dn = load_datanet("bench", root=root)
        t = time.perf_counter()
        result = run_payout(dn, "m", "2026-11", 100_000_000, "EUR")
        payout_s = time.perf_counter() - t
        statement = load_statement(statement_dir(dn, "m", "2026-11"))
        t = time.perf_counter()
        verify_statement(dn, statement)
        verify_s = time.perf_counter() - t
        total = sum(x["amount_minor"] for x in statement["lines"])
    out = {
        "usage_entries": args.usage,
        "contributions": args.records,
        "contributors": 200,
        "payout_s": round(payout_s, 2),
        "verify_s": round(verify_s, 2),
        "lines": result["lines"],
        "sum_equals_revenue": total == 100_000_000,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"payout over {args.usage:,} usage entries ({args.records:,} records, 200 contributors): "
        f"{payout_s:.1f} s; verify (audit + recompute): {verify_s:.1f} s; "
        f"lines sum to revenue: {out['sum_equals_revenue']}"
    )


if __name__ == "__main__":
    main()
