"""Beam's Dask runner with bounded partitions (``pipelines.stages.dask_partitions``).

The runner's translation is exercised without a cluster: the pipeline is
translated into Dask bags exactly as ``DaskRunner.run_pipeline`` does, and the
bags are computed by Dask's multiprocessing scheduler (each task is pickled,
as on a dask.distributed worker; the runner's DoFn receivers are shared
objects that only a pickled task gets fresh). Byte identity against the
DirectRunner on a real cluster is ``tests/test_dask.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import apache_beam as beam
import dask
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask import transform_evaluator as te
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner
from apache_beam.runners.dask.overrides import _Flatten, _GroupByKeyOnly, dask_overrides

from pipelines.stages.dask_partitions import (
    BoundedFlatten,
    BoundedGroupByKey,
    FreshParDo,
    bound_partitions,
    shuffle_partitions,
    spread,
)


@pytest.fixture
def stock_translations() -> Any:
    saved = dict(te.TRANSLATIONS)
    te.TRANSLATIONS[_Flatten], te.TRANSLATIONS[_GroupByKeyOnly] = te.Flatten, te.GroupByKey
    te.TRANSLATIONS[beam.ParDo] = te.ParDo
    yield
    te.TRANSLATIONS.clear()
    te.TRANSLATIONS.update(saved)
    BoundedGroupByKey.shuffle_partitions = None


def _translate(npartitions: int) -> tuple[dict[str, Any], Any]:
    """A join of three PCollections and a chain of GroupByKeys, translated to bags by the runner's visitor."""
    opts = PipelineOptions.from_dictionary(
        {"runner": "apache_beam.runners.dask.dask_runner.DaskRunner", "dask_npartitions": npartitions}
    )
    p = beam.Pipeline(options=opts)
    parts = [p | f"Create{i}" >> beam.Create([(k % 13, f"{i}-{k}") for k in range(200)]) for i in range(3)]
    grouped = parts | "Join" >> beam.Flatten() | "G1" >> beam.GroupByKey()
    again = (
        grouped | "Split" >> beam.FlatMap(lambda kv: [(kv[0] % 5, v) for v in kv[1]]),
        parts[0],
    ) | "Join2" >> beam.Flatten()
    _ = again | "G2" >> beam.GroupByKey() | "Sorted" >> beam.Map(lambda kv: (kv[0], sorted(kv[1])))
    dask_options = opts.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
    p.replace_all(dask_overrides())
    visitor = DaskRunner.to_dask_bag_visitor(DaskOptions._extract_bag_kwargs(dask_options))
    p.visit(visitor)
    bags = {node.full_label: bag for node, bag in visitor.bags.items()}
    return bags, list(visitor.bags.values())[-1]


def test_stock_runner_lets_partitions_add_up(stock_translations: Any) -> None:
    bags, _ = _translate(4)
    assert bags["Join"].npartitions == 12 and bags["Join2"].npartitions > 12


def _expected() -> list[tuple[int, list[str]]]:
    """What the pipeline of ``_translate`` must give, computed without Beam."""
    groups: dict[int, list[str]] = {}
    for i in range(3):
        for k in range(200):
            groups.setdefault((k % 13) % 5, []).append(f"{i}-{k}")
    for k in range(200):
        groups.setdefault(k % 13, []).append(f"0-{k}")
    return sorted((key, sorted(v)) for key, v in groups.items())


def test_bounded_translation_keeps_every_flatten_and_group_within_npartitions_and_groups_the_same(
    stock_translations: Any,
) -> None:
    bound_partitions()
    assert te.TRANSLATIONS[_Flatten] is BoundedFlatten and te.TRANSLATIONS[_GroupByKeyOnly] is BoundedGroupByKey
    assert te.TRANSLATIONS[beam.ParDo] is FreshParDo
    bags, last = _translate(4)
    assert bags["Join"].npartitions == 4 and bags["Join2"].npartitions == 4
    assert all(b.npartitions <= 4 for label, b in bags.items() if label.startswith(("G1", "G2", "Join")))
    got = dask.compute(last, scheduler="processes", num_workers=2)[0]
    assert sorted((k, sorted(v)) for k, v in got) == _expected()


