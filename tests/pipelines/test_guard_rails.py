"""Guard rails before the ledger, and errors a curator can act on (issue 21).

Each case asserts the exit status, the message, and, where a run was refused
or dry, that the ledger and the published files did not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.log import Ledger
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.core.keys import KeysError, export_keys, import_keys
from pipelines.core.registry import committed_runs, shard_paths
from pipelines.downstream.quarantine import explain

from ..conftest import REPO, tiny_records


def _lines(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def _renamed(n: int) -> list[dict]:
    """``n`` lines whose text is under ``body`` instead of ``text`` (the curator's mistake in the issue)."""
    out = []
    for i in range(n):
        r = dict(tiny_records()[i % 10])
        r["body"] = r.pop("text") + f" variant {i}"
        out.append(r)
    return out


def _published(project: Path) -> tuple[int, list[str], list[Path]]:
    dn = load_datanet("tiny")
    size = 0
    if (dn.ledger_dir / "STATE").exists():
        with Ledger(dn.ledger_dir) as led:
            size = led.size
    return size, [r["run_id"] for r in committed_runs(dn)], shard_paths(dn)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_a_mostly_quarantined_run_is_refused_publishes_nothing_and_can_be_accepted_on_purpose(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _lines(project / "data" / "b.jsonl", _renamed(20))
    before = _published(project)
    code, _, err = _run(capsys, "ingest", "tiny", "--quiet")
    assert code == 1
    assert "REFUSED: run " in err and "20 of 30 records read (67%) were quarantined" in err
    assert "unknown_field 20; e.g. data/b.jsonl:1: unknown field(s): body" in err
    assert "datanet quarantine tiny --run" in err and "--accept-quarantine" in err
    assert _published(project) == before == (0, [], [])
    code, out, _ = _run(capsys, "quarantine", "tiny", "--limit", "2")
    assert code == 0 and "data/b.jsonl:1  unknown_field  unknown field(s): body" in out
    assert "'body': did you mean 'text'?" in out and "… 18 more" in out
    code, _, err = _run(capsys, "ingest", "tiny", "--quiet", "--accept-quarantine")
    assert code == 0, err
    size, runs, shards = _published(project)
    assert size == 10 + 1 and len(runs) == 1 and shards  # 10 contributions and the run entry


@pytest.mark.slow
def test_a_run_that_accepts_nothing_is_refused_whatever_the_threshold(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "data" / "a.jsonl").unlink()
    _lines(project / "data" / "b.jsonl", _renamed(3))
    decl = project / "datanets" / "tiny.yaml"
    decl.write_text(decl.read_text().replace("validation:\n", "validation:\n  max_quarantine_share: 1.0\n"))
    code, _, err = _run(capsys, "ingest", "tiny", "--quiet")
    assert code == 1 and "it accepts no record of the 3 read" in err
    assert _published(project) == (0, [], [])


@pytest.mark.slow
def test_a_dry_run_reports_like_a_run_and_publishes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "ingest", "tiny", "--quiet")[0] == 0
    before = _published(project)
    dn = load_datanet("tiny")
    checkpoints = sorted(p.name for p in (dn.ledger_dir / "checkpoints").iterdir())
    fresh = [
        f"Dermatology review {i}: eczema on the {side} forearm improved with emollient twice daily; {i + 4} weeks."
        for i, side in enumerate(["left", "right"] * 5)
    ]
    rows = [{**r, "text": t} for r, t in zip(tiny_records(), fresh, strict=True)] + _renamed(1)
    _lines(project / "data" / "c.jsonl", rows)
    code, out, _ = _run(capsys, "ingest", "tiny", "--quiet", "--dry-run")
    assert code == 0
    assert "(DRY RUN)" in out and "DRY RUN: nothing was published" in out
    assert "accepted           10" in out and "nothing appended" in out
    assert "details: datanet quarantine tiny --dry-run" in out
    assert _published(project) == before
    assert sorted(p.name for p in (dn.ledger_dir / "checkpoints").iterdir()) == checkpoints
    assert list((dn.out_dir / "dry-run" / "shards").glob("*/*.parquet"))
    report = json.loads(next((dn.out_dir / "dry-run" / "runs").glob("*/report.json")).read_text())
    assert report["dry_run"] and report["accepted"] == 10 and report["refused"] is None
    code, out, _ = _run(capsys, "quarantine", "tiny", "--dry-run")
    assert code == 0 and "data/c.jsonl:11  unknown_field" in out
    code, _, _ = _run(capsys, "ingest", "tiny", "--quiet")  # the real run of the same inputs then commits
    assert code == 0 and _published(project)[0] == before[0] + 10 + 1  # 10 contributions, the run entry


def test_quarantine_hints_show_values_and_the_names_meant() -> None:
    def row(reason: str, detail: str, payload: dict) -> dict:
        return {"file": "a.jsonl", "line": 7, "reason": reason, "detail": detail, "payload": json.dumps(payload)}

    fields, needed = ["text", "n_words"], ("text",)
    got = explain(row("unknown_field", "unknown field(s): txt", {"txt": "x", "contributor_id": "c"}), fields, needed)
    assert got.endswith("— 'txt': did you mean 'text'?; the line has no 'text'")
    got = explain(row("wrong_type", "field n_words must be a integer, got str", {"n_words": "12"}), fields)
    assert got.endswith('— value: "12"')
    got = explain(row("missing_contributor_id", "contributor_id is missing", {"contributor": "c1"}), fields)
    assert got.endswith("— the line has 'contributor': did you mean 'contributor_id'?")
    detail = "expect_column_value_lengths_to_be_between(text)"
    got = explain(row("validation_failed", detail, {"text": "short"}), fields)
    assert got.endswith('— text = "short" (5 chars)')
    assert explain(row("empty_record", "every text field is empty", {"text": ""}), fields).endswith("is empty")


@pytest.fixture
def ingested(project: Path) -> Path:
    assert main(["ingest", "tiny", "--quiet"]) == 0
    return project


@pytest.mark.slow
def test_downstream_errors_are_one_line_and_empty_selections_fail_unless_allowed(
    ingested: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "sql", "tiny", "select nope from records")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert 'Referenced column "nope" not found' in err and "columns: records(text, specialty, contributor_id" in err
    where = ("usage", "record", "tiny", "--model", "m1", "--training-run", "t1", "--where")
    code, _, err = _run(capsys, *where, "kind = 'docstring'")
    assert code == 2 and err.count("\n") == 1 and "columns: records(" in err
    code, _, err = _run(capsys, *where, "specialty = 'none'")
    assert code == 2 and "match --where" in err and "--allow-empty" in err
    code, _, err = _run(capsys, *where, "specialty = 'none'", "--allow-empty")
    assert code == 0 and err.startswith("warning: no committed records")
    with Ledger(load_datanet("tiny").ledger_dir) as led:
        assert led.size == 11  # nothing was appended by the refused or empty usage records
    code, out, _ = _run(capsys, "ledger", "audit", "tiny")
    assert code == 0 and "(10 contributions, " in out


@pytest.mark.slow
def test_the_copied_verifier_uses_the_entry_inside_the_proof(
    ingested: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, vkey, _ = _run(capsys, "ledger", "vkey", "tiny")
    _, proof, _ = _run(capsys, "ledger", "prove", "tiny", "--index", "3")
    shutil.copy(REPO / "ledger" / "verify.py", tmp_path / "verify.py")
    (tmp_path / "p.tlog-proof").write_text(proof)
    run = subprocess.run(
        [sys.executable, "-I", "verify.py", "p.tlog-proof", "--vkey", vkey.strip()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and run.stdout.startswith("OK:") and "FAILED" not in run.stderr, run.stderr


@pytest.mark.slow
def test_keys_export_import_round_trip_and_check_warns_when_they_are_missing(
    ingested: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dn = load_datanet("tiny")
    backup = tmp_path / "keys.json"
    code, out, _ = _run(capsys, "keys", "tiny", "--export", str(backup))
    assert code == 0 and str(backup) in out and os.stat(backup).st_mode & 0o777 == 0o600
    assert _run(capsys, "keys", "tiny", "--export", str(backup))[0] == 2  # never overwritten
    saved = {p.name: p.read_bytes() for p in dn.key_path.parent.iterdir()}
    shutil.rmtree(dn.key_path.parent)
    code, _, err = _run(capsys, "check", "tiny")
    assert code == 0 and "1 run(s) are published but" in err and "datanet keys tiny --import FILE" in err
    code, out, _ = _run(capsys, "keys", "tiny", "--import", str(backup))
    assert code == 0 and "restored" in out
    assert {p.name: p.read_bytes() for p in dn.key_path.parent.iterdir()} == saved
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in dn.key_path.parent.iterdir())
    _, _, err = _run(capsys, "check", "tiny")
    assert "ledger.key" not in err
    dn.key_path.with_suffix(".salt").write_bytes(b"\0" * 32)
    _, _, err = _run(capsys, "check", "tiny")
    assert "the dedup salt beside it is not the one the published runs used" in err
    with pytest.raises(KeysError, match="exist with other keys"):
        import_keys(dn, backup)
    other = json.loads(backup.read_text())
    other["origin"] = "datanets.local/other"
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(KeysError, match=r"keys of origin 'datanets\.local/other'"):
        import_keys(dn, tmp_path / "other.json")
    with pytest.raises(KeysError, match="exists"):
        export_keys(dn, backup)
