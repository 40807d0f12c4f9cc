"""A hostile user's findings against the downstream commands (index, attribute, usage, payout), one test each.

Each test states the exact outcome: a command refused with a one-line
message naming what is wrong, a tampered file named by ``index --check``,
``verify`` and ``attribute``, or the exact cents of a payout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ledger.log import Ledger
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.downstream.attribution.attribute import AttributionError, record_attribution
from pipelines.downstream.attribution.committed import IndexMismatchError, committed_index, update_index
from pipelines.downstream.attribution.index import index_dir, rebuild_index
from pipelines.downstream.contributors import pseudonym_and_opening
from pipelines.downstream.payout.ids import IdError
from pipelines.downstream.payout.money import MoneyError, minor_amount, to_minor
from pipelines.downstream.payout.split import inference_shares
from pipelines.downstream.payout.statement import load_statement, run_payout
from pipelines.downstream.read import connect
from pipelines.downstream.usage import record_usage, select_records
from pipelines.driver.run import ingest

from ..conftest import REPO
from .test_attribution import NOTES, NOVEL, _grow, _project

QUOTE = f"{NOTES[1]} Nothing else of note was found here."  # NOTES[1] (c1's) is 7415 bp of it
HOLD = (
    "import sys, time; from ledger.log import Ledger; led = Ledger(sys.argv[1], writer=True); "
    "print('held', flush=True); time.sleep(float(sys.argv[2])); led.close()"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two ingest runs indexed on the ledger (``p``), and a copy after the first run, before any index (``one``)."""
    base = tmp_path_factory.mktemp("hostile")
    root = _project(base / "p", "payout: {basis: attribution}\n")
    dn = load_datanet("tiny", root=root)
    ingest(dn, progress=lambda m: None)
    shutil.copytree(root, base / "one", symlinks=True)
    update_index(dn)
    _grow(root)
    ingest(dn, progress=lambda m: None)
    update_index(dn)
    return {"p": root, "one": base / "one"}


