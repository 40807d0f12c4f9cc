"""End to end: ingest -> usage -> payout -> verify -> receipt, and every way to cheat fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.downstream.contributors import pseudonym_and_opening
from pipelines.downstream.payout.check import StatementMismatch, make_receipt, verify_receipt, verify_statement
from pipelines.downstream.payout.statement import PayoutError, load_statement, run_payout, to_minor
from pipelines.downstream.read import connect, open_dataset
from pipelines.downstream.usage import UsageError, record_usage, select_records, usage_counts
from pipelines.driver.run import ingest

from ..conftest import tiny_records


def P(contributor: str) -> str:
    """The pseudonym the ledger, shards and statements carry for the 'tiny' contributor ``contributor``."""
    return pseudonym_and_opening(load_datanet("tiny"), contributor)[0]


@pytest.fixture
def paid(project: Path) -> Path:
    """The tiny Datanet ingested (with one duplicate), used by two training runs, and paid once."""
    with open(project / "data" / "a.jsonl", "a") as f:
        f.write(
            json.dumps({**tiny_records()[0], "contributor_id": "c9", "submitted_at": "2026-06-01T00:00:00Z"}) + "\n"
        )
    dn = load_datanet("tiny")
    ingest(dn, progress=lambda m: None)
    all_records = select_records(dn)
    record_usage(dn, "m1", "tr1", all_records)
    record_usage(dn, "m1", "tr2", select_records(dn, f"contributor_id = '{P('c0')}'"))
    record_usage(dn, "m2", "tr1", all_records[:2])
    run_payout(dn, "m1", "2026-11", to_minor("100.00", "EUR"), "EUR")
    return project


def test_read_api_sees_committed_records(paid: Path) -> None:
    dn = load_datanet("tiny")
    assert open_dataset(dn).count_rows() == 10
    con = connect(dn)
    kinds = dict(con.sql("select kind, count(*) from ledger group by 1").fetchall())
    assert kinds == {"contribution": 10, "copy": 1, "run": 1, "usage": 10 + 4 + 2, "payout": 1}


def test_usage_is_idempotent_counted_and_checked(paid: Path) -> None:
    dn = load_datanet("tiny")
    again = record_usage(dn, "m1", "tr1", select_records(dn))
    assert again["appended"] == 0 and again["already_recorded"] == 10
    by_contributor = {k: (uses, records) for k, uses, records in usage_counts(dn, "contributor", "m1")}
    assert by_contributor == {P("c0"): (8, 4), P("c1"): (3, 3), P("c2"): (3, 3)}
    with pytest.raises(UsageError, match="not contributions"):
        record_usage(dn, "m1", "tr3", ["ab" * 32])


def test_statement_sums_exactly_and_verifies(paid: Path) -> None:
    dn = load_datanet("tiny")
    statement = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    amounts = {x["payee"]: x["amount_minor"] for x in statement["lines"]}
    assert sum(amounts.values()) == 10_000
    assert amounts["platform"] == 1_000 and amounts["model-developer"] == 2_000
    # contributors' 7000 split by uses: c0 8/14, c1 3/14, c2 3/14 -> 4000, 1500, 1500
    assert (amounts[P("c0")], amounts[P("c1")], amounts[P("c2")]) == (4_000, 1_500, 1_500)
    assert P("c9") not in amounts  # duplicates: kept -> credit stays with the kept record's contributor
    assert verify_statement(dn, statement)["lines"] == 5
    assert (dn.out_dir / "payouts" / "m1" / "2026-11" / "lines.parquet").exists()


def test_paying_twice_is_refused(paid: Path) -> None:
    with pytest.raises(PayoutError, match="already paid"):
        run_payout(load_datanet("tiny"), "m1", "2026-11", 500, "EUR")


def test_a_changed_statement_line_fails(paid: Path) -> None:
    dn = load_datanet("tiny")
    statement = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    statement["lines"][2]["amount_minor"] += 1
    with pytest.raises(StatementMismatch, match="statement was changed"):
        verify_statement(dn, statement)


def test_a_changed_usage_entry_fails(paid: Path) -> None:
    dn = load_datanet("tiny")
    entries = dn.ledger_dir / "entries.jsonl"
    data = entries.read_bytes()
    entries.write_bytes(data.replace(b'"training_run":"tr2"', b'"training_run":"tr3"', 1))
    with pytest.raises(StatementMismatch, match=r"ledger: tree\.hashes"):
        verify_statement(dn, load_statement(dn.out_dir / "payouts" / "m1" / "2026-11"))


def test_a_changed_policy_share_fails(paid: Path) -> None:
    decl = paid / "datanets" / "tiny.yaml"
    decl.write_text(
        decl.read_text() + "payout: {shares: {platform: 1500, model_developer: 1500, contributors: 7000}}\n"
    )
    dn = load_datanet("tiny")
    with pytest.raises(StatementMismatch, match=r"policy.shares.model_developer"):
        verify_statement(dn, load_statement(dn.out_dir / "payouts" / "m1" / "2026-11"))


def test_split_policy_credits_everyone_who_contributed_the_content(paid: Path) -> None:
    decl = paid / "datanets" / "tiny.yaml"
    decl.write_text(decl.read_text() + "payout: {duplicates: split}\n")
    dn = load_datanet("tiny")
    run_payout(dn, "m2", "2026-11", 700, "JPY")
    s = load_statement(dn.out_dir / "payouts" / "m2" / "2026-11")
    lines = {x["payee"]: x for x in s["lines"] if x["kind"] == "contributor"}
    # m2 used records 0 (c0, duplicated by c9) and 1 (c1): c0 and c9 share record 0's unit
    assert {k: v["units"] for k, v in lines.items()} == {P("c0"): "1/2", P("c1"): "1", P("c9"): "1/2"}
    assert sum(x["amount_minor"] for x in s["lines"]) == 700
    assert verify_statement(dn, s)["lines"] == 5


def test_receipts_verify_offline_only_for_their_contributor(paid: Path) -> None:
    dn = load_datanet("tiny")
    statement = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    receipt = json.loads(json.dumps(make_receipt(dn, statement, "c1")))
    vkey = (dn.ledger_dir / "vkey").read_text().strip()
    out = verify_receipt(receipt, vkey, "c1")
    assert out["amount_minor"] == 1_500 and out["entries_proven"] == 1 + 3 + 3
    assert out["pseudonym"] == receipt["contributor"] == P("c1")
    assert verify_receipt(receipt, vkey, P("c1"))["amount_minor"] == 1_500
    with pytest.raises(StatementMismatch, match="opening does not prove it is for c2"):
        verify_receipt(receipt, vkey, "c2")
    forged = json.loads(json.dumps(receipt))
    forged["contributor"] = P("c2")
    with pytest.raises(StatementMismatch):
        verify_receipt(forged, vkey, "c2")
    with pytest.raises(StatementMismatch):
        verify_receipt(forged, vkey, P("c2"))
    forged = json.loads(json.dumps(receipt))
    next(x for x in forged["statement"]["lines"] if x["payee"] == P("c1"))["amount_minor"] = 9_999
    with pytest.raises(StatementMismatch, match="statement's hash"):
        verify_receipt(forged, vkey, "c1")


def test_cli_round_trip(paid: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["payout", "tiny", "--model", "m2", "--revenue", "12.34", "--currency", "USD", "--period", "2026-12"]) == 0
    )
    assert "revenue       12.34 USD" in capsys.readouterr().out
    assert main(["payout", "verify", "out/tiny/payouts/m2/2026-12"]) == 0
    assert "recomputes exactly" in capsys.readouterr().out
    assert (
        main(
            [
                "payout",
                "receipt",
                "tiny",
                "--contributor",
                "c0",
                "--statement",
                "out/tiny/payouts/m2/2026-12",
                "--out",
                "r.json",
            ]
        )
        == 0
    )
    assert main(["ledger", "vkey", "tiny"]) == 0
    (paid / "vkey.txt").write_text(capsys.readouterr().out)
    assert main(["payout", "check-receipt", "r.json", "--vkey", "vkey.txt", "--contributor", "c0"]) == 0
    assert f"c0 ({P('c0')}) is owed" in capsys.readouterr().out
    assert main(["payout", "check-receipt", "r.json", "--vkey", "vkey.txt", "--contributor", "c1"]) == 1
    assert main(["payout", "tiny", "--model", "m2", "--revenue", "1", "--currency", "USD", "--period", "2026-12"]) == 2
    assert "already paid" in capsys.readouterr().err
    assert main(["usage", "stats", "tiny", "--by", "model"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["m1,14,10", "m2,2,2"]
    assert main(["sql", "tiny", "select count(*) as n from records"]) == 0
    assert capsys.readouterr().out == "n\n10\n"
