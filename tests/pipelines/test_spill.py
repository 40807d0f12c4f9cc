"""The spill keeps every valid record once and gives it back as the writer needs it; pseudonyms per contributor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.pseudonym import pseudonym_for
from pipelines.core.records import record_hash
from pipelines.stages.spill import read_spill, spill_batch
from pipelines.stages.write import Pseudonyms, pseudonymise

FIELDS = pa.struct([("text", pa.string()), ("n", pa.int64()), ("flag", pa.bool_())])
NAMES = [f.name for f in FIELDS]

values = {
    "text": st.one_of(st.none(), st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)),
    "n": st.one_of(st.none(), st.integers(-(2**53) + 1, 2**53 - 1)),
    "flag": st.one_of(st.none(), st.booleans()),
}


def _record(i: int, fields: dict[str, Any], extra: bool) -> dict[str, Any]:
    # a field left out and a field set to None must read back alike; a key outside the schema is not stored
    fields = {k: v for k, v in fields.items() if v is not None or i % 2}
    if extra:
        fields["not_in_schema"] = "dropped"
    return {
        "id": f"u/{i}",
        "split": 3,
        "order": ["~", 0, 1, i],
        "file": "data/a.jsonl",
        "line": i + 1,
        "contributor_id": f"c{i % 3}",
        "submitted_at": None,
        "fields": fields,
        "pii": {"PERSON": i} if i % 3 == 0 else {},
        "content_key": f"{i:064x}",
        "minhash": bytes([i % 256]) * 8,
        "shingles": b"\x00" * (8 * (i % 4)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries(values), min_size=1, max_size=12), st.booleans())
def test_a_spilled_batch_reads_back_with_the_hash_of_its_stored_fields(
    tmp_path: Path, fields: list[dict[str, Any]], extra: bool
) -> None:
    spill_dir = str(tmp_path / f"spill-{len(list(tmp_path.iterdir()))}")
    batch = [_record(i, f, extra) for i, f in enumerate(fields)]
    nodes = spill_batch(batch, FIELDS, spill_dir)  # type: ignore[arg-type]
    back = sorted(read_spill(spill_dir, 3), key=lambda r: r["line"])
    assert len(back) == len(batch) == len(nodes)
    for r, b, node in zip(batch, back, nodes, strict=True):
        stored = {n: r["fields"].get(n) for n in NAMES}
        assert {n: b["fields"].get(n) for n in NAMES} == stored
        assert "not_in_schema" not in b["fields"]
        assert b["record_hash"] == node["record_hash"] == record_hash(stored)
        for k in ("id", "order", "file", "line", "contributor_id", "pii", "content_key", "minhash", "shingles"):
            assert b[k] == r[k], k


def test_pseudonymise_gives_each_row_its_contributors_pseudonym_and_collects_the_map() -> None:
    key = b"k" * 32
    rows = [{"contributor_id": c, "i": i} for i, c in enumerate(["a", "b", "a", None, "c", "a", "b"])]
    names: dict[str, str] = {"earlier": "z"}
    out = pseudonymise(rows, key, names)
    assert [r["i"] for r in out] == list(range(len(rows)))
    for r, o in zip(rows, out, strict=True):
        want = None if r["contributor_id"] is None else pseudonym_for(key, r["contributor_id"])
        assert o["contributor_id"] == want
    assert names == {"earlier": "z", **{pseudonym_for(key, c): c for c in "abc"}}


@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), max_size=40), st.integers(1, 4))
def test_a_pseudonymised_column_equals_the_rows_pseudonymised_one_by_one(ids: list[str | None], chunks: int) -> None:
    key = b"k" * 32
    size = max(1, len(ids) // chunks)
    column = pa.chunked_array([ids[i : i + size] for i in range(0, len(ids), size)] or [[]], pa.string())
    by_rows: dict[str, str] = {}
    want = [r["contributor_id"] for r in pseudonymise([{"contributor_id": c} for c in ids], key, by_rows)]
    by_column: dict[str, str] = {}
    got = Pseudonyms(key, by_column).column(column)
    assert got.to_pylist() == want
    assert by_column == by_rows
