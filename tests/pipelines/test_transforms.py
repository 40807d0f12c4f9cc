"""Each public PTransform on a TestPipeline, checked with assert_that."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.anonymise import AnonymisePII
from pipelines.config import load_datanet
from pipelines.dedup.clusters import Prior
from pipelines.dedup.transforms import DropDuplicates
from pipelines.ingest import FileSpec, ReadContributions
from pipelines.validate import ValidateRecords

from ..conftest import tiny_records


def _spec(project: Path) -> FileSpec:
    return FileSpec(0, 0, str(project / "data" / "a.jsonl"), "data/a.jsonl", "jsonl")


def test_read_contributions(project: Path) -> None:
    with open(project / "data" / "a.jsonl", "a") as f:
        f.write("{bad\n\n")
    dn = load_datanet("tiny")
    with TestPipeline() as p:
        out = p | beam.Create([_spec(project)]) | ReadContributions(dn)
        ids = out.records | "Ids" >> beam.FlatMap(lambda b: [r["id"] for r in b])
        reasons = out.quarantine | "Reasons" >> beam.FlatMap(lambda b: [(q["line"], q["reason"]) for q in b])
        assert_that(ids, equal_to([f"0/0/{i}" for i in range(1, 11)]), label="records")
        assert_that(reasons, equal_to([(11, "malformed_json")]), label="quarantine")
        assert_that(out.tally, equal_to([[{"unit": "data/a.jsonl", "items": 11, "blank": 1}]]), label="tally")


def test_drop_duplicates(project: Path) -> None:
    recs = tiny_records()
    with open(project / "data" / "a.jsonl", "a") as f:
        f.write(json.dumps({**recs[3], "contributor_id": "late", "submitted_at": "2027-01-01T00:00:00Z"}) + "\n")
    dn = load_datanet("tiny")
    with TestPipeline() as p:
        batches = (p | beam.Create([_spec(project)]) | ReadContributions(dn)).records
        out = batches | DropDuplicates(dn, Prior())
        kept = out.kept | "Kept" >> beam.Map(len) | beam.CombineGlobally(sum)
        dups = out.duplicates | "Dups" >> beam.FlatMap(
            lambda b: [(d["line"], d["kind"], d["duplicate_of_id"]) for d in b]
        )
        assert_that(kept, equal_to([10]), label="kept")
        assert_that(dups, equal_to([(11, "exact", "0/0/4")]), label="dups")


def test_anonymise_and_validate(project: Path) -> None:
    dn = load_datanet("tiny")
    batch = [
        {
            "id": "0/0/1",
            "file": "f",
            "line": 1,
            "contributor_id": "c",
            "submitted_at": None,
            "fields": {"text": "Call Maria Garcia on 212-555-0147 about her asthma review."},
        },
        {"id": "0/0/2", "file": "f", "line": 2, "contributor_id": "c", "submitted_at": None, "fields": {"text": "ok"}},
    ]
    with TestPipeline() as p:
        clean = p | beam.Create([batch]) | AnonymisePII(dn, b"s" * 32)
        checked = clean | ValidateRecords(dn)
        texts = checked.valid | "Texts" >> beam.FlatMap(lambda b: [(r["fields"]["text"], r["pii"]) for r in b])
        bad = checked.quarantine | "Bad" >> beam.FlatMap(lambda b: [(q["line"], q["reason"]) for q in b])
        assert_that(
            texts,
            equal_to([("Call <PERSON> on <PHONE_NUMBER> about her asthma review.", {"PERSON": 1, "PHONE_NUMBER": 1})]),
            label="texts",
        )
        assert_that(bad, equal_to([(2, "validation_failed")]), label="bad")
