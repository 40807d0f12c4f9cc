"""Money is exact and typed: periods, currencies, bounded revenue, usage paid once, files checked, locks first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.downstream.contributors import pseudonym_and_opening
from pipelines.downstream.payout.check import StatementMismatch, make_receipt, verify_receipt, verify_statement
from pipelines.downstream.payout.money import MoneyError, check_currency, check_period, to_minor
from pipelines.downstream.payout.statement import PayoutError, load_statement, run_payout
from pipelines.downstream.read import connect
from pipelines.downstream.usage import record_usage, select_records
from pipelines.driver.run import ingest

from ..conftest import REPO, tiny_records


@pytest.mark.parametrize("period", ["2026-11.", "2026-011", "2026-13", "2026-00", "q4", "", "2026-11 ", "11-2026"])
def test_periods_other_than_a_month_or_a_date_range_are_refused(period: str) -> None:
    with pytest.raises(MoneyError, match="is not YYYY-MM"):
        check_period(period)


@pytest.mark.parametrize("period", ["2026-11", "2026-10-01/2026-12-31", "2026-02-28/2026-02-28"])
def test_months_and_date_ranges_are_periods(period: str) -> None:
    assert check_period(period) == period


def test_a_date_range_must_name_real_days_in_order() -> None:
    with pytest.raises(MoneyError, match="does not exist"):
        check_period("2026-02-01/2026-02-30")
    with pytest.raises(MoneyError):
        check_period("2026-12-31/2026-01-01")


@pytest.mark.parametrize(
    "amount, currency, minor",
    [
        ("12.34", "EUR", 1234),
        ("700", "JPY", 700),
        ("1.234", "KWD", 1234),
        ("0.0001", "CLF", 1),
        ("1000", "USD", 100_000),
        (".5", "EUR", 50),
    ],
)
def test_amounts_convert_exactly_with_each_currency_s_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    "amount, currency, needle",
    [
        ("Infinity", "EUR", "not a plain decimal amount"),
        ("NaN", "EUR", "not a plain decimal amount"),
        ("1e400000000", "EUR", "not a plain decimal amount"),
        ("1" + "0" * 30, "EUR", "is over"),
        ("10000000000000000", "EUR", "between 0 and"),
        ("-5", "EUR", "between 0 and"),
        ("12.345", "EUR", "more than 2 decimal place"),
        ("1.5", "JPY", "more than 0 decimal place"),
        ("ten", "EUR", "not a plain decimal amount"),
        ("1", "", "not an ISO 4217 code"),
        ("1", "eur", "did you mean EUR"),
        ("1", "XYZ", "not an ISO 4217 code"),
        ("1", "XAU", "not an ISO 4217 code"),
    ],
)
def test_bad_amounts_and_currencies_are_one_line_errors(amount: str, currency: str, needle: str) -> None:
    with pytest.raises(MoneyError, match=needle) as err:
        to_minor(amount, currency)
    assert "\n" not in str(err.value)


def test_check_currency_knows_iso_4217() -> None:
    assert [check_currency(c) for c in ("EUR", "USD", "JPY", "BHD", "CHF")]


@pytest.fixture
def used(project: Path) -> Path:
    """The tiny Datanet with a copy by c9 of c0's first record, used once by model m1."""
    with open(project / "data" / "a.jsonl", "a") as f:
        f.write(
            json.dumps({**tiny_records()[0], "contributor_id": "c9", "submitted_at": "2026-06-01T00:00:00Z"}) + "\n"
        )
    dn = load_datanet("tiny")
    ingest(dn, progress=lambda m: None)
    record_usage(dn, "m1", "tr1", select_records(dn))
    return project


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--revenue", "Infinity", "--currency", "EUR", "--period", "2026-11"], "not a plain decimal amount"),
        (["--revenue", "1" + "0" * 30, "--currency", "EUR", "--period", "2026-11"], "is over"),
        (["--revenue", "10", "--currency", "", "--period", "2026-11"], "not an ISO 4217 code"),
        (["--revenue", "10", "--currency", "EUR", "--period", "2026-11."], "is not YYYY-MM"),
        (["--revenue-minor", "10000000000000000", "--currency", "EUR", "--period", "2026-11"], "between 0 and"),
    ],
)
def test_cli_refuses_bad_money_in_one_line(
    used: Path, capsys: pytest.CaptureFixture[str], args: list, needle: str
) -> None:
    assert main(["payout", "tiny", "--model", "m1", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_payout_help_works_like_every_other_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["payout", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--revenue" in out and "verify" in out and "receipt" in out


def test_each_usage_entry_is_paid_once_per_model_whatever_the_period(used: Path) -> None:
    dn = load_datanet("tiny")
    first = run_payout(dn, "m1", "2026-11", 1000, "EUR")
    for other in ("2026-12", "2026-11-01/2026-11-30"):
        with pytest.raises(PayoutError, match=r"no usage .* since ledger entry"):
            run_payout(dn, "m1", other, 1000, "EUR")
    record_usage(dn, "m1", "tr2", select_records(dn)[:2])
    second = run_payout(dn, "m1", "2026-12", 500, "EUR")
    s = load_statement(Path(second["statement"]).parent)
    assert s["usage_from"] == load_statement(Path(first["statement"]).parent)["ledger_size"]
    assert sum(x["uses"] for x in s["lines"] if x["kind"] == "contributor") == 2
    assert verify_statement(dn, s)["lines"] >= 3


def test_an_edited_lines_csv_or_parquet_fails_payout_verify(used: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_payout(load_datanet("tiny"), "m1", "2026-11", 1000, "EUR")
    folder = used / "out" / "tiny" / "payouts" / "m1" / "2026-11"
    assert main(["payout", "verify", str(folder)]) == 0
    csv_text = (folder / "lines.csv").read_text()
    (folder / "lines.csv").write_text(csv_text.replace(",100,", ",900,", 1))
    assert main(["payout", "verify", str(folder)]) == 1
    assert "lines.csv: line 2 differs" in capsys.readouterr().err


def test_split_statements_stay_verifiable_and_copy_holders_can_prove_their_share(used: Path) -> None:
    decl = used / "datanets" / "tiny.yaml"
    decl.write_text(decl.read_text() + "payout: {duplicates: split}\n")
    dn = load_datanet("tiny")
    run_payout(dn, "m1", "2026-11", 1000, "EUR")
    statement = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    c9 = pseudonym_and_opening(dn, "c9")[0]
    line = next(x for x in statement["lines"] if x["payee"] == c9)
    assert line["copy_indexes"] and line["units"] == "1/2"
    vkey = (dn.ledger_dir / "vkey").read_text().strip()
    assert verify_receipt(json.loads(json.dumps(make_receipt(dn, statement, "c9"))), vkey, "c9")["amount_minor"] > 0
    forged = json.loads(json.dumps(make_receipt(dn, statement, "c9")))
    next(x for x in forged["statement"]["lines"] if x["payee"] == c9)["copy_indexes"] = []
    with pytest.raises(StatementMismatch):
        verify_receipt(forged, vkey, "c9")
    # a later ingest adds another copy of the same record: the earlier statement still verifies
    (used / "data" / "b.jsonl").write_text(json.dumps({**tiny_records()[0], "contributor_id": "c8"}) + "\n")
    ingest(dn, progress=lambda m: None)
    assert verify_statement(dn, statement)["lines"] == len(statement["lines"])
    kinds = dict(connect(dn).sql("select kind, count(*) from ledger group by 1").fetchall())
    assert kinds["copy"] == 2


def test_concurrent_usage_records_of_one_training_run_append_once(used: Path) -> None:
    code = (
        "from pipelines.core.config import load_datanet;"
        "from pipelines.downstream.usage import record_usage, select_records;"
        "dn = load_datanet('tiny'); record_usage(dn, 'm9', 'tr9', select_records(dn)); print('done')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=used,
            env={"PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(b"done" in out for out, _ in results), results  # each waited for the writer lock in turn
    n = connect(load_datanet("tiny")).execute("select count(*) from ledger where model = 'm9'").fetchone()
    assert n is not None and n[0] == 10


def test_usage_and_payout_wait_for_an_ingest_stopped_mid_append(used: Path) -> None:
    dn = load_datanet("tiny")
    run = dn.out_dir / "runs" / "half"
    run.mkdir()
    (run / "PIPELINE.json").write_text(json.dumps({"base": 0}))
    with pytest.raises(RuntimeError, match="stopped part-way"):
        record_usage(dn, "m1", "tr3", select_records(dn)[:1])
    with pytest.raises(RuntimeError, match="stopped part-way"):
        run_payout(dn, "m1", "2026-11", 1000, "EUR")
