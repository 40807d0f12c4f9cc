"""``datanet pii preview``: ingest's reader, a deterministic sample, the real PII stage, and nothing written.

Runs on copies of the bundled example Datanets, so the test can check that
no ``out/`` folder, salt or key appears. Engines are built once per Datanet
for the module; the CLI tests reuse them, except one real end-to-end run.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.core.config import Datanet, load_datanet
from pipelines.core.keys import salt_file
from pipelines.driver import preview as pv
from pipelines.stages.anonymise import Engines, build_engines

from ..conftest import REPO, make_project

EXAMPLES = ("clinical-notes", "code-snippets")
HEADER = re.compile(r"^\S+:\d+  ", re.MULTILINE)  # one line per record shown


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example Datanets (declarations, schemas, inputs) and nothing else."""
    root = tmp_path_factory.mktemp("project")
    for sub in ("datanets", "schemas"):
        shutil.copytree(REPO / sub, root / sub)
    for name in EXAMPLES:
        shutil.copytree(REPO / "examples" / name, root / "examples" / name)
    return root


@pytest.fixture(scope="module")
def engines(root: Path) -> Iterator[Callable[[str], tuple[Datanet, Engines]]]:
    """A Datanet of the copy and its PII engines, each built once for the module."""
    built: dict[str, tuple[Datanet, Engines]] = {}

    def get(name: str) -> tuple[Datanet, Engines]:
        if name not in built:
            dn = load_datanet(name, root)
            built[name] = (dn, build_engines(dn.config.pii, b"s" * 32))
        return built[name]

    yield get
    assert not (root / "out").exists(), "the preview wrote under out/"


