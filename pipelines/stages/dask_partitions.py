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

``FreshParDo`` replaces the ParDo translation so each bundle runs through
``run_bundle`` with a DoFn, receiver and context of its own: the runner
gives every bundle of a ParDo one shared ``OneReceiver`` (and DoFn) and
never empties it. In one process (Dask's sync or
threaded scheduler) a bundle therefore returned every earlier bundle's
outputs too (``tests/pipelines/test_dask_partitions.py`` shows it), and on
a dask.distributed worker each finished task kept a second list of its
outputs: at 300 k records on one worker the largest worker peaked at
2,146 MB, and at 760 MB once each bundle empties its receiver.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
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


def run_bundle(items: Any, fn: bytes, window_fn: Any, label: str, args: Any, kwargs: Any, sides: Any) -> list[Any]:
    """Beam's ``apply_dofn_to_bundle``, sharing nothing with any other bundle.

    The runner builds one DoFn, one ``OneReceiver`` and one invoker context
    per ParDo and hands them to every bundle, and never empties the
    receiver: a receiver that outlives its bundle holds every output it ever
    received and hands them to the next bundle too, and under a threaded
    scheduler (a dask.distributed worker with ``--nthreads`` > 1, Dask's
    default) two bundles running at once would write into one receiver and
    one DoFn. Here each bundle unpickles its own DoFn (``fn``, pickled once
    by Beam's pickler) and builds its own receiver, output handler and
    context; ``finish_bundle`` runs before the outputs are taken.
    """
    from apache_beam.internal import pickler
    from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
    from apache_beam.transforms.core import DoFn

    receivers = te.OneReceiver()
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(pickler.loads(fn)),
        handler,
        context=DoFnContext(label, state=None),
        side_inputs=sides,
        input_args=list(args),  # a list of its own per bundle
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return [v.value for v in receivers.values]


class FreshParDo(te.ParDo):
    """ParDo as Beam's Dask runner does it (apache-beam 2.77), each bundle run by ``run_bundle``."""

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        from apache_beam.internal import pickler

        args, kwargs = self.transform.raw_side_inputs
        main_input = next(iter(self.applied.main_inputs.values()))
        window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
        fn = pickler.dumps(self.transform.fn)
        return input_bag.map(te.get_windowed_value, window_fn).map_partitions(
            run_bundle, fn, window_fn, self.transform.label, args, kwargs, side_inputs, token=_task_name(self.applied)
        )


def _task_name(applied: Any) -> str:
    """A ParDo's tasks are named by its Beam step (``Curate/DropDuplicates/Edges``), not ``run_bundle``, so the
    Dask dashboard and task stream say which step runs (``{name}-{hash}``; a fused chain joins the names)."""
    return str(getattr(applied, "full_label", "") or "run_bundle").replace("-", "_")


def bound_partitions() -> None:
    """bound_partitions installs the bounded translations in Beam's Dask runner (this process only)."""
    te.TRANSLATIONS[_Flatten] = BoundedFlatten
    te.TRANSLATIONS[_GroupByKeyOnly] = BoundedGroupByKey
    te.TRANSLATIONS[beam.ParDo] = FreshParDo
