"""The bad-input suite: every malformed input is quarantined with a reason, or is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.core.config import OutputConfig, SchemaConfig, ValidationConfig
from pipelines.core.splits import FileSpec
from pipelines.driver.plan import split_unit
from pipelines.stages.read import batched, read_items, whole

SCHEMA = SchemaConfig.model_validate(
    {
        "name": "n",
        "fields": [
            {"name": "text", "type": "string", "text": True},
            {"name": "n", "type": "integer", "required": False},
            {"name": "ok", "type": "boolean", "required": False},
        ],
    }
)
V = ValidationConfig(max_record_bytes=1_000_000)
GOOD = {"contributor_id": "c1", "text": "a perfectly ordinary note"}


def _items(tmp_path: Path, data: bytes, fmt: str = "jsonl", name: str = "f") -> list[tuple[str, dict]]:
    path = tmp_path / f"{name}.{fmt}"
    path.write_bytes(data)
    return list(read_items(whole(FileSpec(0, 0, str(path), f"{name}.{fmt}", fmt)), SCHEMA, V))


def _one(tmp_path: Path, line: bytes) -> tuple[str, dict]:
    items = _items(tmp_path, line + b"\n")
    assert len(items) == 1
    return items[0]


@pytest.mark.parametrize(
    "line, reason",
    [
        (b'{"contributor_id": "c1", "text": "unterminated', "malformed_json"),
        (b'{"contributor_id": "c1", "text": "caf\xe9"}', "invalid_utf8"),
        (b'["not", "an", "object"]', "not_an_object"),
        (json.dumps({"text": "no contributor"}).encode(), "missing_contributor_id"),
        (json.dumps({**GOOD, "contributor_id": ""}).encode(), "empty_contributor_id"),
        (json.dumps({**GOOD, "contributor_id": 42}).encode(), "wrong_type"),
        (json.dumps({**GOOD, "n": "seven"}).encode(), "wrong_type"),
        (json.dumps({**GOOD, "n": True}).encode(), "wrong_type"),
        (json.dumps({**GOOD, "ok": "yes"}).encode(), "wrong_type"),
        (json.dumps({**GOOD, "colour": "blue"}).encode(), "unknown_field"),
        (b'{"contributor_id": "c1", "text": "a", "text": "b"}', "duplicate_key"),
        (json.dumps({**GOOD, "text": " \t "}).encode(), "empty_record"),
        (json.dumps({**GOOD, "submitted_at": "last tuesday"}).encode(), "invalid_submitted_at"),
        (json.dumps({"contributor_id": "c1"}).encode(), "missing_field"),
    ],
)
def test_bad_lines_are_quarantined_with_their_reason(tmp_path: Path, line: bytes, reason: str) -> None:
    kind, value = _one(tmp_path, line)
    assert kind == "rejection" and value["reason"] == reason
    assert value["file"] == "f.jsonl" and value["line"] == 1 and value["payload"] == line


def test_ten_megabyte_record_is_quarantined_whole(tmp_path: Path) -> None:
    line = json.dumps({**GOOD, "text": "x" * 10_000_000}).encode()
    kind, value = _one(tmp_path, line)
    assert kind == "rejection" and value["reason"] == "record_too_large" and value["payload"] == line


def test_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    data = (
        b"\xef\xbb\xbf"
        + json.dumps(GOOD).encode()
        + b"\r\n\r\n"
        + json.dumps({**GOOD, "text": "second note"}).encode()
        + b"\r\n"
    )
    items = _items(tmp_path, data)
    assert [k for k, _ in items] == ["record", "blank", "record"]
    assert [v["line"] for k, v in items if k == "record"] == [1, 3]
    assert items[0][1]["fields"]["text"] == "a perfectly ordinary note"
    tally = [b for tag, b in batched(iter(items), 10, 0) if tag == "tally"]
    assert tally == [{"split": 0, "items": 2, "blank": 1}]


def test_submitted_at_is_normalised_to_utc(tmp_path: Path) -> None:
    kind, value = _one(tmp_path, json.dumps({**GOOD, "submitted_at": "2026-03-01T10:00:00+02:00"}).encode())
    assert kind == "record" and value["submitted_at"] == "2026-03-01T08:00:00Z"


def test_csv_types_quoting_and_line_numbers(tmp_path: Path) -> None:
    data = (
        b"contributor_id,text,n,ok\n"
        b'c1,"a note\nover two lines",3,true\n'
        b"c2,plain note here,x,false\n"
        b"c3,too,many,cells,here\n"
        b",no contributor,1,true\n"
        b'c4,"caf\xe9 latte note",1,true\n'
    )
    items = _items(tmp_path, data, "csv")
    got = [(k, v["line"], v.get("reason")) for k, v in items]
    assert got == [
        ("record", 2, None),
        ("rejection", 4, "wrong_type"),
        ("rejection", 5, "malformed_csv"),
        ("rejection", 6, "missing_contributor_id"),
        ("rejection", 7, "invalid_utf8"),
    ]
    assert items[0][1]["fields"] == {"text": "a note\nover two lines", "n": 3, "ok": True}


def test_parquet_rows(tmp_path: Path) -> None:
    typed = pa.Table.from_pylist(
        [
            {**GOOD, "n": 1},
            {"contributor_id": "c2", "text": "row two", "n": None},
            {"contributor_id": None, "text": "row three", "n": 3},
        ]
    )
    path = tmp_path / "f.parquet"
    pq.write_table(typed, path)
    items = list(read_items(whole(FileSpec(0, 0, str(path), "f.parquet", "parquet")), SCHEMA, V))
    assert [(k, v["line"], v.get("reason")) for k, v in items] == [
        ("record", 1, None),
        ("record", 2, None),
        ("rejection", 3, "missing_contributor_id"),
    ]
    assert items[0][1]["fields"] == {"text": "a perfectly ordinary note", "n": 1}
    pq.write_table(pa.Table.from_pylist([{**GOOD, "n": "7"}]), path)  # a string column for an integer field
    [(kind, value)] = list(read_items(whole(FileSpec(0, 0, str(path), "f.parquet", "parquet")), SCHEMA, V))
    assert kind == "rejection" and value["reason"] == "wrong_type"


def test_unreadable_and_corrupt_files_become_one_rejection(tmp_path: Path) -> None:
    missing = FileSpec(0, 0, str(tmp_path / "gone.jsonl"), "gone.jsonl", "jsonl")
    [(kind, value)] = list(read_items(whole(missing), SCHEMA, V))
    assert kind == "rejection" and value["reason"] == "unreadable_file" and value["line"] == 0
    [(kind, value)] = _items(tmp_path, b"PAR1 definitely not parquet", "parquet")
    assert kind == "rejection" and value["reason"] == "unreadable_file"


def test_textdir_with_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("first text file\r\nwith CRLF")
    (folder / "b.txt").write_bytes(b"\xff bad bytes")
    (folder / "stray.txt").write_text("nobody listed me")
    (folder / "manifest.csv").write_text("file,contributor_id,n\na.txt,c1,4\nb.txt,c2,\nghost.txt,c3,\n")
    spec = FileSpec(0, 0, str(folder), "texts", "textdir", str(folder / "manifest.csv"), "texts/manifest.csv")
    _, splits, _ = split_unit(spec, OutputConfig(textdir_split_files=2), 0)
    got = [(k, v["file"], v["line"], v.get("reason")) for s in splits for k, v in read_items(s, SCHEMA, V)]
    assert got == [
        ("record", "texts/a.txt", 1, None),
        ("rejection", "texts/b.txt", 1, "invalid_utf8"),
        ("rejection", "texts/stray.txt", 1, "not_in_manifest"),
        ("rejection", "texts/manifest.csv", 4, "missing_file"),
    ]


@pytest.mark.parametrize("every", [1, 7, 64, 10_000])
def test_byte_range_splits_read_every_line_once_with_its_number(tmp_path: Path, every: int) -> None:
    lines = [json.dumps({**GOOD, "text": f"note number {i} " + "x" * (i % 13)}).encode() for i in range(1, 60)]
    lines[10] = b""  # a blank line
    lines[20] = b"{broken"
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    spec = FileSpec(0, 3, str(path), "big.jsonl", "jsonl")
    digest, splits, size = split_unit(spec, OutputConfig(split_bytes=every), 0)
    assert size == path.stat().st_size and len(splits) >= min(10, size // every)
    got = [(k, v["line"]) for s in splits for k, v in read_items(s, SCHEMA, V) if k != "blank"]
    assert got == [("rejection" if n == 21 else "record", n) for n in range(1, 60) if n != 11]
    assert [s.index for s in splits] == list(range(len(splits)))
    assert digest == split_unit(spec, OutputConfig(), 0)[0]


def test_parquet_row_group_splits(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.Table.from_pylist([{**GOOD, "n": i} for i in range(100)]), path, row_group_size=7)
    _, splits, _ = split_unit(FileSpec(0, 0, str(path), "f.parquet", "parquet"), OutputConfig(split_bytes=1), 0)
    assert len(splits) == 15
    got = [(v["line"], v["fields"]["n"]) for s in splits for _, v in read_items(s, SCHEMA, V)]
    assert got == [(i + 1, i) for i in range(100)]
