"""Table-level expectations from per-split statistics give what GX gives on the columns read back."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.config import ExpectationSpec, load_datanet
from pipelines.driver.run import ingest
from pipelines.stages.table_stats import BUCKETS, StatsPlan, plan_table, split_stats, table_checks
from pipelines.stages.validate import Validator, table_frame

TYPES = {"text": "string", "n": "integer", "flag": "boolean", "record_hash": "string"}
ARROW = {"text": pa.string(), "n": pa.int64(), "flag": pa.bool_()}


def spec(type_: str, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(type=type_, kwargs=kwargs)


SPECS = [
    spec("expect_table_row_count_to_be_between", min_value=3, max_value=40),
    spec("expect_table_row_count_to_equal", value=7),
    spec("expect_column_proportion_of_unique_values_to_be_between", column="text", min_value=0.8),
    spec("expect_column_proportion_of_unique_values_to_be_between", column="n", min_value=0.5),
    spec("expect_column_proportion_of_unique_values_to_be_between", column="flag", max_value=0.5),
    spec("expect_column_unique_value_count_to_be_between", column="text", min_value=2, max_value=9),
    spec("expect_column_min_to_be_between", column="n", min_value=-5),
    spec("expect_column_max_to_be_between", column="n", max_value=20),
    spec("expect_column_sum_to_be_between", column="n", max_value=100),
    spec("expect_column_mean_to_be_between", column="n", min_value=0, max_value=10),
    spec("expect_column_median_to_be_between", column="n", min_value=0),  # not mergeable: read back
    spec("expect_column_min_to_be_between", column="flag", min_value=0),  # booleans: read back
]

texts = st.one_of(st.none(), st.sampled_from(["a", "b", "ab", "zeta", "é", "m", ""]))
ints = st.one_of(st.none(), st.integers(min_value=-50, max_value=50))
flags = st.one_of(st.none(), st.booleans())
rows = st.lists(st.fixed_dictionaries({"text": texts, "n": ints, "flag": flags}), max_size=30)


def _both_ways(tmp: Path, splits: list[list[dict[str, Any]]], specs: list[ExpectationSpec]) -> tuple[Any, Any]:
    plan = plan_table(specs, TYPES)
    spill, shards, manifests = str(tmp / "spill"), [], []
    for i, part in enumerate(splits):
        m: dict[str, Any] = {"split": i, "accepted": len(part)}
        if part:  # a split with no accepted records writes no shard, as the split writer does
            shards.append(str(tmp / f"part-{i}.parquet"))
            pq.write_table(pa.Table.from_pylist(part, schema=pa.schema(ARROW)), shards[-1])
        m["table_stats"] = split_stats(part, plan, spill, i)
        manifests.append(m)
    got = table_checks(specs, plan, manifests, spill, shards)
    want = Validator(specs).table_results(table_frame(shards, specs))
    return got, want


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=3))
def test_statistics_give_what_gx_gives_on_the_whole_columns(tmp_path_factory: Any, rows: list, cuts: list) -> None:
    tmp = tmp_path_factory.mktemp("t")
    bounds = [0, *sorted(min(c, len(rows)) for c in cuts), len(rows)]
    splits = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    got, want = _both_ways(tmp, splits, SPECS)
    assert [g.pop("from") for g in got] == ["statistics"] * 10 + ["columns"] * 2
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)  # NaN == NaN as JSON text


def test_distinct_counts_are_exact_across_splits_and_buckets(tmp_path: Path) -> None:
    values = [f"v{i % 700}" for i in range(2000)] + [None] * 5  # 700 distinct, spread over every bucket
    splits = [[{"text": v, "n": 1, "flag": True} for v in values[k::3]] for k in range(3)]
    specs = [spec("expect_column_unique_value_count_to_be_between", column="text", min_value=700, max_value=700)]
    got, want = _both_ways(tmp_path, splits, specs)
    assert got[0]["observed"] == want[0]["observed"] == 700 and got[0]["success"]
    plan = plan_table(specs, TYPES)
    counts = split_stats(splits[0], plan, str(tmp_path / "s"), 0)["columns"]["text"]["digests"]
    assert len(counts) == BUCKETS and all(counts)


def test_only_what_statistics_answer_is_planned() -> None:
    assert plan_table(SPECS[:2], TYPES) == StatsPlan()  # row counts come from the manifests' accepted counts
    planned = (("flag", "boolean", True), ("n", "integer", True), ("text", "string", True))
    assert plan_table(SPECS, TYPES).columns == planned
    with_condition = spec("expect_table_row_count_to_be_between", min_value=1, row_condition='text=="a"')
    assert plan_table([with_condition], TYPES) == StatsPlan()


@pytest.mark.slow
def test_ingest_reports_table_checks_from_statistics(project: Path) -> None:
    extra = """    - type: expect_table_row_count_to_be_between
      kwargs: {min_value: 1}
    - type: expect_column_proportion_of_unique_values_to_be_between
      kwargs: {column: text, min_value: 0.99}
"""
    decl = project / "datanets" / "tiny.yaml"
    decl.write_text(decl.read_text().replace("output:", extra + "output:"))
    dn = load_datanet("tiny")
    report = ingest(dn, progress=lambda _: None)
    table = report["validation"]["table"]
    assert [(t["expectation"], t["success"], t["observed"], t["from"]) for t in table] == [
        ("expect_table_row_count_to_be_between", True, 10, "statistics"),
        ("expect_column_proportion_of_unique_values_to_be_between(text)", True, 1.0, "statistics"),
    ]
    shards = sorted(str(p) for p in (project / "out" / "tiny" / "shards").rglob("*.parquet"))
    specs = [s for s in dn.config.validation.expectations if s.type.startswith("expect_table") or "unique" in s.type]
    want = Validator(specs).table_results(table_frame(shards, specs))
    assert [{k: t[k] for k in ("expectation", "success", "observed")} for t in table] == want
