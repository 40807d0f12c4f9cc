"""Step 5, validate: Great Expectations 1.x on batches of records, offline.

Expectations are declared in the Datanet YAML by snake_case type and
keyword arguments. Row-level (column map) expectations send each failing
row to quarantine with reason ``validation_failed`` and the expectation
named in the detail; table-level expectations are evaluated once over the
run's accepted records and reported. The GX context is ephemeral with
analytics and progress bars off, so nothing is written or sent anywhere.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam

from pipelines.core.config import ExpectationSpec
from pipelines.core.reasons import Reason, Stage
from pipelines.core.records import Rejection, ScrubbedRecord, rejection

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def expectation_class(type_name: str) -> type:
    """expectation_class maps ``expect_column_values_to_not_be_null`` to its GX class; KeyError if unknown."""
    import great_expectations.expectations as gxe

    cls = getattr(gxe, "".join(p.capitalize() for p in type_name.split("_")), None)
    if not type_name.startswith("expect_") or cls is None:
        raise KeyError(type_name)
    return cls


def is_row_level(spec: ExpectationSpec) -> bool:
    """is_row_level says whether an expectation judges rows (column map) rather than the table."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return issubclass(
        expectation_class(spec.type), (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    )


def to_frame(records: Sequence[Mapping[str, Any]], columns: list[str]) -> Any:
    """to_frame flattens records into a pandas DataFrame with one column per schema field."""
    import pandas as pd

    rows = [
        {
            **{c: r["fields"].get(c) for c in columns},
            "contributor_id": r["contributor_id"],
            "submitted_at": r["submitted_at"],
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=[*columns, "contributor_id", "submitted_at"])


COLUMN_KWARGS = ("column", "column_A", "column_B")


def table_frame(shards: list[str], specs: list[ExpectationSpec]) -> Any:
    """table_frame reads only the columns table-level ``specs`` name from shards into one DataFrame.

    This is the one place the driver holds a whole run, column-wise: the
    named columns (or ``record_hash`` alone, for row counts) of the run's
    accepted records.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    from pipelines.core import fs

    cols = sorted({str(s.kwargs[k]) for s in specs for k in COLUMN_KWARGS if k in s.kwargs})
    cols += sorted({str(c) for s in specs for c in s.kwargs.get("column_list", [])} - set(cols))
    cols = cols or ["record_hash"]
    parts = []
    for path in shards:
        with fs.open_read(path) as f:
            parts.append(pq.read_table(f, columns=cols).to_pandas())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in cols})


class Validator:
    """A GX ephemeral context with one pandas batch definition, reused across batches."""

    def __init__(self, specs: list[ExpectationSpec]) -> None:
        import logging

        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
            logging.getLogger(name).setLevel(logging.ERROR)  # GX sets levels on its own child loggers
        logging.getLogger("great_expectations").setLevel(logging.ERROR)

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = self.context.data_sources.add_pandas("datanet")
        self.batch_definition = source.add_dataframe_asset("records").add_batch_definition_whole_dataframe("all")
        self.specs = specs
        self.expectations = [expectation_class(s.type)(**s.kwargs) for s in specs]

    def _run(self, frame: Any, row_level: bool) -> Iterator[tuple[ExpectationSpec, Any]]:
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        for spec, exp in zip(self.specs, self.expectations, strict=True):
            if is_row_level(spec) == row_level:
                yield spec, batch.validate(exp, result_format="COMPLETE")

    def row_failures(self, frame: Any) -> dict[int, list[str]]:
        """row_failures maps row position to the names of row-level expectations it fails."""
        failures: dict[int, list[str]] = {}
        if len(frame) == 0:
            return failures
        for spec, res in self._run(frame, row_level=True):
            for i in res.result.get("unexpected_index_list") or []:
                pos = int(i["index"]) if isinstance(i, dict) else int(i)
                failures.setdefault(pos, []).append(describe(spec))
        return failures

    def table_validations(self, frame: Any) -> list[tuple[ExpectationSpec, Any]]:
        """table_validations evaluates table-level expectations on ``frame``: (spec, GX result), in spec order."""
        return list(self._run(frame, row_level=False))

    def table_results(self, frame: Any) -> list[dict[str, Any]]:
        """table_results evaluates table-level expectations; returns one summary per expectation."""
        return [table_summary(spec, res) for spec, res in self.table_validations(frame)]


def table_summary(spec: ExpectationSpec, res: Any) -> dict[str, Any]:
    """table_summary is one table-level result as the run report shows it."""
    observed = (res.result or {}).get("observed_value")
    return {"expectation": describe(spec), "success": bool(res.success), "observed": jsonable(observed)}


def describe(spec: ExpectationSpec) -> str:
    """describe names an expectation as reports show it: ``type(column)``."""
    col = spec.kwargs.get("column")
    return f"{spec.type}({col})" if col else spec.type


def jsonable(value: Any) -> Any:
    """jsonable turns an observed value into plain JSON: NumPy scalars become Python numbers, anything else a string."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def validate_batch(
    batch: list[ScrubbedRecord], validator: Validator, columns: list[str]
) -> tuple[list[ScrubbedRecord], list[Rejection]]:
    """validate_batch splits a batch into (passing records, quarantine rows naming the expectations)."""
    failures = validator.row_failures(to_frame(batch, columns))
    ok = [r for i, r in enumerate(batch) if i not in failures]
    bad = [
        rejection(
            r["file"],
            r["line"],
            Reason.VALIDATION_FAILED,
            "; ".join(failures[i]),
            _payload(r),
            Stage.VALIDATE,
            r["split"],
            r["contributor_id"],
        )
        for i, r in enumerate(batch)
        if i in failures
    ]
    return ok, bad


def _payload(r: Mapping[str, Any]) -> bytes:
    import json

    return json.dumps(
        {"contributor_id": r["contributor_id"], "submitted_at": r["submitted_at"], **r["fields"]},
        ensure_ascii=False,
        sort_keys=True,
    ).encode("utf-8")


@functools.lru_cache(maxsize=8)
def _validator(specs_json: str, thread: int) -> Validator | None:
    """One GX validator per expectation list and thread in a worker process (setup may run per partition)."""
    specs = [ExpectationSpec.model_validate(s) for s in json.loads(specs_json)]
    return Validator(specs) if specs else None


class _Validate(beam.DoFn):
    def __init__(self, specs: list[ExpectationSpec], columns: list[str]) -> None:
        self.specs, self.columns = specs, columns
        self.validator: Validator | None = None

    def setup(self) -> None:
        self.validator = _validator(json.dumps([s.model_dump(mode="json") for s in self.specs]), threading.get_ident())

    def process(self, batch: list[ScrubbedRecord]) -> Iterator[tuple[str, list[Any]]]:
        if self.validator is None:
            yield "valid", batch
            return
        ok, bad = validate_batch(batch, self.validator, self.columns)
        if ok:
            yield "valid", ok
        if bad:
            yield "quarantine", bad


class ValidateRecords(beam.PTransform):
    """ValidateRecords applies row-level expectations to batches of (anonymised) records.

    Output: ``("valid", [record…])`` and ``("quarantine", [rejection…])``
    tuples (``pipelines.stages.read.select`` picks one).
    """

    def __init__(self, expectations: list[ExpectationSpec], columns: list[str]) -> None:
        super().__init__()
        self.specs = [s for s in expectations if is_row_level(s)]
        self.columns = columns

    def fn(self) -> beam.DoFn:
        """fn is this stage's DoFn (a batch in, tagged tuples out), for ``pipelines.stages.chain``."""
        return _Validate(self.specs, self.columns)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Check" >> beam.ParDo(self.fn())
