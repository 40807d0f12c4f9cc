"""Both examples end to end: withdraw one contributor, then verify, payouts, attribution and a repeat.

Slow (each runs the real pipeline once, with the fixture keys of
``tests/test_golden.py``); the crash-safety of each withdrawal step is shown
on the tiny Datanet in ``tests/pipelines/test_withdraw.py``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.core.config import Datanet
from pipelines.core.withdrawal.ledgered import list_withdrawals
from pipelines.downstream.attribution.attribute import record_attribution
from pipelines.downstream.payout.check import verify_statement
from pipelines.downstream.payout.statement import load_statement, run_payout, to_minor
from pipelines.downstream.read import connect
from pipelines.downstream.usage import UsageError, record_usage, select_records
from pipelines.driver.run import ingest
from pipelines.driver.verify import verify_datanet
from pipelines.driver.withdrawal.withdraw import withdraw

from .test_golden import EXAMPLES, example_with_fixture_keys


def _quiet(_: str) -> None:
    pass


def _ingested(name: str, tmp: Path) -> Datanet:
    dn = example_with_fixture_keys(name, tmp)
    ingest(dn, progress=_quiet, live="off")
    return dn


def _strings(dn: Datanet) -> set[str]:
    """Every string value of every published file (and the private maps); payout statements keep who was paid."""
    out: set[str] = set()
    kinds = ("shards", "duplicates", "quarantine", "contributors", "state")
    for p in (p for k in kinds for p in (dn.out_dir / k).rglob("*.parquet")):
        t = pq.read_table(p)
        for name in t.column_names:
            if str(t.schema.field(name).type) == "string":
                out |= {v for v in t[name].to_pylist() if v}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_withdraw_one_contributor_of_each_example(name: str, tmp_path: Path) -> None:
    dn = _ingested(name, tmp_path)
    con = connect(dn)
    field = dn.schema.text_fields[0]
    # the contributor with the most kept records
    (who,) = con.execute("select contributor_id from records group by 1 order by count(*) desc, 1 limit 1").fetchone()
    theirs = [r[0] for r in con.execute(f"select {field} from records where contributor_id = ?", [who]).fetchall()]
    others = {r[0] for r in con.execute(f"select {field} from records where contributor_id <> ?", [who]).fetchall()}
    every = select_records(dn)
    record_usage(dn, "m1", "before", every)
    run_payout(dn, "m1", "2026-01", to_minor("1000.00", "EUR"), "EUR")

    out = withdraw(dn, who, "erasure_request", progress=_quiet)
    assert out["withdrawn"] and out["contributions"] == len(theirs)
    verify_datanet(dn, witness=tmp_path / "witness.note")
    served = _strings(dn)
    assert who not in served
    assert not (set(theirs) - others) & served  # none of their texts (unless another contributor's record is the same)
    assert [len(w["records"]) for w in list_withdrawals(dn.ledger_dir)] == [len(theirs)]

    before = load_statement(dn.out_dir / "payouts" / "m1" / "2026-01")
    verify_statement(dn, before)
    assert any(x.get("payee") == who for x in before["lines"])
    with pytest.raises(UsageError, match="withdrawn"):
        record_usage(dn, "m1", "after", every)
    record_usage(dn, "m1", "after", select_records(dn))
    run_payout(dn, "m1", "2026-02", to_minor("1000.00", "EUR"), "EUR")
    after = load_statement(dn.out_dir / "payouts" / "m1" / "2026-02")
    assert not any(x.get("payee") == who for x in after["lines"])

    quote = max(theirs, key=len)
    result = record_attribution(dn, "m1", quote, inference_id="q1")
    credited = {r["contributor_id"] for r in result["records"]}
    assert who not in credited  # no one, or another contributor whose served record shares the words
    size = out["ledger_size"]
    assert withdraw(dn, who, progress=_quiet)["withdrawn"] is False
    verify_datanet(dn, witness=tmp_path / "witness.note")
    assert size <= out["ledger_size"]
