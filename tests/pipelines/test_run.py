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
from pipelines.core.config import load_datanet
from pipelines.core.errors import POINTS
from pipelines.downstream.contributors import pseudonym_and_opening
from pipelines.driver.run import RunBusyError, _lock, ingest

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
    again = ingest(dn, overrides=None, progress=_quiet)  # None means no overrides, as before RunOptions
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
    # run 1: 10 contributions + its run entry; run 2: 1 contribution, 1 copy (c7's duplicate), its run entry
    assert second["ledger"]["first_index"] == 11 and second["ledger"]["size"] == 14
    with Ledger(dn.ledger_dir) as led:
        assert led.checkpoint_sizes() == [11, 14]


def _committed(project: Path) -> list[Path]:
    return sorted((project / "out" / "tiny" / "runs").glob("*/COMMITTED.json"))


def test_input_digests_are_keyed_and_a_forged_one_does_not_hide_a_new_file(project: Path) -> None:
    """Issue 18: COMMITTED.json held plain SHA-256 digests of raw input files, and editing it hid a new file."""
    dn = load_datanet("tiny")
    ingest(dn, progress=_quiet)
    [manifest] = _committed(project)
    body = json.loads(manifest.read_text())
    plain = hashlib.sha256((project / "data" / "a.jsonl").read_bytes()).hexdigest()
    assert body["input_digest"] == "hmac-sha256-salt" and plain not in manifest.read_text()
    fresh = {"contributor_id": "c9", "text": "A completely new note about eczema treated with emollients twice daily."}
    _write(project / "data" / "b.jsonl", [fresh])
    forged = hashlib.sha256((project / "data" / "b.jsonl").read_bytes()).hexdigest()
    manifest.write_text(json.dumps({**body, "inputs": {**body["inputs"], "data/b.jsonl": forged}}))
    second = ingest(dn, progress=_quiet)
    assert (second["read"], second["accepted"]) == (1, 1), "a forged digest must not make a new file look ingested"


def test_runs_committed_with_plain_digests_are_still_recognised(project: Path) -> None:
    """Datanets ingested before keyed digests: their inputs are compared by plain SHA-256, so nothing is re-read."""
    dn = load_datanet("tiny")
    ingest(dn, progress=_quiet)
    [manifest] = _committed(project)
    body = json.loads(manifest.read_text())
    plain = hashlib.sha256((project / "data" / "a.jsonl").read_bytes()).hexdigest()
    del body["input_digest"]
    manifest.write_text(json.dumps({**body, "inputs": {"data/a.jsonl": plain}}))
    again = ingest(dn, progress=_quiet)
    assert again["run_id"] is None and again["read"] == 0


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
        [sys.executable, "-m", "pipelines.cli.main", "ingest", "tiny"],
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


HANDOVER = """\
name: tiny
schema: schemas/note.yaml
sources:
  - {path: data/*.jsonl, format: jsonl}
validation:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {column: specialty, value_set: [asthma, copd]}
runner:
  options: {direct_running_mode: in_memory, direct_num_workers: 1}
"""


def test_a_kept_record_that_fails_validation_hands_over_to_the_next_valid_copy(project: Path) -> None:
    (project / "datanets" / "tiny.yaml").write_text(HANDOVER)
    text = " ".join(r["text"] for r in tiny_records()[:4])
    near = text + " Reviewed."
    rows = [
        {"contributor_id": "a", "text": text, "specialty": "zzz", "submitted_at": "2026-01-01T00:00:00Z"},
        {"contributor_id": "b", "text": text, "specialty": "asthma", "submitted_at": "2026-01-02T00:00:00Z"},
        {"contributor_id": "c", "text": text, "specialty": "copd", "submitted_at": "2026-01-03T00:00:00Z"},
        {"contributor_id": "d", "text": near, "specialty": "asthma", "submitted_at": "2026-01-04T00:00:00Z"},
    ]
    _write(project / "data" / "a.jsonl", rows)
    report = ingest(load_datanet("tiny"), progress=_quiet)
    assert (report["accepted"], report["duplicates"]["total"], report["quarantined"]["total"]) == (1, 2, 1)
    out = project / "out" / "tiny"
    [(kept_hash, kept_by)] = duckdb.sql(
        f"select record_hash, contributor_id from '{out}/shards/*/*.parquet'"
    ).fetchall()
    who = {pseudonym_and_opening(load_datanet("tiny"), c)[0]: c for c in "abcd"}
    assert who[kept_by] == "b"
    dups = duckdb.sql(
        f"select contributor_id, kind, duplicate_of, similarity from '{out}/duplicates/*/*.parquet' order by 1"
    ).fetchall()
    named = sorted((who[c], k, d, sim) for c, k, d, sim in dups)
    assert [x[:3] for x in named] == [("c", "exact", kept_hash), ("d", "near", kept_hash)]
    assert named[0][3] == 1.0 and 0.8 <= named[1][3] < 1.0


