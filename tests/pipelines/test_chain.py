"""RunChained: the same outputs as one ParDo per stage, one batch at a time, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.stages.chain import RunChained, _Chained


class _Read(beam.DoFn):
    """A split ``(name, n)`` → n batches of 2 records, one bad record each, and a tally."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.log = log

    def process(self, split: tuple[str, int]) -> Iterator[tuple[str, Any]]:
        name, n = split
        for k in range(n):
            if self.log is not None:
                self.log.append(f"read {name}{k}")
            yield "records", [f"{name}{k}a", f"{name}{k}b"]
            yield "quarantine", [f"{name}{k}!"]
        yield "tally", (name, n)


class _Upper(beam.DoFn):
    def setup(self) -> None:
        self.ready = True

    def process(self, batch: list[str]) -> Iterator[list[str]]:
        assert self.ready
        yield [r.upper() for r in batch]


class _Check(beam.DoFn):
    def process(self, batch: list[str]) -> Iterator[tuple[str, list[str]]]:
        ok = [r for r in batch if not r.endswith("B")]
        bad = [r for r in batch if r.endswith("B")]
        if ok:
            yield "valid", ok
        if bad:
            yield "quarantine", bad


class _Spill(beam.DoFn):
    def __init__(self, log: list[str] | None = None) -> None:
        self.log = log

    def process(self, batch: list[str]) -> Iterator[tuple[str, Any]]:
        if self.log is not None:
            self.log.append(f"spill {batch[0]}")
        yield "valid", len(batch)
        yield "nodes", [r.lower() for r in batch]


class _Bundled(beam.DoFn):
    def start_bundle(self) -> None:
        pass

    def process(self, x: Any) -> Iterator[Any]:
        yield x


def _links(log: list[str] | None = None) -> list[Any]:
    return [(None, _Read(log)), ("records", _Upper()), (None, _Check()), ("valid", _Spill(log))]


def _by_stage(splits: beam.PCollection) -> beam.PCollection:
    """The same stages wired as one ParDo each, as the pipeline did before chaining."""

    def select(tag: str) -> Any:
        return beam.FlatMap(lambda tv, tag=tag: [tv[1]] if tv[0] == tag else [])

    read = splits | "Read" >> beam.ParDo(_Read())
    checked = read | "Records" >> select("records") | "Upper" >> beam.ParDo(_Upper()) | "Check" >> beam.ParDo(_Check())
    spilled = checked | "Valid" >> select("valid") | "Spill" >> beam.ParDo(_Spill())
    rest = (
        read | "NotRecords" >> beam.Filter(lambda tv: tv[0] != "records"),
        checked | "NotValid" >> beam.Filter(lambda tv: tv[0] != "valid"),
        spilled,
    )
    return rest | beam.Flatten()


def _freeze(tv: tuple[str, Any]) -> tuple[str, Any]:
    tag, value = tv
    return tag, tuple(value) if isinstance(value, list) else value


SPLITS = [("s", 3), ("t", 1), ("u", 0)]


def test_chained_equals_one_pardo_per_stage() -> None:
    def listed(pcoll: beam.PCollection, name: str) -> beam.PCollection:
        return (
            pcoll
            | f"Repr{name}" >> beam.Map(lambda tv: repr(_freeze(tv)))
            | f"List{name}" >> beam.combiners.ToList()
            | f"Key{name}" >> beam.Map(lambda got, name=name: ("all", (name, sorted(got))))
        )

    with beam.Pipeline() as p:
        splits = p | "Splits" >> beam.Create(SPLITS)
        staged = listed(_by_stage(splits), "staged")
        chained = listed(splits | RunChained(_links()), "chained")
        pair = (staged, chained) | "Both" >> beam.Flatten() | beam.GroupByKey() | beam.Map(lambda kv: dict(kv[1]))
        assert_that(pair | "Same" >> beam.Map(lambda d: d["staged"] == d["chained"]), equal_to([True]), label="same")
        assert_that(pair | "Chained" >> beam.Map(lambda d: d["chained"]), equal_to([EXPECTED]), label="content")


# Per batch: valid count, nodes, quarantine from the check and from the read; then one tally per split.
EXPECTED = sorted(
    repr(tv)
    for name, n in SPLITS
    for tv in [
        *(
            x
            for k in range(n)
            for x in [
                ("valid", 1),
                ("nodes", (f"{name}{k}a",)),
                ("quarantine", (f"{name.upper()}{k}B",)),
                ("quarantine", (f"{name}{k}!",)),
            ]
        ),
        ("tally", (name, n)),
    ]
)


def test_each_batch_reaches_the_last_link_before_the_next_is_read() -> None:
    log: list[str] = []
    chained = _Chained(_links(log))
    chained.setup()
    out = list(chained.process(("s", 3)))
    chained.teardown()
    assert log == ["read s0", "spill S0A", "read s1", "spill S1A", "read s2", "spill S2A"]
    assert [tag for tag, _ in out] == ["valid", "nodes", "quarantine", "quarantine"] * 3 + ["tally"]


def test_outputs_of_a_split_keep_their_order() -> None:
    chained = _Chained(_links())
    chained.setup()
    out = list(chained.process(("t", 2)))
    assert out == [
        ("valid", 1),
        ("nodes", ["t0a"]),
        ("quarantine", ["T0B"]),
        ("quarantine", ["t0!"]),
        ("valid", 1),
        ("nodes", ["t1a"]),
        ("quarantine", ["T1B"]),
        ("quarantine", ["t1!"]),
        ("tally", ("t", 2)),
    ]


@pytest.mark.parametrize(
    "links, message",
    [
        ([], "at least one link"),
        ([("records", _Upper())], "takes the input itself"),
        ([(None, _Read()), (None, _Bundled())], "_Bundled overrides start_bundle"),
    ],
)
def test_refuses_what_it_cannot_chain(links: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunChained(links)
