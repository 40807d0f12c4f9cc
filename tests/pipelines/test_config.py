"""Declarations: clear errors naming file and key, before any data is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config import ConfigError, load_datanet


def _decl(project: Path, text: str) -> None:
    (project / "datanets" / "tiny.yaml").write_text(text)


BASE = "name: tiny\nschema: schemas/note.yaml\nsources:\n  - {path: data/*.jsonl, format: jsonl}\n"


def test_minimal_declaration_gets_defaults(project: Path) -> None:
    _decl(project, BASE)
    dn = load_datanet("tiny")
    assert dn.config.dedup.near.num_perm == 128 and dn.config.pii.enabled
    assert dn.out_dir == project / "out" / "tiny" and dn.origin == "datanets.local/tiny"


@pytest.mark.parametrize(
    "text, needle",
    [
        (BASE + "dedupe: {}\n", "tiny.yaml: dedupe: unknown key"),
        (BASE + "dedup: {near: {num_perm: lots}}\n", "tiny.yaml: dedup.near.num_perm"),
        (BASE + "dedup: {near: {threshold: 1.5}}\n", "tiny.yaml: dedup.near.threshold"),
        (BASE + "pii: {operators: {EMAIL_ADDRESS: shred}}\n", "tiny.yaml: pii.operators.EMAIL_ADDRESS"),
        (BASE.replace("name: tiny", "name: Tiny Net"), "tiny.yaml: name"),
        (BASE.replace("format: jsonl", "format: xml"), "tiny.yaml: sources.0.format"),
        (BASE.replace("data/*.jsonl", "nowhere/*.jsonl"), "sources.0.path: no files match nowhere/*.jsonl"),
        (BASE.replace("schemas/note.yaml", "schemas/missing.yaml"), "missing.yaml: cannot read"),
        (
            BASE + "validation: {expectations: [{type: expect_magic}]}\n",
            "validation.expectations.0.type: unknown expectation",
        ),
        (
            BASE + "validation: {expectations: [{type: expect_column_values_to_not_be_null, kwargs: {column: txt}}]}\n",
            "validation.expectations.0.kwargs.column: no field 'txt'",
        ),
        ("name: tiny\nsources: [\n", "tiny.yaml: line"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_declarations_name_file_and_key(project: Path, text: str, needle: str) -> None:
    _decl(project, text)
    with pytest.raises(ConfigError) as err:
        load_datanet("tiny")
    assert needle in str(err.value)


def test_bad_schema_names_the_schema_file(project: Path) -> None:
    _decl(project, BASE)
    (project / "schemas" / "note.yaml").write_text("name: note\nfields:\n  - {name: text, type: blob, text: true}\n")
    with pytest.raises(ConfigError, match=r"note.yaml: fields.0.type"):
        load_datanet("tiny")


def test_check_and_new_commands(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tiny"]) == 0
    assert "is valid" in capsys.readouterr().out
    _decl(project, BASE + "extra: 1\n")
    assert main(["check", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml: extra: unknown key" in err and "Traceback" not in err
    assert main(["new", "recipes"]) == 0
    assert (project / "datanets" / "recipes.yaml").exists() and (project / "schemas" / "recipes.yaml").exists()
    assert main(["new", "recipes"]) == 2
