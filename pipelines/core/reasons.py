"""Every quarantine reason and duplicate kind, in one place.

A quarantined input carries exactly one ``Reason``; a dropped duplicate
exactly one ``DuplicateKind``. Both are ``str`` enums, so the value written
to Parquet and to reports is the plain name (``"malformed_json"``). The
README lists every member; ``tests/test_docs.py`` fails if one is missing.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why an input line, row or file was quarantined (the ``reason`` column)."""

    # ingest: the bytes cannot become a record
    UNREADABLE_FILE = "unreadable_file"
    INVALID_UTF8 = "invalid_utf8"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_CSV = "malformed_csv"
    NOT_AN_OBJECT = "not_an_object"
    DUPLICATE_KEY = "duplicate_key"
    RECORD_TOO_LARGE = "record_too_large"
    INVALID_UNICODE = "invalid_unicode"  # a lone surrogate (e.g. "\\ud800") in a string or key
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    NUMBER_OUT_OF_RANGE = "number_out_of_range"  # outside I-JSON's +/-(2**53-1), or not finite
    UNREADABLE_RECORD = "unreadable_record"  # the parser failed on this line only, for any other reason
    # ingest: a path matching a source glob is not a regular file inside its source folder
    NOT_A_FILE = "not_a_file"
    DANGLING_LINK = "dangling_link"
    LINK_LOOP = "link_loop"
    LINK_OUTSIDE_SOURCE = "link_outside_source"
    INVALID_FILE_NAME = "invalid_file_name"
    # ingest: the record does not fit the schema
    MISSING_CONTRIBUTOR_ID = "missing_contributor_id"
    EMPTY_CONTRIBUTOR_ID = "empty_contributor_id"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    EMPTY_RECORD = "empty_record"
    INVALID_SUBMITTED_AT = "invalid_submitted_at"
    # ingest: a textdir file and its manifest disagree
    NOT_IN_MANIFEST = "not_in_manifest"
    MISSING_FILE = "missing_file"
    # validate: a row-level Great Expectations expectation failed
    VALIDATION_FAILED = "validation_failed"


class DuplicateKind(StrEnum):
    """Why a valid record was dropped as a duplicate (the ``kind`` column)."""

    EXACT = "exact"  # same normalised dedup text as a kept record
    EXACT_AFTER_ANONYMISATION = "exact_after_anonymisation"  # same stored fields (same record_hash)
    NEAR = "near"  # exact shingle Jaccard >= dedup.near.threshold with a kept record


class Stage(StrEnum):
    """Where a rejection was decided (the ``stage`` column)."""

    INGEST = "ingest"
    VALIDATE = "validate"
