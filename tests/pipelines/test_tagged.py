"""OnTag: a stage's DoFn on one tag of a tagged stream, everything else passed through."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.stages.tagged import OnTag, on_tag


class _Double(beam.DoFn):
    def setup(self) -> None:
        self.factor = 2

    def process(self, batch: list[int]) -> Iterator[list[int]]:
        yield [self.factor * v for v in batch]


class _Split(beam.DoFn):
    def process(self, batch: list[int]) -> Iterator[tuple[str, list[int]]]:
        yield "even", [v for v in batch if v % 2 == 0]
        yield "odd", [v for v in batch if v % 2]


class _Emits(beam.DoFn):
    def process(self, v: int) -> Iterator[int]:
        yield v

    def finish_bundle(self) -> Iterator[int]:
        yield 1


def test_on_tag_transforms_one_tag_and_passes_the_rest_through_in_a_chain() -> None:
    items = [("records", [1, 2, 3]), ("quarantine", ["bad"]), ("records", [4]), ("tally", {"n": 4})]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(items)
            | "Double" >> beam.ParDo(OnTag(_Double(), "records", "records"))
            | "Split" >> beam.ParDo(OnTag(_Split(), "records"))
        )
        assert_that(
            out,
            equal_to(
                [
                    ("even", [2, 4, 6]),
                    ("odd", []),
                    ("even", [8]),
                    ("odd", []),
                    ("quarantine", ["bad"]),
                    ("tally", {"n": 4}),
                ]
            ),
        )


def test_on_tag_without_a_tag_is_the_dofn_itself_and_refuses_finish_bundle_output() -> None:
    fn = _Double()
    assert on_tag(fn, None) is fn
    wrapped = OnTag(_Emits(), "x")
    with pytest.raises(RuntimeError, match="finish_bundle"):
        wrapped.finish_bundle()
