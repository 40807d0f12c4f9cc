"""Table-level expectations from per-split partial statistics: the driver never reads a run's columns back for them.

A table-level expectation (``expect_table_row_count_to_be_between``,
``expect_column_proportion_of_unique_values_to_be_between``…) judges the
run's accepted records as a whole. Great Expectations decides it from a few
metric values; ``plan_table`` looks up which ones (GX's own
``get_validation_dependencies``) and answers an expectation from partial
statistics when every metric it needs is one of ``MERGEABLE``:

* ``table.row_count``: rows, summed over splits;
* ``column.min`` / ``column.max``: of string and integer columns;
* ``column.sum`` / ``column.mean``: of integer columns (exact integer sums);
* ``column.distinct_values.count`` and ``column.unique_proportion``: exact
  distinct counts. Each split writer writes the sorted distinct 16-byte
  BLAKE2b digests of a column's non-null values to one file in the attempt's
  spill folder, in ``BUCKETS`` slices by first byte; the driver counts
  distinct digests one bucket at a time over all splits, so it holds about
  ``16 * n / BUCKETS`` bytes for ``n`` records.

The split writer (a worker) computes ``split_stats`` over the rows it wrote
to its shards; ``merge`` adds them up exactly; ``metric_values`` turns the
sum into the values pandas would give on the whole column (an integer column
with a null anywhere reads back as float64; an empty one gives NaN), and
GX's own ``metrics_validate`` decides success. The result is the summary
``Validator.table_results`` gives on the read-back frame
(``tests/pipelines/test_table_stats.py`` checks both ways on random
columns). Any other table-level expectation (median, quantiles, value sets,
column counts, a ``row_condition``…) is evaluated on the columns it names,
read back from the shards, as before; its summary says ``"from": "columns"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.core import fs

BUCKETS = 16
DIGEST = 16
MERGEABLE = (
    "table.row_count",
    "column.min",
    "column.max",
    "column.sum",
    "column.mean",
    "column.distinct_values.count",
    "column.unique_proportion",
)
_NUMERIC = ("column.sum", "column.mean")
_ORDERED = ("column.min", "column.max")
_DISTINCT = ("column.distinct_values.count", "column.unique_proportion")


@dataclass(frozen=True)
class StatsPlan:
    """What the split writers compute: per column, its schema type and whether it needs distinct digests."""

    columns: tuple[tuple[str, str, bool], ...] = ()  # (column, "string" | "integer" | "boolean", distinct)

    def __bool__(self) -> bool:
        return bool(self.columns)


def _metrics(spec: Any) -> list[Any]:
    """GX's metric configurations for one expectation spec (``pipelines.core.config.ExpectationSpec``)."""
    from great_expectations.execution_engine import PandasExecutionEngine

    from pipelines.stages.validate import expectation_class

    exp = expectation_class(spec.type)(**spec.kwargs)
    deps = exp.get_validation_dependencies(
        execution_engine=PandasExecutionEngine(), runtime_configuration={"result_format": "COMPLETE"}
    )
    return list(deps.get_metric_configurations())


def answerable(spec: Any, types: Mapping[str, str]) -> bool:
    """answerable says whether partial statistics give every metric ``spec`` needs; ``types`` maps column -> type."""
    for m in _metrics(spec):
        dom = dict(m.metric_domain_kwargs)
        if m.metric_name not in MERGEABLE or dom.get("row_condition") or m.metric_value_kwargs:
            return False
        col = dom.get("column")
        if m.metric_name != "table.row_count" and col not in types:
            return False
        kind = types.get(str(col))
        if m.metric_name in _NUMERIC and kind != "integer":
            return False
        if m.metric_name in _ORDERED and kind not in ("integer", "string"):
            return False
    return True


def shard_types(schema: Any) -> dict[str, str]:
    """shard_types maps each shard column (``pipelines.core.layouts.shard_schema``) to its type."""
    types = {f.name: str(f.type) for f in schema.fields}
    types |= {c: "string" for c in ("contributor_id", "submitted_at", "record_hash", "run_id", "pii")}
    return types | {"ledger_index": "integer"}


