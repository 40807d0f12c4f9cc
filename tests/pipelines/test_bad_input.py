"""Hostile input, table-driven: every bad line costs that line only, and every path matching a glob is counted.

Each case is one line (JSONL), row (CSV, Parquet) or entry (textdir, file
glob) with the quarantine reason it must get, or ``None`` for a good line
that must be accepted. ``test_every_line_ends_where_the_table_says`` runs one
real ingest over all four formats at once and checks each line's place;
the ``read_items`` tests check the same tables without Beam.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.core.config import load_datanet
from pipelines.core.registry import run_files, shard_paths
from pipelines.driver.plan import input_units
from pipelines.driver.run import RunRefused, ingest
from pipelines.stages.read import read_items, whole

SCHEMA = """\
name: note
fields:
  - {name: text, type: string, text: true}
  - {name: rating, type: integer, required: false}
"""

DATANET = """\
name: hostile
schema: schemas/note.yaml
sources:
  - {path: data/*.jsonl, format: jsonl}
  - {path: rows/*.csv, format: csv}
  - {path: rows/*.parquet, format: parquet}
  - {path: texts, format: textdir, manifest: texts/manifest.csv}
pii: {enabled: false}
dedup: {near: {enabled: false}}
validation: {unknown_fields: ignore}
runner:
  options: {direct_running_mode: in_memory, direct_num_workers: 1}
"""


def _good(i: int) -> str:
    return f"Good note number {i}: the patient improved after rest, fluids and a week of review."


def _json(i: int, **extra: object) -> str:
    return json.dumps({"contributor_id": f"c{i}", "text": _good(i), **extra})


DEEP = "[" * 200_000 + "]" * 200_000

# (raw JSONL line, expected reason or None for accepted)
JSONL: list[tuple[str, str | None]] = [
    (_json(1), None),
    ('{"contributor_id": "c2", "text": "lone \\ud800 surrogate in the text field of this note"}', "invalid_unicode"),
    (_json(3, comment="an unknown field, ignored by this Datanet"), None),
    ('{"contributor_id": "c\\udfff", "text": "a surrogate in the contributor id of this record"}', "invalid_unicode"),
    (
        '{"\\ud834": 1, "contributor_id": "c5", "text": "a surrogate in a key of this record, nothing else"}',
        "invalid_unicode",
    ),
    (_json(6, nested=None)[:-1] + ', "deep": ' + DEEP + "}", "too_deeply_nested"),
    (_json(7)[:-1] + ', "n": ' + "9" * 5000 + "}", "number_out_of_range"),
    (_json(8, submitted_at="0001-01-01T00:00:00+05:00"), "invalid_submitted_at"),
    (_json(9)[:-1] + ', "rating": 99999999999999999999}', "number_out_of_range"),
    (_json(10)[:-1] + ', "rating": 9007199254740992}', "number_out_of_range"),
    (_json(11)[:-1] + ', "rating": 9007199254740991}', None),
    (_json(12)[:-1] + ', "score": NaN}', "number_out_of_range"),
    (_json(13)[:-1] + ', "score": 1e400}', "number_out_of_range"),
    (_json(14)[:-1] + ', "score": -Infinity}', "number_out_of_range"),
    ('{"contributor_id": "c15", "text": "unterminated', "malformed_json"),
    ("[1, 2, 3]", "not_an_object"),
    (_json(17, submitted_at="9999-12-31T23:00:00-05:00"), "invalid_submitted_at"),
    (_json(18, submitted_at="2026-02-30T00:00:00Z"), "invalid_submitted_at"),
    (_json(19, submitted_at="2026-11-27T10:00:00+05:00"), None),
    (_json(20), None),
]

CSV_HEADER = "contributor_id,text,rating,submitted_at"
CSV: list[tuple[str, str | None]] = [
    (f'k1,"{_good(101)}",5,', None),
    ('x1,"unbalanced quote starts here,misc', "malformed_csv"),
    (f'k2,"{_good(102)}",99999999999999999999,', "number_out_of_range"),
    (f'k3,"{_good(103)}",{"9" * 5000},', "number_out_of_range"),
    (f'k4,"{_good(104)}",-9007199254740991,', None),
    (f'k5,"{_good(105)}",,0001-01-01T00:00:00+05:00', "invalid_submitted_at"),
    (f'k6,"{_good(106)}",seven,', "wrong_type"),
    (f'k7,"{_good(107)}",1,2026-01-01', None),
]

TEXTS: list[tuple[str, str | None]] = [
    ("a-good.txt", None),
    ("b-dir.txt", "not_a_file"),
    ("c-dangling.txt", "dangling_link"),
    ("d-loop.txt", "link_loop"),
    ("e-passwd.txt", "link_outside_source"),
    ("f-pipe.txt", "not_a_file"),
    ("g-alias.txt", None),  # a link to a-good.txt inside the folder: read, then an exact duplicate
    ("h-good.txt", None),
]

GLOBBED: list[tuple[str, str | None]] = [
    ("data/x-dir.jsonl", "not_a_file"),
    ("data/x-dangling.jsonl", "dangling_link"),
    ("data/x-loop.jsonl", "link_loop"),
    ("data/x-outside.jsonl", "link_outside_source"),
    ("data/x-fifo.jsonl", "not_a_file"),
]


def _parquet_rows() -> tuple[pa.Table, list[str | None]]:
    ts = pa.array([None, None, 253402300799 * 10**6 + 10**12, None, None], type=pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "contributor_id": ["p1", "p2", "p3", "p4", "p5"],
            "text": [_good(201), _good(202), _good(203), _good(204), _good(205)],
            "rating": pa.array([1, 2**60, 3, None, -(2**53)], type=pa.int64()),
            "submitted_at": [None, None, None, "0001-01-01T00:00:00+05:00", None],
            "seen": ts,
        }
    )
    return table, [None, "number_out_of_range", "unreadable_record", "invalid_submitted_at", "number_out_of_range"]


def _build(root: Path) -> Path:
    for sub in ("schemas", "datanets", "data", "rows", "texts"):
        (root / sub).mkdir(parents=True)
    (root / "schemas" / "note.yaml").write_text(SCHEMA)
    (root / "datanets" / "hostile.yaml").write_text(DATANET)
    (root / "data" / "a.jsonl").write_text("\n".join(line for line, _ in JSONL) + "\n", encoding="utf-8")
    (root / "rows" / "a.csv").write_bytes(
        (CSV_HEADER + "\n" + "\n".join(row for row, _ in CSV) + "\n").encode() + b"k8,bad \xff byte,1,\n"
    )
    table, _ = _parquet_rows()
    pq.write_table(table, root / "rows" / "a.parquet")
    texts = root / "texts"
    (texts / "a-good.txt").write_text(_good(301))
    (texts / "h-good.txt").write_text(_good(302))
    (texts / "b-dir.txt").mkdir()
    os.symlink("nowhere.txt", texts / "c-dangling.txt")
    os.symlink("d-loop.txt", texts / "d-loop.txt")
    os.symlink("/etc/passwd", texts / "e-passwd.txt")
    os.mkfifo(texts / "f-pipe.txt")
    os.symlink("a-good.txt", texts / "g-alias.txt")
    (texts / "manifest.csv").write_text(
        "file,contributor_id\n" + "".join(f"{n},t{i}\n" for i, (n, _) in enumerate(TEXTS))
    )
    data = root / "data"
    (data / "x-dir.jsonl").mkdir()
    os.symlink("gone.jsonl", data / "x-dangling.jsonl")
    os.symlink("x-loop.jsonl", data / "x-loop.jsonl")
    outside = root / "elsewhere.jsonl"
    outside.write_text(_json(999) + "\n")
    os.symlink(outside, data / "x-outside.jsonl")
    os.mkfifo(data / "x-fifo.jsonl")
    return root


def _expected() -> dict[tuple[str, int], str | None]:
    want: dict[tuple[str, int], str | None] = {}
    for i, (_, reason) in enumerate(JSONL, start=1):
        want["data/a.jsonl", i] = reason
    for i, (_, reason) in enumerate(CSV, start=2):
        want["rows/a.csv", i] = reason
    want["rows/a.csv", len(CSV) + 2] = "invalid_utf8"
    for i, reason in enumerate(_parquet_rows()[1], start=1):
        want["rows/a.parquet", i] = reason
    for name, reason in TEXTS:
        want[f"texts/{name}", 0 if reason else 1] = reason
    for path, reason in GLOBBED:
        want[path, 0] = reason
    return want


def _read_all(root: Path) -> dict[tuple[str, int], str | None]:
    dn = load_datanet("hostile", root=root)
    got: dict[tuple[str, int], str | None] = {}
    for spec in input_units(dn):
        for kind, value in read_items(whole(spec), dn.schema, dn.config.validation):
            key = (value["file"], value["line"])
            assert key not in got, f"{key} ended in two places"
            got[key] = None if kind == "record" else value["reason"]
    return got


def test_each_bad_line_is_quarantined_alone_and_every_good_line_is_read(tmp_path: Path) -> None:
    root = _build(tmp_path)
    assert _read_all(root) == _expected()


def test_a_path_matching_a_glob_is_never_opened_when_it_is_not_a_file(tmp_path: Path) -> None:
    root = _build(tmp_path)
    dn = load_datanet("hostile", root=root)
    bad = {s.rel: s.problem[0] for s in input_units(dn) if s.problem}
    assert bad == {p: r for p, r in GLOBBED}  # the FIFO among them: opening it would block forever


def _csv_items(root: Path, body: str, max_bytes: int = 1_000_000) -> list[tuple[int, str | None, str]]:
    """(line, reason or None, contributor or raw payload) of each item ``read_items`` makes of one CSV file."""
    for sub in ("schemas", "datanets", "rows"):
        (root / sub).mkdir(parents=True)
    (root / "schemas" / "note.yaml").write_text(SCHEMA)
    decl = DATANET.split("  - {path: data")[0] + "  - {path: rows/*.csv, format: csv}\n"
    (root / "datanets" / "hostile.yaml").write_text(decl + f"validation: {{max_record_bytes: {max_bytes}}}\n")
    (root / "rows" / "a.csv").write_text(body, encoding="utf-8")
    dn = load_datanet("hostile", root=root)
    (spec,) = input_units(dn)
    out = []
    for kind, v in read_items(whole(spec), dn.schema, dn.config.validation):
        if kind == "record":
            out.append((v["line"], None, v["contributor_id"]))
        elif kind == "rejection":
            out.append((v["line"], v["reason"], v["payload"].decode()))
    return out


BAD = 'x1,"unbalanced quote starts here,misc'
BAD2 = BAD.replace("x1", "x2")


def _plain(i: int) -> str:
    return _good(i).replace(",", "")


@pytest.mark.parametrize(
    "body, want",
    [
        (  # the file: the two good rows were one malformed_csv row with the bad one
            f'contributor_id,text,rating\n{BAD}\nk1,"{_good(1)}",1\nk2,"{_good(2)}",2\n',
            [(2, "malformed_csv", BAD + "\n"), (3, None, "k1"), (4, None, "k2")],
        ),
        (  # two columns and unquoted rows: the bad row was *accepted*, holding both good rows as its text
            f"contributor_id,text\n{BAD}\nk1,{_plain(1)}\nk2,{_plain(2)}\n",
            [(2, "malformed_csv", BAD + "\n"), (3, None, "k1"), (4, None, "k2")],
        ),
        (  # a quoted field over several lines is still one row, after a bad row as before it
            f'contributor_id,text\nk0,"{_good(0)}\nsecond line"\n{BAD}\n'
            f'k1,"{_good(1)}\n\nthird line"\nk2,{_plain(2)}\n',
            [(2, None, "k0"), (4, "malformed_csv", BAD + "\n"), (5, None, "k1"), (8, None, "k2")],
        ),
        (  # a quote that never closes, on the last line
            f"contributor_id,text\nk1,{_plain(1)}\n{BAD}\n",
            [(2, None, "k1"), (3, "malformed_csv", BAD + "\n")],
        ),
        (  # each of two bad lines in a row costs itself only
            f"contributor_id,text\n{BAD}\n{BAD2}\nk1,{_plain(1)}\n",
            [(2, "malformed_csv", BAD + "\n"), (3, "malformed_csv", BAD2 + "\n"), (4, None, "k1")],
        ),
    ],
)
def test_an_unbalanced_quote_costs_its_own_row_only(tmp_path: Path, body: str, want: list) -> None:
    assert _csv_items(tmp_path, body) == want


def test_an_open_quote_reads_ahead_no_further_than_max_record_bytes(tmp_path: Path) -> None:
    body = f"contributor_id,text\n{BAD}\n" + "".join(f"k{i},{_plain(i)}\n" for i in range(1, 6))
    got = _csv_items(tmp_path, body, max_bytes=200)
    assert got[0][:2] == (2, "malformed_csv") and [g[:3] for g in got[1:]] == [
        (i + 2, None, f"k{i}") for i in range(1, 6)
    ]


def test_a_header_that_does_not_parse_quarantines_the_whole_file_saying_so(tmp_path: Path) -> None:
    (got,) = _csv_items(tmp_path, f'contributor_id,"text\nk1,{_plain(1)}\n')
    assert got == (0, "unreadable_file", "")


@pytest.mark.slow
def test_every_line_ends_where_the_table_says(tmp_path: Path) -> None:
    import duckdb

    root = _build(tmp_path)
    dn = load_datanet("hostile", root=root)
    with pytest.raises(RunRefused, match=r"35 of 47 records read \(74%\) were quarantined"):
        ingest(dn, progress=lambda m: None)  # the guard rails refuse so hostile a run...
    assert not shard_paths(dn) and not run_files(dn, "quarantine")
    report = ingest(dn, progress=lambda m: None, accept_quarantine=True)  # ...unless the curator accepts it
    want = _expected()
    accepted = sum(1 for r in want.values() if r is None)
    assert report["read"] == len(want)
    assert report["accepted"] + report["duplicates"]["total"] == accepted
    assert report["duplicates"]["total"] == 1  # g-alias.txt is a-good.txt again
    assert report["quarantined"]["total"] == len(want) - accepted
    con = duckdb.connect()
    q = [str(p) for p in run_files(dn, "quarantine")]
    rows = con.execute(f"select file, line, reason from read_parquet({q})").fetchall()
    assert {(f, n): r for f, n, r in rows} == {k: r for k, r in want.items() if r is not None}
    shards = [str(p) for p in shard_paths(dn)]
    texts = {t for (t,) in con.execute(f"select text from read_parquet({shards})").fetchall()}
    assert _good(1) in texts and _good(101) in texts and _good(201) in texts and _good(302) in texts
    assert not any("root:" in t for t in texts), "a link out of the source folder was read"
    again = ingest(dn, progress=lambda m: None)
    assert again["run_id"] is None and again["read"] == 0
    assert (dn.out_dir / "quarantine").stat().st_mode & 0o777 == 0o700