def test_groups_shuffle_into_shuffle_partitions_and_group_the_same(stock_translations: Any) -> None:
    """With fewer shuffle partitions than ``dask_npartitions``, every GroupByKey has that many partitions and
    every group is the same."""
    bound_partitions(shuffle_partitions=2)
    bags, last = _translate(4)
    assert bags["G1/GroupByKey"].npartitions == 2 and bags["G2/GroupByKey"].npartitions == 2
    assert bags["Join"].npartitions == 4
    got = dask.compute(last, scheduler="processes", num_workers=2)[0]
    assert sorted((k, sorted(v)) for k, v in got) == _expected()


def test_spread_gives_small_int_keys_and_tuples_that_differ_last_a_partition_each() -> None:
    """Dask's own hash leaves partitions empty for a few keys; ``spread`` puts n such keys in n partitions."""
    assert sorted(spread(k) % 16 for k in range(16)) == list(range(16))
    for kind in ("content_key", "record_hash", "band"):
        assert sorted(spread((kind, b)) % 16 for b in range(16)) == list(range(16))
    node = (1, 0, "2024-01-01", 0, 3, 17)
    assert spread(node) != spread((1, 0, "2024-01-01", 0, 3, 18))
    assert isinstance(spread(("a", 1.5)), int) and isinstance(spread(None), int)


def test_spread_is_the_same_in_every_process() -> None:
    """Each task computes its elements' partitions itself: a per-process hash would split one group in two."""
    keys = [7, -1, ("band", 3), (1, 0, "x", 2, 3, 4), "a string", ("a", 1.5)]
    code = f"from pipelines.stages.dask_partitions import spread; print([spread(k) for k in {keys!r}])"
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        for env in ({**os.environ, "PYTHONHASHSEED": seed} for seed in ("1", "2"))
    ]
    outs = {r.stdout for r in runs}
    assert outs == {f"{[spread(k) for k in keys]}\n"}


def test_shuffle_partitions_are_the_option_else_twice_the_workers() -> None:
    def opts(**kw: Any) -> PipelineOptions:
        return PipelineOptions.from_dictionary({"runner": "DirectRunner", **kw})

    assert shuffle_partitions(opts(), 3) == 6
    assert shuffle_partitions(opts(dask_shuffle_partitions=5), 3) == 5
    assert shuffle_partitions(opts(), None) is None


def test_stock_runner_hands_one_bundles_outputs_to_the_next_in_one_process(stock_translations: Any) -> None:
    """The bug ``FreshParDo`` fixes: in one process (sync scheduler) every bundle of a ParDo shares a receiver."""
    _, last = _translate(4)
    got = dask.compute(last, scheduler="sync")[0]
    assert sum(len(v) for _, v in got) > sum(len(v) for _, v in _expected())


def test_fresh_bundles_group_the_same_in_one_process(stock_translations: Any) -> None:
    """With ``FreshParDo`` a bundle keeps nothing of the one before: the sync scheduler gives the right groups."""
    bound_partitions()
    _, last = _translate(4)
    got = dask.compute(last, scheduler="sync")[0]
    assert sorted((k, sorted(v)) for k, v in got) == _expected()


class _OneBundleAtATime(beam.DoFn):
    """Fails its output if another bundle touches this DoFn instance while one runs (a shared DoFn would)."""

    def start_bundle(self) -> None:
        self.token = object()

    def process(self, x: Any) -> Any:
        token = self.token
        time.sleep(0.002)  # lets another thread start a bundle meanwhile
        yield x if self.token is token else ("shared with another bundle", x)


def test_bundles_on_dasks_threaded_scheduler_share_no_dofn_and_no_receiver(stock_translations: Any) -> None:
    """Dask's default worker runs tasks on several threads: each bundle needs its own DoFn and receiver."""
    bound_partitions()
    opts = PipelineOptions.from_dictionary(
        {"runner": "apache_beam.runners.dask.dask_runner.DaskRunner", "dask_npartitions": 8}
    )
    p = beam.Pipeline(options=opts)
    _ = (
        p
        | beam.Create(list(range(400)), reshuffle=False)
        | "Bundle" >> beam.ParDo(_OneBundleAtATime())
        | "Plus" >> beam.Map(lambda x: x if isinstance(x, tuple) else x + 1000)
    )
    dask_options = opts.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
    p.replace_all(dask_overrides())
    visitor = DaskRunner.to_dask_bag_visitor(DaskOptions._extract_bag_kwargs(dask_options))
    p.visit(visitor)
    last = list(visitor.bags.values())[-1]
    assert last.npartitions > 1
    got = dask.compute(last, scheduler="threads", num_workers=4)[0]
    assert sorted(got) == [x + 1000 for x in range(400)]
