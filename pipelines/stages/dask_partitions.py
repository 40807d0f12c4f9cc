"""Beam's Dask runner with bounded partitions: no GroupByKey or Flatten yields more than ``dask_npartitions``.

Beam's Dask runner (apache-beam 2.77, ``runners/dask/transform_evaluator.py``)
translates a Flatten into ``dask.bag.concat``, so partition counts add up, and a
GroupByKey into ``Bag.groupby``, whose task-based shuffle keeps at least as many
partitions as it was given and costs about ``k ** (stages + 1)`` split tasks for
``N ≈ k ** stages`` partitions. Our graph starts with one partition per split
and joins PCollections nine times, so a 100 k-record run on 8 splits reached
136 partitions and 86,704 tasks (67,700 of them shuffle splits): the scheduler,
not the workers, set the pace (``docs/benchmarks.md``).

``bound_partitions`` replaces the two translations in the runner's own table:
a Flatten's result, and a GroupByKey's input, are repartitioned down to the
run's ``dask_npartitions`` (``Bag.repartition``, which concatenates
neighbouring partitions and moves no element between keys). Which elements
are grouped together is unchanged (a GroupByKey groups by key whatever the
partitioning), so outputs stay byte-identical (``tests/test_dask.py``).
It only changes how the runner builds its graph, in the driver process;
workers run the same tasks. Idempotent; applied by ``run_beam`` before a
Dask pipeline is built.
"""

from __future__ import annotations

from typing import Any

from apache_beam.runners.dask import transform_evaluator as te
from apache_beam.runners.dask.overrides import _Flatten, _GroupByKeyOnly


def _bounded(bag: Any, limit: int | None) -> Any:
    return bag.repartition(npartitions=limit) if limit and bag.npartitions > limit else bag


class BoundedFlatten(te.Flatten):
    """Flatten as Beam's Dask runner does it, then at most ``npartitions`` partitions."""

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        return _bounded(super().apply(input_bag, side_inputs), self.bag_kwargs.get("npartitions"))


class BoundedGroupByKey(te.GroupByKey):
    """GroupByKey as Beam's Dask runner does it, over at most ``npartitions`` partitions."""

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        return super().apply(_bounded(input_bag, self.bag_kwargs.get("npartitions")), side_inputs)


def bound_partitions() -> None:
    """bound_partitions installs the bounded translations in Beam's Dask runner (this process only)."""
    te.TRANSLATIONS[_Flatten] = BoundedFlatten
    te.TRANSLATIONS[_GroupByKeyOnly] = BoundedGroupByKey
