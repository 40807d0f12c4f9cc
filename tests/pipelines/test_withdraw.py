"""``datanet withdraw``: a contributor leaves; served files, payouts, attribution, identity and verify follow.

The tiny Datanet, with c1 holding three kept records, one copy (of c0's
record 0) and one quarantined line, and c2 holding a copy of c1's record 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ledger import entries
from pipelines.cli.main import main
from pipelines.core.appender import append_signed
from pipelines.core.config import Datanet, load_datanet
from pipelines.core.withdrawal.ledgered import list_withdrawals
from pipelines.downstream.contributors import pseudonym_and_opening
from pipelines.downstream.payout.check import verify_statement
from pipelines.downstream.payout.statement import load_statement, run_payout, to_minor
from pipelines.downstream.usage import UsageError, record_usage, select_records
from pipelines.driver.run import ingest
from pipelines.driver.verify import VerifyError, verify_datanet
from pipelines.driver.withdrawal.withdraw import withdraw

from ..conftest import REPO, make_project, tiny_records

EXTRA = [
    {"contributor_id": "c2", "text": tiny_records()[1]["text"]},  # a copy of c1's record 1
    {"contributor_id": "c1", "text": tiny_records()[0]["text"]},  # c1's copy of c0's record 0
    {"contributor_id": "c1", "text": "too short"},  # quarantined (validation)
]
POINTS = (
    "withdraw-staged",
    "withdraw-signed",
    "withdraw-placed",
    "withdraw-republished",
    "withdraw-swapped",
    "withdraw-done",
)


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("withdraw") / "p", "pii: {enabled: false}\n")
    with open(root / "data" / "a.jsonl", "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in EXTRA)
    ingest(load_datanet("tiny", root=root), progress=_quiet)
    return root


@pytest.fixture
def root(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "p"
    shutil.copytree(template, out)
    monkeypatch.chdir(out)
    return out


def _dn(root: Path) -> Datanet:
    return load_datanet("tiny", root=root)


def _verify(root: Path) -> None:
    verify_datanet(_dn(root), witness=root / "witness.note")


def _served_strings(root: Path) -> set[str]:
    out: set[str] = set()
    for p in (root / "out").rglob("*.parquet"):
        t = pq.read_table(p)
        for name in t.column_names:
            if str(t.schema.field(name).type) == "string":
                out |= {v for v in t[name].to_pylist() if v}
    return out


def _texts_of(root: Path, pseud: str) -> set[str]:
    con = __import__("pipelines.downstream.read", fromlist=["connect"]).connect(_dn(root))
    return {r[0] for r in con.execute("select text from records where contributor_id = ?", [pseud]).fetchall()}


def test_withdraw_stops_serving_every_row_of_the_contributor_and_verify_passes(root: Path) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    texts = _texts_of(root, p1)
    assert len(texts) == 3 and p1 in _served_strings(root)
    out = withdraw(dn, p1, "erasure_request", progress=_quiet)
    assert (out["contributions"], out["copies"], out["quarantined"]) == (3, 1, 1)
    served = _served_strings(root)
    assert p1 not in served and not texts & served
    _verify(root)
    [w] = list_withdrawals(dn.ledger_dir)
    assert [i for i, _ in w["records"]] == [1, 4, 7] and w["republished"] and w["reason"] == "erasure_request"
    assert len(select_records(dn)) == 7
    size = out["ledger_size"]
    again = withdraw(dn, p1, progress=_quiet)  # withdrawing twice is a no-op
    assert again["withdrawn"] is False and again["ledger_size"] == size
    old = [f for f, _ in out["files"]]
    assert not any((dn.out_dir / f).exists() for f in old)


def test_the_copy_of_a_withdrawn_record_is_not_promoted_and_its_holder_keeps_their_copy_entry(root: Path) -> None:
    dn = _dn(root)
    p1, p2 = (pseudonym_and_opening(dn, c)[0] for c in ("c1", "c2"))
    withdraw(dn, p1, progress=_quiet)
    dups = pq.read_table(next((dn.out_dir / "duplicates").rglob("*.parquet"))).to_pylist()
    assert [r["contributor_id"] for r in dups] == [p2]  # c2's copy of withdrawn record 1 stays, as a copy
    assert tiny_records()[1]["text"] not in _served_strings(root)  # not promoted: the text is not served
    _verify(root)


def test_usage_before_is_still_paid_usage_after_is_refused(root: Path) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    every = select_records(dn)
    record_usage(dn, "m1", "before", every)
    run_payout(dn, "m1", "2026-01", to_minor("100.00", "EUR"), "EUR")
    withdraw(dn, p1, progress=_quiet)
    statement = load_statement(dn.out_dir / "payouts" / "m1" / "2026-01")
    verify_statement(dn, statement)  # still recomputes from the ledger after the withdrawal
    assert any(x["payee"] == p1 for x in statement["lines"])
    with pytest.raises(UsageError, match="withdrawn"):
        record_usage(dn, "m1", "after", every)
    record_usage(dn, "m1", "after", select_records(dn))  # what is served now
    run_payout(dn, "m1", "2026-02", to_minor("100.00", "EUR"), "EUR")
    later = load_statement(dn.out_dir / "payouts" / "m1" / "2026-02")
    assert not any(x["payee"] == p1 for x in later["lines"])
    _verify(root)


def test_attribution_never_credits_a_withdrawn_record_and_the_index_checks(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    quote = tiny_records()[4]["text"]  # c1's record 4, no copy
    assert main(["attribute", "tiny", "--model", "m1", "--text", quote, "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert [r["contributor_id"] for r in before["records"]] == [p1]
    withdraw(dn, p1, progress=_quiet)
    assert main(["index", "tiny", "--check"]) == 0
    capsys.readouterr()
    assert main(["attribute", "tiny", "--model", "m1", "--text", quote, "--inference-id", "i2", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["records"] == []
    _verify(root)


def test_identity_map_rows_are_deleted_and_issued_receipts_still_prove(root: Path) -> None:
    from ledger.pseudonym import proves
    from pipelines.downstream.contributors import own_id

    dn = _dn(root)
    p1, opening = pseudonym_and_opening(dn, "c1")
    assert own_id(dn, p1) == "c1"
    withdraw(dn, p1, progress=_quiet)
    assert own_id(dn, p1) is None
    assert "c1" not in _served_strings(root) | {
        v
        for p in (dn.out_dir / "contributors").rglob("*.parquet")
        for v in pq.read_table(p)["contributor_id"].to_pylist()
    }
    assert proves("c1", opening, p1)  # an opening already handed out still proves the pseudonym
    assert main(["contributor", "tiny", "c1"]) == 1  # no new opening is handed out


def test_reingest_of_withdrawn_text_is_a_copy_not_served(root: Path) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    withdraw(dn, p1, progress=_quiet)
    again = [{"contributor_id": who, "text": tiny_records()[4]["text"]} for who in ("c1", "c9")]
    (root / "data" / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in again))
    report = ingest(dn, progress=_quiet)
    assert (report["accepted"], report["duplicates"]["total"]) == (0, 2)
    assert tiny_records()[4]["text"] not in _served_strings(root)
    _verify(root)


def test_a_withdrawn_row_put_back_is_caught(root: Path) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    out = withdraw(dn, p1, progress=_quiet)
    old, new = out["files"][0]
    backup = root / "old.parquet"
    shutil.copy(dn.out_dir / new, backup)
    withdraw_copy = pq.read_table(backup)
    pq.write_table(withdraw_copy, dn.out_dir / new)  # rewritten: other bytes
    with pytest.raises(VerifyError, match="SHA-256 differs"):
        _verify(root)
    shutil.copy(backup, dn.out_dir / new)
    _verify(root)
    committed = next((dn.out_dir / "runs").glob("*/COMMITTED.json"))
    text = committed.read_text()
    committed.write_text(text.replace(new, old))  # the old file (with the withdrawn rows) served again
    shutil.copy(backup, dn.out_dir / old)
    with pytest.raises(VerifyError, match="different files"):
        _verify(root)


def test_a_forged_withdrawal_index_is_caught(root: Path) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    forged = entries.withdrawal(dn.name, p1, [0], [], 0, "other")  # entry 0 is c0's contribution
    append_signed(dn, [forged])
    with pytest.raises(VerifyError, match="lists ledger entry 0 as a contribution of"):
        _verify(root)


def test_a_withdrawal_that_misses_one_of_the_contributors_entries_is_caught(root: Path) -> None:
    dn = _dn(root)
    p1 = pseudonym_and_opening(dn, "c1")[0]
    append_signed(dn, [entries.withdrawal(dn.name, p1, [1], [], 0, "other"), entries.republish(dn.name, 12, [])])
    with pytest.raises(VerifyError, match="covered by no withdrawal"):
        _verify(root)


def test_cli_withdraw_and_withdrawals(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["withdraw", "tiny", "c1", "--reason", "the patient asked by letter"]) == 0
    assert "withdrawn cid1_" in capsys.readouterr().out
    assert main(["withdrawals", "tiny", "--json"]) == 0
    [w] = json.loads(capsys.readouterr().out)
    assert w["reason"] == "other" and len(w["records"]) == 3
    plan = next((root / "out" / "tiny" / "withdrawals").glob("*/PLAN.json"))
    assert "by letter" in plan.read_text() and oct(plan.stat().st_mode & 0o777) == "0o600"
    assert main(["withdrawals", "tiny", "--since", str(w["withdrawal_index"] + 1)]) == 0
    assert capsys.readouterr().out.strip() == "no withdrawals"
    assert main(["status", "tiny"]) == 0
    assert "withdrawal at entry" in capsys.readouterr().out
    assert main(["withdraw", "tiny", "c1", "--pseudonym", "cid1_" + "0" * 32]) == 2


def _snapshot(root: Path) -> dict[str, str]:
    import hashlib

    out = root / "out" / "tiny"
    files = {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
        and p.suffix in (".parquet", ".json")
        and "withdrawals" not in p.parts
        and "attempts" not in p.parts
        and p.name != "report.json"
    }
    files["ledger"] = (out / "ledger" / "STATE").read_text()
    return files


def _cli(root: Path, crash_at: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DATANETS_CRASH_AT", None)
    if crash_at:
        env["DATANETS_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("then", ["withdraw", "index"])
def test_sigkill_at_every_withdrawal_step_then_the_next_writer_finishes_it(
    template: Path, tmp_path: Path, point: str, then: str
) -> None:
    ref, root = tmp_path / "ref", tmp_path / "crashed"
    shutil.copytree(template, ref)
    shutil.copytree(template, root)
    assert _cli(ref, None, "withdraw", "tiny", "c1").returncode == 0
    if then == "index":
        assert _cli(ref, None, "index", "tiny").returncode == 0
        shutil.rmtree(ref / "out" / "tiny" / "attribution")
    crashed = _cli(root, point, "withdraw", "tiny", "c1")
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    if then == "withdraw":
        finished = _cli(root, None, "withdraw", "tiny", "c1")
    else:  # any other ledger writer finishes it first
        finished = _cli(root, None, "index", "tiny")
        shutil.rmtree(root / "out" / "tiny" / "attribution", ignore_errors=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    if point == "withdraw-staged" and then == "index":  # nothing had reached the ledger: discarded, not finished
        assert not list_withdrawals(_dn(root).ledger_dir) and not list((root / "out").rglob("*.staged"))
        _verify(root)
        return
    assert _snapshot(root) == _snapshot(ref)
    _verify(root)


def test_a_weighted_statement_made_before_a_withdrawal_still_recomputes(tmp_path: Path) -> None:
    """The withdrawal entry keeps the withdrawn records' payout weights; without them they would weigh 0."""
    root = make_project(tmp_path / "w", "pii: {enabled: false}\npayout: {basis: weighted, weight_field: n}\n")
    schema = root / "schemas" / "note.yaml"
    schema.write_text(schema.read_text() + "  - {name: n, type: integer, required: false}\n")
    with open(root / "data" / "a.jsonl", "w") as f:
        f.writelines(json.dumps({**r, "n": 3 + i}) + "\n" for i, r in enumerate(tiny_records()))
    dn = load_datanet("tiny", root=root)
    ingest(dn, progress=_quiet)
    record_usage(dn, "m1", "t1", select_records(dn))
    before = run_payout(dn, "m1", "2026-10", to_minor("100.00", "EUR"), "EUR")
    withdraw(dn, pseudonym_and_opening(dn, "c1")[0], "erasure_request", progress=_quiet)
    weights = _weights(dn)
    assert len(weights) == 3 and all(w >= 3 for _, w in weights)  # c1 held records 1, 4 and 7
    statement = load_statement(Path(before["statement"]))
    assert verify_statement(dn, statement)["statement_hash"] == before["statement_hash"]


def _weights(dn: Datanet) -> list[list[int]]:
    from ledger.log import Ledger

    with Ledger(dn.ledger_dir) as led:
        found = [json.loads(e) for e in led.entries() if b'"kind":"withdrawal"' in e]
    return [p for e in found for p in e["weights"]]