def plan_table(specs: Sequence[Any], types: Mapping[str, str]) -> StatsPlan:
    """plan_table is what the split writers compute so that every answerable spec of ``specs`` needs no read-back."""
    cols: dict[str, bool] = {}
    for s in (s for s in specs if answerable(s, types)):
        for m in _metrics(s):
            col = dict(m.metric_domain_kwargs).get("column")
            if col is not None:
                cols[str(col)] = cols.get(str(col), False) or m.metric_name in _DISTINCT
    return StatsPlan(tuple((c, types[c], d) for c, d in sorted(cols.items())))


def digest(value: Any) -> bytes:
    """digest is a non-null value's 16-byte BLAKE2b, typed so ``1``, ``"1"`` and ``True`` differ."""
    tag = "b" if isinstance(value, bool) else "i" if isinstance(value, int) else "s"
    return hashlib.blake2b(f"{tag}:{value}".encode(), digest_size=DIGEST).digest()


def digest_file(spill_dir: str, split: int, column: int) -> str:
    """digest_file is where a split's distinct digests of plan column ``column`` go."""
    return fs.join(spill_dir, "stats", f"column-{column:03d}", f"split-{split:05d}.bin")


def split_stats(rows: Sequence[Mapping[str, Any]], plan: StatsPlan, spill_dir: str, split: int) -> dict[str, Any]:
    """split_stats summarises one split's shard rows for ``plan``; writes its distinct digests to the spill folder.

    Returns ``{"rows": n, "columns": {column: {"nonnull", "min", "max",
    "sum", "digests": [count per bucket]}}}``: min/max/sum of non-null
    values (None when the split has none), plain JSON.
    """
    out: dict[str, Any] = {"rows": len(rows), "columns": {}}
    for i, (col, kind, distinct) in enumerate(plan.columns):
        values = [r[col] for r in rows if r[col] is not None]
        stat: dict[str, Any] = {"nonnull": len(values), "min": None, "max": None, "sum": None}
        if values and kind in ("integer", "string"):
            stat["min"], stat["max"] = min(values), max(values)
        if kind == "integer":
            stat["sum"] = sum(int(v) for v in values)
        if distinct:
            keys = np.unique(np.frombuffer(b"".join(digest(v) for v in values), dtype=f"S{DIGEST}"))
            counts = np.bincount(np.frombuffer(keys.tobytes(), dtype=np.uint8)[::DIGEST] >> 4, minlength=BUCKETS)
            fs.write_bytes(digest_file(spill_dir, split, i), keys.tobytes(), private=True)
            stat["digests"] = [int(c) for c in counts]
        out["columns"][col] = stat
    return out


def merge(manifests: Sequence[Mapping[str, Any]], plan: StatsPlan) -> dict[str, Any]:
    """merge adds the split manifests' statistics up: accepted rows, non-null counts and integer sums exactly,
    min of mins, max of maxes."""
    out: dict[str, Any] = {"rows": sum(int(m["accepted"]) for m in manifests), "columns": {}}
    for col, _, _ in plan.columns:
        stats = [m["table_stats"]["columns"][col] for m in manifests]
        mins = [s["min"] for s in stats if s["min"] is not None]
        maxs = [s["max"] for s in stats if s["max"] is not None]
        sums = [int(s["sum"]) for s in stats if s["sum"] is not None]
        out["columns"][col] = {
            "nonnull": sum(int(s["nonnull"]) for s in stats),
            "min": min(mins) if mins else None,
            "max": max(maxs) if maxs else None,
            "sum": sum(sums) if sums else None,
        }
    return out


def distinct_count(spill_dir: str, column: int, parts: Sequence[Mapping[str, Any]], col: str) -> int:
    """distinct_count counts distinct digests over every split's file, one bucket at a time (exact)."""
    splits = [(int(p["split"]), [int(c) for c in p["table_stats"]["columns"][col]["digests"]]) for p in parts]
    total = 0
    for b in range(BUCKETS):
        chunks = []
        for split, counts in splits:
            if counts[b]:
                with fs.open_read(digest_file(spill_dir, split, column)) as f:
                    f.seek(DIGEST * sum(counts[:b]))
                    chunks.append(np.frombuffer(f.read(DIGEST * counts[b]), dtype=f"S{DIGEST}"))
        if chunks:
            total += len(np.unique(np.concatenate(chunks)))
    return total