def test_changed_dedup_parameters_re_sketch_earlier_runs(project: Path) -> None:
    from pipelines.stages.dedup.state import read_params

    first = ingest(load_datanet("tiny"), progress=_quiet)
    with open(project / "datanets" / "tiny.yaml", "a") as f:
        f.write("dedup: {near: {num_perm: 64, shingle_size: 4}}\n")
    old = tiny_records()
    near = old[5]["text"] + " Reviewed."
    _write(project / "data" / "b.jsonl", [{**old[2], "contributor_id": "x"}, {**old[5], "text": near}])
    said: list[str] = []
    second = ingest(load_datanet("tiny"), progress=said.append)
    assert any("re-sketching" in m for m in said)
    assert (second["read"], second["accepted"], second["duplicates"]["total"]) == (2, 0, 2)
    assert set(second["duplicates"]) == {"total", "exact", "near"}
    dup_of = duckdb.sql(
        f"select duplicate_of from '{project}/out/tiny/duplicates/{second['run_id']}/*.parquet'"
    ).fetchall()
    first_hashes = {
        h
        for (h,) in duckdb.sql(
            f"select record_hash from '{project}/out/tiny/shards/{first['run_id']}/*.parquet'"
        ).fetchall()
    }
    assert {h for (h,) in dup_of} <= first_hashes
    third_input = project / "data" / "c.jsonl"
    _write(third_input, [{**old[7], "contributor_id": "y"}])
    third = ingest(load_datanet("tiny"), progress=said.append)
    assert third["duplicates"] == {"total": 1, "exact": 1}
    params = [read_params(str(p)) for p in (project / "out" / "tiny" / "state").rglob("*.parquet")]
    assert {(p or {}).get("num_perm") for p in params} == {128}  # run 1's state; runs 2-3 accepted nothing


@pytest.mark.slow
@pytest.mark.parametrize("point", ["published", "ledger-batch"])
def test_crash_then_new_input_then_rerun_gives_the_uninterrupted_result(tmp_path: Path, point: str) -> None:
    """Appends had begun (ledger-batch): the run is finished first; they had not (published): it is planned afresh."""
    extra = [{"contributor_id": "c9", "text": "A completely new note about eczema treated with emollients daily."}]
    ref = make_project(tmp_path / "ref", SMALL_BATCHES)
    assert _ingest_subprocess(ref, None).returncode == 0
    if point == "ledger-batch":  # uninterrupted: run 1 committed, then run 2 over the new file
        _write(ref / "data" / "b.jsonl", extra)
        assert _ingest_subprocess(ref, None).returncode == 0
    root = make_project(tmp_path / "p", SMALL_BATCHES)
    _same_keys(ref, root)
    crashed = _ingest_subprocess(root, point)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    _write(root / "data" / "b.jsonl", extra)
    if point == "published":  # uninterrupted: one run over the final inputs
        ref2 = make_project(tmp_path / "ref2", SMALL_BATCHES)
        _same_keys(ref, ref2)
        _write(ref2 / "data" / "b.jsonl", extra)
        assert _ingest_subprocess(ref2, None).returncode == 0
        ref = ref2
    resumed = _ingest_subprocess(root, None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    if point == "ledger-batch":
        assert _ingest_subprocess(root, None).returncode == 0  # (the resumed call already ran the new file too)
    assert _outputs(root) == _outputs(ref)
    audit(root / "out" / "tiny" / "ledger")


def test_commit_reads_the_outputs_once_and_appends_from_the_bytes_it_checked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After ``check_files`` the shards and duplicates files are unreadable, and the commit still appends
    exactly the entries those files hold: it never reads them again (one pass), it uses the checked bytes."""
    import pipelines.driver.run as run
    from pipelines.driver.verify import verify_datanet

    recs = tiny_records()
    _write(project / "data" / "a.jsonl", [*recs, recs[2], recs[5]])
    dn = load_datanet("tiny")
    saved: dict[Path, bytes] = {}
    check = run.check_files

    def check_then_spoil(dn_: object, run_id: str, manifests: list) -> None:
        check(dn_, run_id, manifests)  # type: ignore[arg-type]
        for m in manifests:
            for f in m["files"]:
                if f["kind"] in ("shard", "duplicates"):
                    path = dn.out_dir / f["path"]
                    saved[path] = path.read_bytes()
                    path.write_bytes(b"not the checked bytes")

    monkeypatch.setattr(run, "check_files", check_then_spoil)
    report = ingest(dn, progress=_quiet)
    assert len(saved) >= 2 and any("duplicates" in str(p) for p in saved)
    assert (report["accepted"], report["duplicates"]["total"]) == (10, 2)
    with Ledger(dn.ledger_dir) as led:
        assert led.size == 10 + 2 + 1  # contributions, copies, the run entry
    assert not (project / "out" / "tiny" / "runs" / report["run_id"] / "journal").exists()
    for path, data in saved.items():
        path.write_bytes(data)
    verify_datanet(dn, witness=project / "witness.note")  # every shard row and copy is bound to its entry