@pytest.fixture
def cli(root: Path, engines: Callable[[str], tuple[Datanet, Engines]], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The copy as working directory, with the CLI's engines taken from the module's."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(pv, "build_engines", lambda cfg, salt: engines("clinical-notes")[1])
    return root


def _expected(name: str) -> dict:
    return json.loads((REPO / "examples" / name / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("before", "after", "diff"),
    [
        ("Seen John Smith today.", "Seen <PERSON> today.", "Seen [-John Smith-]{+<PERSON>+} today."),
        ("card 4509 9159 5347 2369 and", "card  and", "card [-4509 9159 5347 2369-] and"),
        ("# Ana <ana@example.com>", "# Ana <<EMAIL_ADDRESS>>", "# Ana <[-ana@example.com-]{+<EMAIL_ADDRESS>+}>"),
        ("mail ana@x.org now", "mail ********** now", "mail [-ana@x.org-]{+**********+} now"),
        ("Dear Dr Lee,\n\nThanks", "Dear Dr <PERSON>,\n\nThanks", "Dear Dr [-Lee-]{+<PERSON>+},\n\nThanks"),
        ("nothing to see", "nothing to see", "nothing to see"),
    ],
)
def test_word_diff_marks_each_change_inline(before: str, after: str, diff: str) -> None:
    assert pv.word_diff(before, after) == diff


@pytest.mark.parametrize("name", EXAMPLES)
def test_reads_exactly_what_ingest_reads(root: Path, name: str) -> None:
    tally: Counter[str] = Counter()
    records = list(pv.read_records(load_datanet(name, root), tally))
    expected = _expected(name)
    at_ingest = expected["quarantined"]["total"] - expected["quarantined"]["by_reason"].get("validation_failed", 0)
    assert tally["rejection"] == at_ingest
    assert len(records) + tally["rejection"] == expected["read"]
    assert tally["blank"] == expected["blank_lines_skipped"]


def test_sample_is_deterministic_sized_and_in_file_order(root: Path) -> None:
    dn = load_datanet("clinical-notes", root)
    first, again = pv.sample_records(dn, 7, 0), pv.sample_records(dn, 7, 0)
    where = [(r["file"], r["line"]) for r in first.records]
    assert len(where) == 7 and where == sorted(where) and len(set(where)) == 7
    assert where == [(r["file"], r["line"]) for r in again.records]
    assert where != [(r["file"], r["line"]) for r in pv.sample_records(dn, 7, 1).records]
    assert (first.readable, first.rejected) == (2647, 59)
    assert len(pv.sample_records(dn, 10_000, 0).records) == 2647  # more than there are: all of them


def test_planted_name_and_phone_show_as_removed(root: Path, engines: Callable[[str], tuple[Datanet, Engines]]) -> None:
    dn, eng = engines("clinical-notes")
    [letter] = [r for r in pv.read_records(dn, Counter()) if r["file"].endswith("letters/0104.txt")]
    [row] = pv.scrub_sample([letter], dn.schema, eng)
    assert (row.field, row.line) == ("text", 1)
    diff = pv.word_diff(row.before, row.after)
    assert "[-Alan Willis-]{+<PERSON>+} attended" in diff
    assert "Contact the patient on [-934-467-8632-]{+<PHONE_NUMBER>+} or" in diff
    assert "[-matthewschultz227@hotmail.com-]{+<EMAIL_ADDRESS>+}" in diff
    assert row.pii == {"EMAIL_ADDRESS": 1, "PERSON": 2, "PHONE_NUMBER": 1}
    assert letter["fields"]["text"] == row.before  # the record read is not changed


def test_planted_email_in_code_shows_as_removed(root: Path, engines: Callable[[str], tuple[Datanet, Engines]]) -> None:
    dn, eng = engines("code-snippets")
    [snippet] = [r for r in pv.read_records(dn, Counter()) if r["file"].endswith("dev-ana.jsonl") and r["line"] == 1]
    code, description = pv.scrub_sample([snippet], dn.schema, eng)
    assert (code.field, description.field) == ("code", "description")
    assert "<[-rgray190@gmail.com-]{+<EMAIL_ADDRESS>+}>\n" in pv.word_diff(code.before, code.after)
    assert code.after.splitlines()[1:] == code.before.splitlines()[1:]  # the SQL itself is untouched
    assert description.before == description.after
    assert code.pii == description.pii and code.pii["EMAIL_ADDRESS"] == 1  # the record's counts, on each field


def test_scrubs_as_curate_does(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dn = load_datanet("code-snippets", root)
    records = pv.sample_records(dn, 2, 0).records
    seen = []

    def spy(batch: list, fields: list[str], eng: object, code: tuple[str, ...] = ()) -> list:
        seen.append((batch, fields, eng, code))
        return [{**r, "pii": {}} for r in batch]

    monkeypatch.setattr(pv, "anonymise_batch", spy)
    pv.scrub_sample(records, dn.schema, "engines")  # type: ignore[arg-type]
    assert seen == [(records, dn.schema.scrub_fields, "engines", tuple(dn.schema.code_fields))]


def _unscrubbed(root: Path, n: int) -> list[pv.FieldPreview]:
    """The sample's fields as a preview with PII off would list them."""
    dn = load_datanet("clinical-notes", root)
    return pv.scrub_sample(pv.sample_records(dn, n, 0).records, dn.schema, None)


def _row(line: int, before: str, after: str, pii: dict[str, int]) -> pv.FieldPreview:
    return pv.FieldPreview("a.jsonl", line, "text", before, after, pii)


def test_unchanged_records_are_counted_unless_all() -> None:
    rows = [_row(1, "Call Ana Lee", "Call <PERSON>", {"PERSON": 1}), _row(2, "Clean note", "Clean note", {})]
    p = pv.Preview("demo", 0, rows, sampled=2, readable=9, rejected=1, own_salt=False, hashes=False, enabled=True)
    text = pv.render_text(p)
    assert HEADER.findall(text) == ["a.jsonl:1  "]
    assert "  text: Call [-Ana Lee-]{+<PERSON>+}\n" in text and "Clean note" not in text
    assert text.endswith("1 record(s) changed, 1 unchanged (--all shows them).\nRemoved in the sample: PERSON 1.\n")
    assert "1 input line(s) that ingest would quarantine" in text
    everything = pv.render_text(p, everything=True)
    assert "a.jsonl:2  no PII found  (unchanged)\n  text: Clean note\n" in everything
    assert [r["line"] for r in json.loads(pv.render_json(p))] == [1]
    assert json.loads(pv.render_json(p, everything=True))[1] == {
        "file": "a.jsonl",
        "line": 2,
        "field": "text",
        "before": "Clean note",
        "after": "Clean note",
        "pii": {},
    }


def test_cli_same_seed_same_output(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for seed in ("0", "0", "5"):
        assert main(["pii", "preview", "clinical-notes", "--sample", "3", "--seed", seed, "--all"]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1] != runs[2]
    assert runs[0].startswith("datanet pii preview clinical-notes: 3 of 2,647 records (seed 0).\n")
    assert len(HEADER.findall(runs[0])) == 3
    assert re.search(r"^(\d) record\(s\) changed, (\d) unchanged\.$", runs[0], re.MULTILINE)


def test_cli_json_lists_every_sampled_field(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pii", "preview", "clinical-notes", "--sample", "4", "--json", "--all"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(set(r) == {"file", "line", "field", "before", "after", "pii"} for r in rows)
    assert [(r["file"], r["line"]) for r in rows] == [(r.file, r.line) for r in _unscrubbed(cli, 4)]


def test_out_is_0600_never_overwritten_and_nothing_else_is_written(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)  # the real stage, engines and salt lookup included
    out = tmp_path / "preview.txt"
    assert main(["pii", "preview", "clinical-notes", "--sample", "2", "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    body = out.read_text(encoding="utf-8")
    assert body.startswith("datanet pii preview clinical-notes: 2 of 2,647 records (seed 0).\n")
    assert said.out == f"wrote the preview of 2 record(s) to {out} (mode 0600: it holds personal data)\n"
    assert main(["pii", "preview", "clinical-notes", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out} already exists; --out never overwrites a file\n"
    assert out.read_text(encoding="utf-8") == body
    dn = load_datanet("clinical-notes", root)
    assert not (root / "out").exists() and not dn.out_dir.exists()
    assert not dn.key_path.exists() and not salt_file(dn).exists()


@pytest.mark.parametrize("where", ["out/clinical-notes/preview.txt", "out/keys/preview.txt"])
def test_out_under_the_outputs_is_refused(
    root: Path, where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)
    assert main(["pii", "preview", "clinical-notes", "--out", where]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {where}: --out must not be under ") and err.count("\n") == 1
    assert not (root / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no such Datanet declaration (known: clinical-notes, code-snippets)"),
        (["clinical-notes", "--sample", "0"], "--sample must be at least 1, got 0"),
        (["clinical-notes", "--sample", "ten"], "--sample takes an integer, got 'ten'"),
        (["clinical-notes", "--seed", "1.5"], "--seed takes an integer, got '1.5'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    root: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)
    assert main(["pii", "preview", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith(message + "\n") and err.count("\n") == 1


def test_salt_is_the_datanets_if_it_exists_and_never_created(project: Path) -> None:
    dn = load_datanet("tiny", project)
    (salt, own), (other, _) = pv.preview_salt(dn), pv.preview_salt(dn)
    assert not own and len(salt) == 32 and salt != other and not salt_file(dn).exists()
    salt_file(dn).parent.mkdir(parents=True)
    salt_file(dn).write_bytes(b"k" * 32)
    assert pv.preview_salt(dn) == (b"k" * 32, True)


def test_pii_off_keeps_text_and_builds_no_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dn = load_datanet("tiny", make_project(tmp_path, "pii: {enabled: false}\n"))
    monkeypatch.setattr(pv, "build_engines", lambda cfg, salt: pytest.fail("engines built with pii off"))
    p = pv.preview(dn, 4, 0)
    assert p.sampled == 4 and all(f.before == f.after and f.pii == {} for f in p.fields)
    text = pv.render_text(p)
    assert "pii.enabled is false" in text and "0 record(s) changed, 4 unchanged (--all shows them)." in text
    assert not (tmp_path / "out").exists()
