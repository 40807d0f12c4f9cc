"""Ingest runs on a small project: accounting, idempotence, increments, crashes, locking."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ledger.audit import audit
from ledger.log import Ledger
from pipelines.config import load_datanet
from pipelines.faults import POINTS
from pipelines.run import RunBusyError, _lock, ingest

from ..conftest import REPO, make_project, tiny_records


def _quiet(msg: str) -> None:
    pass


def _outputs(root: Path) -> dict[str, str]:
    """Digest of every published file (shards, quarantine, duplicates, state, ledger data)."""
    out = root / "out" / "tiny"
    files = [
        p
        for p in sorted(out.rglob("*"))
        if (p.is_file() and p.suffix in (".parquet", ".jsonl", ".idx", ".hashes")) or p.name in ("STATE",)
    ]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _write(path: Path, rows: list[dict] | list[bytes]) -> None:
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))


def test_accounting_and_rerun_adds_nothing(project: Path) -> None:
    recs = tiny_records()
    _write(project / "data" / "a.jsonl", [*recs, recs[2], {"contributor_id": "x", "text": "short"}, b"{oops"])
    dn = load_datanet("tiny")
    report = ingest(dn, progress=_quiet)
    assert report["read"] == 13
    assert (report["accepted"], report["duplicates"]["total"], report["quarantined"]["total"]) == (10, 1, 2)
    assert report["quarantined"]["by_reason"] == {"malformed_json": 1, "validation_failed": 1}
    before = _outputs(project)
    again = ingest(dn, progress=_quiet)
    assert again["run_id"] is None and again["read"] == 0
    assert _outputs(project) == before


def test_new_file_is_a_new_run_deduplicated_against_earlier_runs(project: Path) -> None:
    dn = load_datanet("tiny")
    first = ingest(dn, progress=_quiet)
    old = tiny_records()
    fresh = {"contributor_id": "c9", "text": "A completely new note about eczema treated with emollients twice daily."}
    _write(project / "data" / "b.jsonl", [fresh, {**old[4], "contributor_id": "c7"}])
    second = ingest(dn, progress=_quiet)
    assert second["run_id"] != first["run_id"] and second["read"] == 2 and second["accepted"] == 1
    dup = duckdb.sql(
        f"select duplicate_of, kind from '{project}/out/tiny/duplicates/{second['run_id']}/*.parquet'"
    ).fetchall()
    original = duckdb.sql(
        f"select record_hash from '{project}/out/tiny/shards/{first['run_id']}/*.parquet' "
        f"where text = '{old[4]['text']}'"
    ).fetchall()
    assert dup == [(original[0][0], "exact")]
    assert second["ledger"]["first_index"] == 10 and second["ledger"]["size"] == 11
    with Ledger(dn.ledger_dir) as led:
        assert led.checkpoint_sizes() == [10, 11]


def test_same_inputs_give_identical_outputs_in_another_folder(project: Path, tmp_path: Path) -> None:
    ingest(load_datanet("tiny"), progress=_quiet)
    a = _outputs(project)
    other = tmp_path / "copy"
    other.mkdir()
    for sub in ("schemas", "datanets", "data"):
        subprocess.run(["cp", "-r", str(project / sub), str(other / sub)], check=True)
    (other / "out").mkdir()  # the same curator: the same key and salt (dedup state keys shingles with the salt)
    subprocess.run(["cp", "-r", str(project / "out" / "keys"), str(other / "out" / "keys")], check=True)
    ingest(load_datanet("tiny", root=other), progress=_quiet)
    assert _outputs(other) == a


def _ingest_subprocess(root: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DATANETS_CRASH_AT", None)
    if crash_at:
        env["DATANETS_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "ingest", "tiny"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


SMALL_BATCHES = "ledger: {batch_size: 3}\n"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    ref = make_project(tmp_path_factory.mktemp("ref"), SMALL_BATCHES)
    run = _ingest_subprocess(ref, None)
    assert run.returncode == 0, run.stderr[-2000:]
    return ref, _outputs(ref)


def _same_keys(ref: Path, root: Path) -> None:
    """The same curator: copy the signing key and salt (dedup state keys shingles with the salt)."""
    (root / "out").mkdir(exist_ok=True)
    subprocess.run(["cp", "-r", str(ref / "out" / "keys"), str(root / "out" / "keys")], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_any_commit_point_then_rerun_gives_the_uninterrupted_result(
    tmp_path: Path, uninterrupted: tuple[Path, dict[str, str]], point: str
) -> None:
    root = make_project(tmp_path / "p", SMALL_BATCHES)
    _same_keys(uninterrupted[0], root)
    crashed = _ingest_subprocess(root, point)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    resumed = _ingest_subprocess(root, None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _outputs(root) == uninterrupted[1]
    audit(root / "out" / "tiny" / "ledger")
    assert not list((root / "out" / "tiny").rglob("*.tmp-*"))


def test_second_concurrent_ingest_is_refused(project: Path) -> None:
    dn = load_datanet("tiny")
    fd = _lock(dn)
    try:
        with pytest.raises(RunBusyError, match="another ingest of tiny is running"):
            ingest(dn, progress=_quiet)
    finally:
        os.close(fd)