def metric_values(merged: Mapping[str, Any], plan: StatsPlan, distinct: Mapping[str, int]) -> dict[str, Any]:
    """metric_values gives each mergeable metric, per column, as pandas computes it on the read-back column."""
    rows = int(merged["rows"])
    out: dict[str, Any] = {"table.row_count": rows}
    for col, kind, _ in plan.columns:
        s = merged["columns"][col]
        nonnull = int(s["nonnull"])
        floaty = kind == "integer" and nonnull < rows  # pandas reads an int64 column with nulls as float64
        cast = float if floaty else (lambda v: v)
        nan = float("nan")
        out[f"column.min:{col}"] = cast(s["min"]) if nonnull else nan
        out[f"column.max:{col}"] = cast(s["max"]) if nonnull else nan
        out[f"column.sum:{col}"] = cast(int(s["sum"] or 0)) if rows else 0.0  # an empty frame: float64
        out[f"column.mean:{col}"] = int(s["sum"] or 0) / nonnull if nonnull else nan
        if col in distinct:
            from great_expectations.expectations.metrics.column_aggregate_metrics.column_proportion_of_unique_values import (  # noqa: E501
                unique_proportion,
            )

            out[f"column.distinct_values.count:{col}"] = distinct[col]
            out[f"column.unique_proportion:{col}"] = unique_proportion(
                {
                    "table.row_count": rows,
                    "column.distinct_values.count": distinct[col],
                    "column_values.nonnull.unexpected_count": rows - nonnull,
                }
            )
    return out


def evaluate(spec: Any, values: Mapping[str, Any]) -> Any:
    """evaluate lets GX's expectation decide ``spec`` from metric values (its own ``metrics_validate``)."""
    from pipelines.stages.validate import expectation_class

    exp = expectation_class(spec.type)(**spec.kwargs)
    metrics = {}
    for m in _metrics(spec):
        col = dict(m.metric_domain_kwargs).get("column")
        metrics[m.id] = values[m.metric_name if col is None else f"{m.metric_name}:{col}"]
    return exp.metrics_validate(metrics=metrics, runtime_configuration={"result_format": "COMPLETE"})


def summary(spec: Any, res: Any, source: str) -> dict[str, Any]:
    """summary is one table check as the run report shows it, with where its answer came from."""
    from pipelines.stages.validate import table_summary

    return {**table_summary(spec, res), "from": source}


def table_checks(
    specs: Sequence[Any], plan: StatsPlan, manifests: Sequence[Mapping[str, Any]], spill_dir: str, shards: list[str]
) -> list[dict[str, Any]]:
    """table_checks evaluates table-level ``specs`` in order: from the manifests' ``table_stats`` where ``plan``
    covers them (``"from": "statistics"``), else from their columns read back from ``shards`` (``"columns"``)."""
    from pipelines.stages.validate import Validator, table_frame

    results: dict[int, dict[str, Any]] = {}
    types = {c: k for c, k, _ in plan.columns}
    partial = [i for i, s in enumerate(specs) if answerable(s, types) and _covered(s, plan)]
    if partial:
        merged = merge(manifests, plan)
        distinct = {
            col: distinct_count(spill_dir, i, manifests, col) for i, (col, _, d) in enumerate(plan.columns) if d
        }
        values = metric_values(merged, plan, distinct)
        for i in partial:
            results[i] = summary(specs[i], evaluate(specs[i], values), "statistics")
    rest = [i for i in range(len(specs)) if i not in results]
    if rest:
        frame = table_frame(shards, [specs[i] for i in rest])
        validator = Validator([specs[i] for i in rest])
        for i, (spec, res) in zip(rest, validator.table_validations(frame), strict=True):
            results[i] = summary(spec, res, "columns")
    return [results[i] for i in range(len(specs))]


def _covered(spec: Any, plan: StatsPlan) -> bool:
    """Every column metric of ``spec`` is in ``plan``, with digests where it needs a distinct count."""
    cols = {c: d for c, _, d in plan.columns}
    for m in _metrics(spec):
        col = dict(m.metric_domain_kwargs).get("column")
        if col is not None and (col not in cols or (m.metric_name in _DISTINCT and not cols[col])):
            return False
    return True
