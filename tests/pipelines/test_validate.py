"""Validation with Great Expectations: row failures to quarantine, table checks to the report."""

from __future__ import annotations

from pipelines.core.config import ExpectationSpec
from pipelines.stages.validate import Validator, is_row_level, to_frame, validate_batch


def _rec(i: int, text: str, specialty: str | None = "general") -> dict:
    return {
        "id": f"0/{i}",
        "split": 0,
        "file": "f.jsonl",
        "line": i,
        "contributor_id": "c",
        "submitted_at": None,
        "fields": {"text": text, "specialty": specialty},
    }


SPECS = [
    ExpectationSpec(
        type="expect_column_value_lengths_to_be_between", kwargs={"column": "text", "min_value": 5, "max_value": 50}
    ),
    ExpectationSpec(
        type="expect_column_values_to_be_in_set", kwargs={"column": "specialty", "value_set": ["general", "cardiology"]}
    ),
    ExpectationSpec(type="expect_table_row_count_to_be_between", kwargs={"min_value": 10}),
]


def test_row_level_and_table_level_are_told_apart() -> None:
    assert [is_row_level(s) for s in SPECS] == [True, True, False]


def test_failing_rows_are_quarantined_naming_the_expectation() -> None:
    batch = [_rec(1, "long enough"), _rec(2, "no"), _rec(3, "fine text", "astrology"), _rec(4, "x", "astrology")]
    ok, bad = validate_batch(batch, Validator(SPECS[:2]), ["text", "specialty"])
    assert [r["id"] for r in ok] == ["0/1"]
    assert [(b["line"], b["reason"], b["detail"]) for b in bad] == [
        (2, "validation_failed", "expect_column_value_lengths_to_be_between(text)"),
        (3, "validation_failed", "expect_column_values_to_be_in_set(specialty)"),
        (
            4,
            "validation_failed",
            "expect_column_value_lengths_to_be_between(text); expect_column_values_to_be_in_set(specialty)",
        ),
    ]
    assert b'"text": "no"' in bad[0]["payload"]


def test_table_expectations_are_reported() -> None:
    frame = to_frame([_rec(i, "long enough") for i in range(3)], ["text", "specialty"])
    [res] = Validator(SPECS[2:]).table_results(frame)
    assert res == {"expectation": "expect_table_row_count_to_be_between", "success": False, "observed": 3}
