"""Hostile declarations: what ``datanet check`` (and so ``ingest``) must refuse before a run reads a byte.

* a source glob that can read a Datanet's own outputs or keys back, now or
  once a run has written them;
* a schema field named like a column the writers add;
* two Datanets signing with one key, or one key file of another origin,
  unless shared on purpose (``ledger.shared_key: true``).

Each refusal is exit status 2 with a message naming the YAML key and the
folder, field or other Datanet at fault, and ``ingest`` writes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger.checkpoint import generate, save_signer
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.driver.run import ingest

from ..conftest import REPO, tiny_records
from .test_config import BASE, _decl

PARQUET = BASE.replace("data/*.jsonl, format: jsonl", "'**/*.parquet', format: parquet")


def _refused(project: Path, capsys: pytest.CaptureFixture[str], name: str = "tiny") -> str:
    """Check and ingest both refuse ``name`` (status 2, nothing written); returns check's message."""
    assert main(["check", name]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert main(["ingest", name]) == 2, "ingest runs the same checks first"
    assert not (project / "out" / name / "runs").exists()
    capsys.readouterr()
    return err


def _parquet(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(tiny_records()), path)


def _other(project: Path, name: str, extra: str = "") -> None:
    """A second Datanet ``name`` over its own data folder, declared beside 'tiny'."""
    (project / f"data-{name}").mkdir(exist_ok=True)
    (project / f"data-{name}" / "a.jsonl").write_text(
        "".join(json.dumps({**r, "text": r["text"] + f" ({name})"}) + "\n" for r in tiny_records())
    )
    text = BASE.replace("name: tiny", f"name: {name}").replace("data/*.jsonl", f"data-{name}/*.jsonl")
    (project / "datanets" / f"{name}.yaml").write_text(text + extra)


# --- 4. a source glob must never reach a Datanet's outputs or keys ---------------------------------------------


def test_a_glob_that_would_read_the_datanets_own_shards_is_refused_on_the_first_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _parquet(project / "data" / "a.parquet")
    _decl(project, PARQUET)
    assert not (project / "out").exists()
    err = _refused(project, capsys)
    assert "tiny.yaml: sources.0.path: '**/*.parquet' can match files under out/tiny" in err, err
    assert "the output folder of Datanet 'tiny'" in err


@pytest.mark.parametrize(
    "glob, existing, folder, whose",
    [
        ("out/**", "out/stray.jsonl", "out/tiny", "the output folder of Datanet 'tiny'"),
        ("*/keys/*", "data/keys/a.jsonl", "out/keys", "the key folder of Datanet 'tiny'"),
        ("*/*/*/*.jsonl", "data/x/y/a.jsonl", "out/tiny", "the output folder of Datanet 'tiny'"),
        ("shared/**/*.jsonl", "shared/mine/a.jsonl", "shared/other", "the output folder of Datanet 'other'"),
    ],
)
def test_a_glob_that_could_reach_an_output_or_key_folder_is_refused_naming_it(
    project: Path, capsys: pytest.CaptureFixture[str], glob: str, existing: str, folder: str, whose: str
) -> None:
    (project / existing).parent.mkdir(parents=True, exist_ok=True)
    (project / existing).write_text(json.dumps(tiny_records()[0]) + "\n")
    _other(project, "other", "output: {dir: shared/other}\n")
    _decl(project, BASE.replace("data/*.jsonl", f"'{glob}'"))
    err = _refused(project, capsys)
    assert f"sources.0.path: '{glob}' can match files under {folder}, {whose}" in err, err


def test_a_source_folder_linked_into_another_datanets_output_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _other(project, "other")
    shards = project / "out" / "other" / "shards" / "r1"
    shards.mkdir(parents=True)
    (shards / "a.jsonl").write_text(json.dumps(tiny_records()[0]) + "\n")
    os.symlink(shards, project / "feed")
    _decl(project, BASE.replace("data/*.jsonl", "feed/*.jsonl"))
    err = _refused(project, capsys)
    assert "sources.0.path: 'feed/*.jsonl' matches feed/a.jsonl, under out/other" in err, err
    assert "the output folder of Datanet 'other'" in err


def test_a_textdir_above_the_output_folder_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "manifest.csv").write_text("file,contributor_id\nnote.txt,c1\n")
    (project / "note.txt").write_text(tiny_records()[0]["text"])
    _decl(
        project,
        BASE.replace("{path: data/*.jsonl, format: jsonl}", "{path: ., format: textdir, manifest: manifest.csv}"),
    )
    err = _refused(project, capsys)
    assert "sources.0.path: '.' can match files under out/tiny" in err, err


def test_outputs_beside_the_sources_are_fine_when_no_glob_reaches_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _decl(project, BASE + "output: {dir: data/out}\n")
    assert main(["check", "tiny"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("name", ["clinical-notes", "code-snippets"])
def test_the_bundled_examples_pass(name: str) -> None:
    from pipelines.driver.checks import key_problems, schema_problems, source_problems

    dn = load_datanet(name, root=REPO)
    assert source_problems(dn) == [] and schema_problems(dn) == [] and key_problems(dn) == []


# --- 5. a schema field may not be named like a column the writers add ------------------------------------------


@pytest.mark.parametrize(
    "field, where",
    [
        ("pii", "shards"),
        ("record_hash", "shards"),
        ("contributor_id", "shards"),
        ("ledger_index", "shards"),
        ("run_id", "shards"),
        ("submitted_at", "shards"),
        ("file", "duplicates"),
        ("line", "duplicates"),
        ("duplicate_of", "duplicates"),
        ("reason", "quarantine"),
        ("detail", "quarantine"),
        ("payload", "quarantine"),
        ("minhash", "state"),
        ("pseudonym", "contributors"),
        ("PII", "shards"),
    ],
)
def test_a_schema_field_named_like_a_written_column_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], field: str, where: str
) -> None:
    fields = f"  - {{name: text, type: string, text: true}}\n  - {{name: {field}, type: string, pii: false}}\n"
    (project / "schemas" / "note.yaml").write_text("name: note\nfields:\n" + fields)
    err = _refused(project, capsys)
    assert f"schemas/note.yaml: fields.1.name: {field!r} is a column the writers add ({where}" in err, err


