"""Each public PTransform on a TestPipeline, checked with assert_that."""

from __future__ import annotations

import itertools
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.config import DedupConfig, load_datanet
from pipelines.core.records import record_hash
from pipelines.core.splits import FileSpec, Split
from pipelines.stages.anonymise import AnonymisePII
from pipelines.stages.dedup.graph import prior_key
from pipelines.stages.dedup.local import drop_duplicates_local, sketched_texts
from pipelines.stages.dedup.transforms import DropDuplicates
from pipelines.stages.read import ReadContributions, select, whole
from pipelines.stages.validate import ValidateRecords

from ..conftest import tiny_records

SALT = b"transform-test-salt"


def _split(project: Path) -> Split:
    return whole(FileSpec(0, 0, str(project / "data" / "a.jsonl"), "data/a.jsonl", "jsonl"))


def test_read_contributions(project: Path) -> None:
    with open(project / "data" / "a.jsonl", "a") as f:
        f.write("{bad\n\n")
    dn = load_datanet("tiny")
    with TestPipeline() as p:
        out = p | beam.Create([_split(project)]) | ReadContributions(dn.schema, dn.config.validation, 4)
        ids = out | "Recs" >> select("records") | "Ids" >> beam.FlatMap(lambda b: [r["id"] for r in b])
        reasons = (
            out
            | "Rejs" >> select("quarantine")
            | "Reasons" >> beam.FlatMap(lambda b: [(q["line"], q["reason"]) for q in b])
        )
        assert_that(ids, equal_to([f"0/{i}" for i in range(1, 11)]), label="records")
        assert_that(reasons, equal_to([(11, "malformed_json")]), label="quarantine")
        assert_that(out | select("tally"), equal_to([{"split": 0, "items": 11, "blank": 1}]), label="tally")


def _sketched(texts: list[str]) -> list[dict]:
    return sketched_texts(texts, DedupConfig(), SALT)


@pytest.mark.parametrize("cuts", [[], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [6]])
def test_drop_duplicates_matches_the_local_decision(tmp_path: Path, cuts: list[int]) -> None:
    recs = tiny_records()
    texts = [r["text"] for r in recs] + [recs[3]["text"], recs[4]["text"].replace("weeks", "weeks.")]
    sketched = _sketched(texts)
    prior = [
        {**r, "key": prior_key(i), "prior": True, "record_hash": record_hash(r["fields"])}
        for i, r in enumerate(_sketched([recs[7]["text"]]))
    ]
    (tmp_path / "salt").write_bytes(SALT)
    hashed = [{**r, "record_hash": record_hash(r["fields"])} for r in sketched]
    want_kept, want_dups = drop_duplicates_local(hashed, prior, DedupConfig())
    state = tmp_path / "state.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {k: p[k] for k in ("content_key", "record_hash", "minhash", "shingles")} | {"ledger_index": 0}
                for p in prior
            ]
        ),
        state,
    )
    with TestPipeline() as p:
        edges = [0, *cuts, len(sketched)]
        parts = [sketched[a:b] for a, b in itertools.pairwise(edges) if b > a]
        batches = p | "Batches" >> beam.Create(parts[::-1])
        sources = p | "Sources" >> beam.Create([("none", ""), ("state", str(state))])
        out = (batches, sources) | DropDuplicates(
            ["text"], DedupConfig(), str(tmp_path / "salt"), str(tmp_path / "work")
        )
        decisions = out | "Unlist" >> beam.FlatMap(lambda sd: [d for d in sd[1] if d["split"] == sd[0]])
        dups = decisions | "DupRows" >> beam.Map(lambda d: (d["key"][5], d["kind"], d["duplicate_of"], d["similarity"]))
        assert_that(
            dups,
            equal_to([(d["line"], d["kind"], d["duplicate_of"], d["similarity"]) for d in want_dups]),
            label="dups",
        )
    assert len(want_dups) == 3 and len(want_kept) == len(texts) - 3


def test_anonymise_and_validate(project: Path, tmp_path: Path) -> None:
    dn = load_datanet("tiny")
    (tmp_path / "salt").write_bytes(b"s" * 32)
    batch = [
        {
            "id": "0/1",
            "split": 0,
            "file": "f",
            "line": 1,
            "contributor_id": "c",
            "submitted_at": None,
            "fields": {"text": "Call Maria Garcia on 212-555-0147 about her asthma review."},
        },
        {
            "id": "0/2",
            "split": 0,
            "file": "f",
            "line": 2,
            "contributor_id": "c",
            "submitted_at": None,
            "fields": {"text": "ok"},
        },
    ]
    with TestPipeline() as p:
        clean = p | beam.Create([batch]) | AnonymisePII(dn.config.pii, ["text"], str(tmp_path / "salt"))
        checked = clean | ValidateRecords(dn.config.validation.expectations, ["text", "specialty"])
        texts = (
            checked
            | "Valid" >> select("valid")
            | "Texts" >> beam.FlatMap(lambda b: [(r["fields"]["text"], r["pii"]) for r in b])
        )
        bad = (
            checked
            | "Invalid" >> select("quarantine")
            | "Bad" >> beam.FlatMap(lambda b: [(q["line"], q["reason"]) for q in b])
        )
        assert_that(
            texts,
            equal_to([("Call <PERSON> on <PHONE_NUMBER> about her asthma review.", {"PERSON": 1, "PHONE_NUMBER": 1})]),
            label="texts",
        )
        assert_that(bad, equal_to([(2, "validation_failed")]), label="bad")
