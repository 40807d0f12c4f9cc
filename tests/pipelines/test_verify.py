"""``datanet verify``: a genuine Datanet verifies; every tampering names its first difference and exits 1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ledger.log import Ledger
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.driver.run import ingest
from pipelines.driver.verify import VerifyError, _check_rows, _run_entries, verify_datanet

from ..conftest import make_project


def _quiet(msg: str) -> None:
    pass


def _grow(root: Path) -> None:
    fresh = [
        {
            "contributor_id": f"n{i}",
            "text": f"New note {i}: eczema treated with emollients twice daily, review {i} weeks.",
        }
        for i in range(5)
    ]
    (root / "data" / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in fresh))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Datanet after two runs (4-row shards), plus a copy of its output after the first run."""
    base = tmp_path_factory.mktemp("verify")
    root = make_project(base / "p", "pii: {enabled: false}\n")
    dn = load_datanet("tiny", root=root)
    ingest(dn, progress=_quiet)
    shutil.copytree(root / "out", base / "after-first-run")
    _grow(root)
    ingest(dn, progress=_quiet)
    return base


@pytest.fixture
def copy(published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "p"
    shutil.copytree(published / "p", root, symlinks=True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return root


def _shards(root: Path) -> list[Path]:
    return sorted((root / "out" / "tiny" / "shards").rglob("*.parquet"))


def _rewrite(path: Path, change: Callable[[list[dict]], list[dict]]) -> None:
    table = pq.read_table(path)
    pq.write_table(table.from_pylist(change(table.to_pylist()), schema=table.schema), path)


def _edit_text(rows: list[dict]) -> list[dict]:
    text = rows[1]["text"]
    rows[1]["text"] = text[:-1] + ("A" if text[-1] != "A" else "B")  # one character, whatever the text is
    return rows


def _verify(root: Path, *extra: str) -> tuple[int, str]:
    dn = load_datanet("tiny", root=root)
    try:
        out = verify_datanet(dn, *extra)  # type: ignore[arg-type]
    except VerifyError as exc:
        return 1, str(exc)
    return 0, f"{out.rows} rows"


def test_a_genuine_datanet_verifies_and_the_cli_says_ok(copy: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(copy)
    assert main(["verify", "tiny"]) == 0
    assert "OK: tiny: 15 shard rows in 2 run(s)" in capsys.readouterr().out
    assert main(["verify", "tiny", "--vkey", "out/tiny/ledger/vkey"]) == 0


TAMPERS: list[tuple[str, Callable[[Path], None], str]] = [
    ("one character of a row's text", lambda r: _rewrite(_shards(r)[0], _edit_text), "SHA-256 differs"),
    ("a deleted shard row", lambda r: _rewrite(_shards(r)[0], lambda rows: rows[1:]), "SHA-256 differs"),
    ("a deleted shard file", lambda r: _shards(r)[1].unlink(), "missing"),
    (
        "a shard dropped from COMMITTED.json",
        lambda r: [
            p.write_text(json.dumps({**(d := json.loads(p.read_text())), "shards": d["shards"][1:]}))
            for p in sorted((r / "out" / "tiny" / "runs").glob("*/COMMITTED.json"))[:1]
        ],
        "list different files",
    ),
    (
        "a deleted checkpoint of an earlier run",
        lambda r: min((r / "out" / "tiny" / "ledger" / "checkpoints").glob("*.note")).unlink(),
        "the checkpoint it was published at",
    ),
    (
        "every checkpoint deleted",
        lambda r: [
            p.unlink()
            for p in (r / "out" / "tiny" / "ledger").rglob("*")
            if p.name.endswith("note") or p.name == "checkpoint"
        ],
        "no signed checkpoint",
    ),
    (
        "a run's COMMITTED.json deleted",
        lambda r: max((r / "out" / "tiny" / "runs").glob("*/COMMITTED.json")).unlink(),
        "is not published",
    ),
]


@pytest.mark.parametrize("what, tamper, needle", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampering_is_named(copy: Path, what: str, tamper: Callable[[Path], None], needle: str) -> None:
    assert _verify(copy)[0] == 0
    tamper(copy)
    status, message = _verify(copy)
    assert status == 1 and needle in message, message


@pytest.mark.parametrize("change", [_edit_text, lambda rows: rows[1:]], ids=["changed text", "deleted row"])
def test_rows_are_checked_against_the_ledger_even_where_file_hashes_were_not(copy: Path, change: Callable) -> None:
    dn = load_datanet("tiny", root=copy)
    with Ledger(dn.ledger_dir) as led:
        runs, _ = _run_entries(led)
        first = min(runs.values(), key=lambda x: x[0])[1]
        _rewrite(dn.out_dir / next(f[0] for f in first["files"] if f[0].startswith("shards/")), change)
        with pytest.raises(VerifyError, match=r"row 1: the fields hash to|row 0: ledger_index 1, expected 0"):
            _check_rows(dn, led, first)


def test_rollback_to_an_older_checkpoint_is_caught_by_the_witness(copy: Path, published: Path) -> None:
    witness = copy / "witness.note"
    assert _verify(copy, None, witness)[0] == 0
    shutil.rmtree(copy / "out")
    shutil.copytree(published / "after-first-run", copy / "out")  # the whole output as it was, self-consistent
    assert _verify(copy)[0] == 0, "without the witness the older state is consistent"
    status, message = _verify(copy, None, witness)
    assert status == 1 and "rollback" in message


def test_a_fork_signed_with_the_same_key_is_caught_by_the_witness(copy: Path, tmp_path: Path) -> None:
    witness = copy / "witness.note"
    assert _verify(copy, None, witness)[0] == 0
    other = make_project(tmp_path / "other", "pii: {enabled: false}\n")
    shutil.copytree(copy / "out" / "keys", other / "out" / "keys")
    (other / "data" / "a.jsonl").write_text(
        "".join(
            json.dumps({"contributor_id": f"f{i}", "text": f"Fork note {i} about migraine and triptans."}) + "\n"
            for i in range(20)
        )
    )
    ingest(load_datanet("tiny", root=other), progress=_quiet)
    status, message = _verify(other, None, witness)
    assert status == 1 and "fork" in message, message


def test_status_lists_runs_and_verifies_without_moving_the_witness(
    copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.driver.status import status
    from pipelines.driver.verify import default_witness

    monkeypatch.chdir(copy)
    assert main(["status", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "run #1" in out and "run #2" in out and "verify: OK" in out
    dn = load_datanet("tiny", root=copy)
    key = (dn.ledger_dir / "vkey").read_text().strip()
    assert not default_witness(dn, key).exists(), "status must not write the witness"
    _shards(copy)[0].unlink()
    s = status(dn)
    assert s["verify"]["ok"] is False and "missing" in s["verify"]["detail"]
    assert main(["status", "tiny"]) == 1


def test_a_recreated_datanet_with_a_new_key_is_not_first_seen_without_vkey(
    copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: the default witness is kept per key, so a rollback signed with a fresh key looked 'first seen'."""
    monkeypatch.chdir(copy)
    assert main(["verify", "tiny"]) == 0
    capsys.readouterr()
    shutil.rmtree(copy / "out")  # the rollback: a new output and a new signing key, same origin
    ingest(load_datanet("tiny", root=copy), progress=_quiet)
    assert main(["verify", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "was verified on this machine under another key" in err and "--vkey" in err
    assert main(["verify", "tiny", "--vkey", "out/tiny/ledger/vkey"]) == 0
    assert main(["verify", "tiny"]) == 0, "once trusted on purpose, the new key has its own witness"


def test_status_shows_the_signed_counts_not_an_edited_report(
    copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: edited report.json counts were shown by status beside 'verify: OK'."""
    from pipelines.driver.status import status

    monkeypatch.chdir(copy)
    dn = load_datanet("tiny", root=copy)
    before = status(dn)["runs"]
    report = sorted((copy / "out" / "tiny" / "runs").glob("*/report.json"))[0]
    rep = json.loads(report.read_text())
    report.write_text(json.dumps({**rep, "accepted": rep["accepted"] + 1000, "read": rep["read"] + 1000}))
    after = status(dn)["runs"]
    assert [(r["accepted"], r["read"]) for r in after] == [(r["accepted"], r["read"]) for r in before]
    edited = next(r for r in after if r["run_id"] == report.parent.name)
    assert edited["counts_from"] == "ledger" and edited["report_differs"] == ["accepted", "read"]
    assert main(["status", "tiny"]) == 0
    out = capsys.readouterr().out
    assert f"runs/{edited['run_id']}/report.json differs from the signed run entry in accepted, read" in out
    assert f"accepted {rep['accepted'] + 1000}" not in out