def test_the_reserved_names_come_from_the_writers_schemas() -> None:
    from pipelines.core.config import SchemaConfig
    from pipelines.core.layouts import CONTRIBUTORS_SCHEMA, DUPLICATES_SCHEMA, QUARANTINE_SCHEMA, shard_schema
    from pipelines.driver.checks import reserved_columns
    from pipelines.stages.dedup.state import STATE_SCHEMA

    schema = SchemaConfig.model_validate({"name": "n", "fields": [{"name": "text", "text": True}]})
    written = set(shard_schema(schema).names) - {"text"}
    for s in (QUARANTINE_SCHEMA, DUPLICATES_SCHEMA, CONTRIBUTORS_SCHEMA, STATE_SCHEMA):
        written |= set(s.names)
    assert set(reserved_columns()) == written
    assert {"pii", "record_hash", "contributor_id", "ledger_index", "run_id", "submitted_at"} <= written
    assert {"file", "line", "reason", "detail", "payload", "stage", "duplicate_of", "content_key"} <= written


# --- 6. a signing key and a contributor key belong to one Datanet unless shared on purpose --------------------


def test_two_datanets_sharing_a_key_are_refused_naming_the_key_and_the_other(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _other(project, "other", "ledger: {key: keys/shared.key}\n")
    _decl(project, BASE + "ledger: {key: keys/shared.key}\n")
    err = _refused(project, capsys)
    assert "tiny.yaml: ledger.key: keys/shared.key is also the key of Datanet 'other'" in err, err
    assert "ledger.shared_key: true" in err
    err = _refused(project, capsys, "other")
    assert "other.yaml: ledger.key: keys/shared.key is also the key of Datanet 'tiny'" in err, err


def test_keys_whose_salt_and_contributor_key_coincide_are_shared_keys(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _other(project, "other", "ledger: {key: keys/a.pem}\n")
    _decl(project, BASE + "ledger: {key: keys/a.key}\n")
    err = _refused(project, capsys)
    assert "ledger.key: keys/a.key shares keys/a.salt, keys/a.idkey with Datanet 'other'" in err, err


def test_sharing_on_purpose_needs_the_opt_in_on_both_sides(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _other(project, "other", "ledger: {key: keys/shared.key, shared_key: true}\n")
    _decl(project, BASE + "ledger: {key: keys/shared.key}\n")
    assert "is also the key of Datanet 'other'" in _refused(project, capsys)
    _decl(project, BASE + "ledger: {key: keys/shared.key, shared_key: true}\n")
    assert main(["check", "tiny"]) == 0, capsys.readouterr().err
    assert main(["check", "other"]) == 0, capsys.readouterr().err


def test_a_key_file_of_another_origin_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _decl(project, BASE)
    dn = load_datanet("tiny")
    save_signer(dn.key_path, generate("datanets.local/someone-else"))
    err = _refused(project, capsys)
    assert (
        "tiny.yaml: ledger.key: out/keys/tiny.key signs for origin 'datanets.local/someone-else',"
        " not this Datanet's 'datanets.local/tiny'"
    ) in err, err


def test_two_datanets_with_one_origin_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _other(project, "other", "ledger: {origin: example.org/notes}\n")
    _decl(project, BASE + "ledger: {origin: example.org/notes}\n")
    err = _refused(project, capsys)
    assert "tiny.yaml: ledger.origin: 'example.org/notes' is also the origin of Datanet 'other'" in err, err


def test_a_shared_key_signs_each_ledger_under_its_own_origin(project: Path) -> None:
    from pipelines.core.keys import signer_for

    _other(project, "other", "ledger: {key: keys/shared.key, shared_key: true}\n")
    _decl(project, BASE + "ledger: {key: keys/shared.key, shared_key: true}\n")
    tiny, other = load_datanet("tiny"), load_datanet("other")
    a, b = signer_for(tiny, lambda m: None), signer_for(other, lambda m: None)
    assert (a.name, b.name) == ("datanets.local/tiny", "datanets.local/other")
    assert a.public_key == b.public_key, "same signer"


@pytest.mark.slow
def test_two_datanets_sharing_a_key_on_purpose_both_verify(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(project / "state"))
    shared = "ledger: {key: keys/shared.key, shared_key: true}\npii: {enabled: false}\n"
    _other(project, "other", shared)
    _decl(project, BASE + shared)
    for name in ("tiny", "other"):
        ingest(load_datanet(name), progress=lambda m: None)
    for name in ("tiny", "other"):
        assert main(["verify", name]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["contributor", "tiny", "c0"]) == 0
    mine = json.loads(capsys.readouterr().out)["pseudonym"]
    assert main(["contributor", "other", "c0"]) == 0
    assert json.loads(capsys.readouterr().out)["pseudonym"] == mine, "documented: a shared key links pseudonyms"