@pytest.fixture
def project(built: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "p"
    shutil.copytree(built["p"], root, symlinks=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # verify's witness stays in the test
    return root


def _size(root: Path) -> int:
    with Ledger(root / "out" / "tiny" / "ledger") as led:
        return led.size


def _index_of(text: str) -> int:
    row = connect(load_datanet("tiny")).execute("select ledger_index from records where text = ?", [text]).fetchone()
    assert row is not None
    return int(row[0])


def _one_line(err: str) -> str:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


# -- 2. index --check, verify and attribute hash the index files against the ledger ---------------------------------


def _swap_first_two_docs(root: Path) -> Path:
    path = root / "out" / "tiny" / "attribution" / "shards" / "00000" / "docs.parquet"
    table = pq.read_table(path)
    pq.write_table(table.take([1, 0, *range(2, table.num_rows)]), path)
    return path


def test_every_index_file_is_committed_on_the_ledger(project: Path) -> None:
    dn = load_datanet("tiny")
    with Ledger(dn.ledger_dir) as led:
        entries = committed_index(led)
        assert led.latest_checkpoint() is not None and f"\n{led.size}\n" in led.latest_checkpoint()  # type: ignore[operator]
    assert [e["shard"] for e in entries] == ["00000", "00001"] and [e["docs"] for e in entries] == [6, 2]
    names = ["docs.parquet", "grams.npy", "offset.0", "table.0", "tokenized.0"]
    assert all([f[0] for f in e["files"]] == names for e in entries)
    assert main(["index", "tiny", "--check"]) == 0
    assert main(["verify", "tiny"]) == 0


def test_a_swapped_docs_row_fails_index_check_verify_and_attribute(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _index_of(NOTES[0]), _index_of(NOTES[1])
    assert (first, second) == (0, 1)
    path = _swap_first_two_docs(project)
    before = _size(project)
    assert main(["index", "tiny", "--check"]) == 1
    err = _one_line(capsys.readouterr().err)
    assert f"FAILED: tiny: attribution index: {path}: SHA-256 differs from index ledger entry" in err
    assert main(["verify", "tiny"]) == 1
    assert f"FAILED: tiny: attribution index: {path}: SHA-256 differs" in _one_line(capsys.readouterr().err)
    assert main(["attribute", "tiny", "--model", "m1", "--text", NOTES[0]]) == 1  # would credit c1 for c0's note
    err = _one_line(capsys.readouterr().err)
    assert f"{path}: SHA-256 differs" in err and "this index is not used" in err
    with pytest.raises(IndexMismatchError, match=r"docs\.parquet: SHA-256 differs"):
        record_attribution(load_datanet("tiny"), "m1", NOTES[0])
    assert _size(project) == before  # no attribution entry
    shutil.rmtree(project / "out" / "tiny" / "attribution")  # the remedy the message gives
    assert main(["index", "tiny"]) == 0 and _size(project) == before  # rebuilt to the committed bytes
    capsys.readouterr()
    assert main(["attribute", "tiny", "--model", "m1", "--text", NOTES[0], "--json"]) == 0
    assert [r["ledger_index"] for r in json.loads(capsys.readouterr().out)["records"]] == [first]


@pytest.mark.parametrize("change", ["vocab", "extra file", "INDEX.json"])
def test_other_index_changes_are_named(project: Path, capsys: pytest.CaptureFixture[str], change: str) -> None:
    folder = project / "out" / "tiny" / "attribution"
    if change == "vocab":
        words = (folder / "vocab.txt").read_text().split("\n")
        words[0], words[1] = words[1], words[0]
        (folder / "vocab.txt").write_text("\n".join(words))
        needle = f"{folder / 'vocab.txt'}: its first 102 words are not what index ledger entry"
    elif change == "extra file":
        (folder / "shards" / "00001" / "tokenized.1").write_bytes(b"\0" * 8)
        needle = f"{folder / 'shards' / '00001' / 'tokenized.1'}: not committed to by the ledger"
    else:
        manifest = json.loads((folder / "INDEX.json").read_text())
        manifest["runs"][1]["docs"] = 3
        (folder / "INDEX.json").write_text(json.dumps(manifest))
        needle = "INDEX.json: run"
    assert main(["index", "tiny", "--check"]) == 1
    assert needle in _one_line(capsys.readouterr().err)
    assert main(["verify", "tiny"]) == 1
    assert needle in _one_line(capsys.readouterr().err)


def test_an_index_the_ledger_does_not_vouch_for_is_rebuilt_before_use(
    built: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index built without index entries (as before they existed), then tampered: attribute rebuilds it first."""
    root = tmp_path / "one"
    shutil.copytree(built["one"], root, symlinks=True)
    monkeypatch.chdir(root)
    dn = load_datanet("tiny")
    rebuild_index(dn, index_dir(dn))  # files only, nothing on the ledger
    _swap_first_two_docs(root)
    result = record_attribution(dn, "m1", QUOTE)
    assert [r["ledger_index"] for r in result["records"]] == [_index_of(NOTES[1])]
    with Ledger(dn.ledger_dir) as led:
        assert [e["docs"] for e in committed_index(led)] == [6]
    assert main(["index", "tiny", "--check"]) == 0


# -- 3. empty outputs, fee-less entries, models nobody pays by attribution ------------------------------------------


@pytest.mark.parametrize("text", ["", " \n\t "])
def test_an_empty_or_blank_output_is_refused(project: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    before = _size(project)
    assert main(["attribute", "tiny", "--model", "m1", "--text", text]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("error: the output is empty (or only whitespace)")
    with pytest.raises(AttributionError, match="output is empty"):
        record_attribution(load_datanet("tiny"), "m1", text, fee_minor=5, currency="EUR")
    assert _size(project) == before


def _amounts() -> dict[tuple[str, str], int]:
    """The statement of m1 for 2026-11 as {(kind, payee's own id): cents}."""
    dn = load_datanet("tiny")
    s = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    names = {pseudonym_and_opening(dn, c)[0]: c for c in ("c0", "c1", "c2", "d0", "d1", "c9")}
    return {(x["kind"], names.get(x["payee"], x["payee"])): x["amount_minor"] for x in s["lines"]}


def test_the_hostile_payout_keeps_its_fee_shares(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's 1.00 EUR payout: the quoted contributor keeps 52 cents, the unattributed line 18."""
    dn = load_datanet("tiny")
    record_attribution(dn, "m1", QUOTE, inference_id="i1", fee_minor=100, currency="EUR")
    assert main(["attribute", "tiny", "--model", "m1", "--text", ""]) == 2  # was appended: equal shares, 26 and 44
    run_payout(dn, "m1", "2026-11", 100, "EUR")
    assert _amounts() == {
        ("platform", "platform"): 10,
        ("model_developer", "model-developer"): 20,
        ("contributor", "c1"): 52,
        ("unattributed", "model-developer"): 18,
    }


def test_fee_less_entries_weigh_as_the_mean_fee_of_the_period(project: Path) -> None:
    dn = load_datanet("tiny")
    outputs = [(f"{NOVEL} {NOTES[1]}", 300), (NOTES[2], 100), (f"{NOTES[6]} {NOVEL}", 200), (NOVEL, None)]
    for i, (text, fee) in enumerate(outputs):
        record_attribution(dn, "m1", text, f"i{i}", fee, "EUR" if fee else None)
    run_payout(dn, "m1", "2026-11", 100, "EUR")
    statement = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    assert statement["attribution"] == {"entries": 4, "shares": "fee", "without_fee": 1, "mean_fee_minor": "200"}
    # weights 3825, 9906 and 3714 bp; the fee-less novel output weighs 200 (equal shares gave c2 17 cents)
    assert _amounts() == {
        ("platform", "platform"): 10,
        ("model_developer", "model-developer"): 20,
        ("contributor", "c1"): 10,
        ("contributor", "c2"): 9,
        ("contributor", "d0"): 6,
        ("unattributed", "model-developer"): 45,
    }


def test_inference_shares_rule() -> None:
    mixed = {"shares": "fee", "without_fee": 1, "mean_fee_minor": "200"}
    assert inference_shares([300, None, 100]) == ([300, 200, 100], mixed)
    assert inference_shares([5, 7]) == ([5, 7], {"shares": "fee"})
    assert inference_shares([None, None]) == ([1, 1], {"shares": "equal"})
    assert inference_shares([1, 2, None])[0][2] == Fraction(3, 2)


def test_attribution_for_a_model_no_policy_pays_warns(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decl = project / "datanets" / "tiny.yaml"
    decl.write_text(decl.read_text().replace("payout: {basis: attribution}", "payout: {attribution_models: [m1]}"))
    assert main(["attribute", "tiny", "--model", "m2", "--text", QUOTE]) == 0
    err = _one_line(capsys.readouterr().err)
    assert err == (
        "warning: model m2 is not paid by attribution in tiny (payout.basis is records and "
        "payout.attribution_models does not list it): its attribution entries will never be paid\n"
    )
    assert main(["attribute", "tiny", "--model", "m1", "--text", QUOTE]) == 0
    assert capsys.readouterr().err == ""


# -- 8. one model-id rule, runs that exist, positive spans, plain amounts -------------------------------------------


BAD_MODEL = "my model/../x"
BAD_MODEL_ERROR = f"error: model {BAD_MODEL!r} must be letters, digits, '.', '_' or '-'"


def test_every_command_refuses_a_model_id_payout_would_refuse(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _size(project)
    commands = [
        ["usage", "record", "tiny", "--model", BAD_MODEL, "--training-run", "tr1", "--all"],
        ["attribute", "tiny", "--model", BAD_MODEL, "--text", QUOTE],
        ["payout", "tiny", "--model", BAD_MODEL, "--period", "2026-11", "--currency", "EUR", "--revenue", "1"],
    ]
    for args in commands:
        assert main(args) == 2, args
        assert _one_line(capsys.readouterr().err).startswith(BAD_MODEL_ERROR)
    with pytest.raises(IdError, match="must be letters"):
        record_usage(load_datanet("tiny"), BAD_MODEL, "tr1", select_records(load_datanet("tiny")))
    assert _size(project) == before


def test_usage_record_refuses_a_run_that_does_not_exist(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _size(project)
    assert (
        main(["usage", "record", "tiny", "--model", "m1", "--training-run", "tr1", "--all", "--run", "nosuchrun"]) == 2
    )
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("error: run 'nosuchrun' is not a committed ingest run of tiny")
    assert main(["usage", "record", "tiny", "--model", "m1", "--training-run", "tr1", "--where", "false"]) == 2
    assert "no committed records of tiny match --where 'false'" in _one_line(capsys.readouterr().err)
    assert _size(project) == before


@pytest.mark.parametrize("value", ["0", "-3", "1_0", " 8"])
def test_min_span_must_be_a_positive_whole_number(
    project: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    before = _size(project)
    assert main(["attribute", "tiny", "--model", "m1", "--text", QUOTE, f"--min-span={value}"]) == 2
    assert f"error: --min-span takes a whole number of at least 1, not {value!r}" in _one_line(capsys.readouterr().err)
    assert _size(project) == before


@pytest.mark.parametrize("amount", ["1_000", "1e3", "1,000", "+5", "0x10", "١٢", " 12"])
def test_amounts_are_plain_decimals(amount: str) -> None:
    with pytest.raises(MoneyError, match=re.escape(f"revenue {amount!r} is not a plain decimal amount")):
        to_minor(amount, "EUR")
    with pytest.raises(MoneyError, match="is not plain digits"):
        minor_amount(amount)


def test_cli_refuses_underscored_revenue_and_fees(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_attribution(load_datanet("tiny"), "m1", QUOTE, fee_minor=100, currency="EUR")  # something to pay
    before = _size(project)
    pay = ["payout", "tiny", "--model", "m1", "--period", "2026-11", "--currency", "EUR"]
    assert main([*pay, "--revenue", "1_000"]) == 2
    assert "error: revenue '1_000' is not a plain decimal amount" in _one_line(capsys.readouterr().err)
    assert main([*pay, "--revenue-minor", "1_000"]) == 2
    assert "error: revenue '1_000' minor units is not plain digits" in _one_line(capsys.readouterr().err)
    assert main(["attribute", "tiny", "--model", "m1", "--text", QUOTE, "--fee", "0_5", "--currency", "EUR"]) == 2
    assert "error: fee '0_5' is not a plain decimal amount" in _one_line(capsys.readouterr().err)
    assert _size(project) == before


# -- 9. writers wait for the ledger lock ---------------------------------------------------------------------------


@pytest.fixture
def holder(project: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the ledger's writer lock for two minutes (killed at the end)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ledger = str(project / "out" / "tiny" / "ledger")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, ledger, "120"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _hold_for(project: Path, seconds: float) -> threading.Thread:
    """A thread holding the writer lock for ``seconds`` (flock locks are per open file, so threads contend too)."""
    held = threading.Event()

    def run() -> None:
        with Ledger(project / "out" / "tiny" / "ledger", writer=True):
            held.set()
            time.sleep(seconds)

    t = threading.Thread(target=run)
    t.start()
    assert held.wait(30)
    return t


def test_attribute_waits_for_another_process_s_lock(
    project: Path, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    threading.Timer(2.0, holder.kill).start()  # the other writer finishes while attribute waits
    assert main(["attribute", "tiny", "--model", "m1", "--text", QUOTE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ledger"]["appended"] is True


def test_a_writer_gives_up_after_wait_with_one_line(
    project: Path, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before, start = _size(project), time.monotonic()
    assert main(["attribute", "tiny", "--model", "m1", "--text", QUOTE, "--wait", "0.5"]) == 1
    assert time.monotonic() - start < 60
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("error: LedgerBusyError: another process is writing to the ledger at ")
    assert "held its writer lock for 0.5 s; try again when it is done, or wait longer with --wait SECONDS" in err
    assert main(["usage", "record", "tiny", "--model", "m1", "--training-run", "t", "--all", "--wait", "0"]) == 1
    assert "held its writer lock (not waiting: --wait 0)" in _one_line(capsys.readouterr().err)
    assert _size(project) == before


@pytest.mark.parametrize("value", ["-1", "soon", "1e3", "nan"])
def test_wait_takes_plain_seconds(project: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["attribute", "tiny", "--model", "m1", "--text", QUOTE, f"--wait={value}"])
    assert done.value.code == 2
    assert f"--wait takes plain decimal seconds such as 60 or 0.5, not {value!r}" in capsys.readouterr().err


def test_usage_payout_and_index_wait_for_the_lock(project: Path) -> None:
    dn = load_datanet("tiny")
    t = _hold_for(project, 1.5)
    assert record_usage(dn, "m1", "tr1", select_records(dn))["appended"] == 8
    t.join()
    record_attribution(dn, "m1", QUOTE, fee_minor=100, currency="EUR")
    t = _hold_for(project, 1.5)
    assert run_payout(dn, "m1", "2026-11", 100, "EUR")["payout_index"] > 0
    t.join()
    shutil.rmtree(index_dir(dn))
    t = _hold_for(project, 1.5)
    assert update_index(dn)["runs"] == 2
    t.join()


def test_ingest_waits_for_the_lock(project: Path) -> None:
    """An attribute (here: a thread holding the lock) overlapping an ingest no longer fails the ingest."""
    with open(project / "data" / "c.jsonl", "w") as f:
        f.write(json.dumps({"contributor_id": "e1", "text": NOVEL}) + "\n")
    dn = load_datanet("tiny")
    t = _hold_for(project, 2.0)
    report = ingest(dn, progress=lambda m: None)
    t.join()
    assert report["accepted"] == 1 and report["run_id"]
