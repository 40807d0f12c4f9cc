"""Beam's Dask runner with bounded partitions: Flatten within ``dask_npartitions``, GroupByKey ``shuffle_partitions``.

Beam's Dask runner (apache-beam 2.77, ``runners/dask/transform_evaluator.py``)
translates a Flatten into ``dask.bag.concat``, so partition counts add up, and a
GroupByKey into ``Bag.groupby``, whose task-based shuffle keeps at least as many
partitions as it was given and costs about ``k ** (stages + 1)`` split tasks for
``N ≈ k ** stages`` partitions. Our graph starts with one partition per split
and joins PCollections nine times, so a 100 k-record run on 8 splits reached
136 partitions and 86,704 tasks (67,700 of them shuffle splits): the scheduler,
not the workers, set the pace (``docs/benchmarks.md``).

``bound_partitions`` replaces the two translations in the runner's own table:
a Flatten's result is repartitioned down to the run's ``dask_npartitions``
(``Bag.repartition``, which concatenates neighbouring partitions and moves
no element between keys), and a GroupByKey's input down to
``shuffle_partitions`` (twice the cluster's workers unless
``dask_shuffle_partitions`` says otherwise: after the read every shuffle
carries references, counts and decisions, not records), shuffled with keys
spread evenly (``spread``). Which elements are grouped together is
unchanged (a GroupByKey groups by key whatever the partitioning), so
outputs stay byte-identical (``tests/test_dask.py``). Idempotent; applied
by ``run_beam`` before a Dask pipeline is built.

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

import zlib
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask import transform_evaluator as te
from apache_beam.runners.dask.overrides import _Flatten, _GroupByKeyOnly
from dask.bag.core import groupby_tasks
from dask.base import tokenize


def _bounded(bag: Any, limit: int | None) -> Any:
    return bag.repartition(npartitions=limit) if limit and bag.npartitions > limit else bag


class BoundedFlatten(te.Flatten):
    """Flatten as Beam's Dask runner does it, then at most ``npartitions`` partitions."""

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        return _bounded(super().apply(input_bag, side_inputs), self.bag_kwargs.get("npartitions"))


class ShuffleOptions(PipelineOptions):
    """The one pipeline option this module adds: ``dask_shuffle_partitions``."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--dask_shuffle_partitions",
            type=int,
            default=None,
            help="partitions of each GroupByKey on Dask (default: twice the cluster's workers, at most "
            "dask_npartitions)",
        )


def shuffle_partitions(options: PipelineOptions, workers: int | None) -> int | None:
    """shuffle_partitions is how many partitions each GroupByKey shuffles into: ``dask_shuffle_partitions`` if
    set, else twice the cluster's ``workers`` (None: unknown, so ``dask_npartitions``)."""
    given = options.view_as(ShuffleOptions).dask_shuffle_partitions
    if given:
        return int(given)
    return 2 * workers if workers else None


def cluster_workers(options: PipelineOptions) -> int | None:
    """cluster_workers is how many workers the Dask cluster the options name (``dask_client_address`` or
    ``dask_scheduler_file``) has now; None when they name none (the runner then starts a local cluster)."""
    from apache_beam.runners.dask.dask_runner import DaskOptions

    dask = options.view_as(DaskOptions)
    if not (dask.address or dask.scheduler_file):
        return None
    from distributed import Client

    with Client(address=dask.address, scheduler_file=dask.scheduler_file, timeout=30) as client:
        return len(client.scheduler_info(n_workers=-1)["workers"]) or None


_PRIME = 1_000_003


def spread(key: Any) -> int:
    """spread is the integer a GroupByKey's shuffle sends ``key`` by (partition: ``spread(key) % partitions``).

    The same in every process. An int key is itself, so keys 0..n-1 (split
    indices, node buckets) fill n partitions one each; a tuple of ints and
    strings folds its parts (a string by CRC-32), last part last, so keys
    that differ in their last int (``("band", 0)``, ``("band", 1)``…) land
    in neighbouring partitions. Anything else is hashed as Dask hashes it
    (``tokenize``). Dask's default hashes every key, which leaves some
    partitions empty and others with two or three of a few large groups.
    """
    if type(key) is int:
        return key
    if type(key) is tuple and all(type(k) in (int, str) for k in key):
        h = 0
        for k in key:
            h = h * _PRIME + (k if type(k) is int else zlib.crc32(k.encode("utf-8")))
        return h
    return int(tokenize(key), 16)


def _key(item: Any) -> Any:
    return item[0]


def _value(item: Any) -> tuple[Any, list[Any]]:
    """A group as Beam's Dask runner gives it: the key, then its values out of their windowed wrappers."""
    k, items = item
    return k, [te.defenestrate(v[1]) for v in items]


class BoundedGroupByKey(te.GroupByKey):
    """GroupByKey as Beam's Dask runner does it (a task-based shuffle), over at most ``shuffle_partitions``
    partitions (default ``npartitions``), keys spread evenly (``spread``).

    Grouping is by key whatever the partitioning, so what each group holds
    is unchanged; only which task holds it changes.
    """

    shuffle_partitions: int | None = None

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        limit = self.shuffle_partitions or self.bag_kwargs.get("npartitions")
        return groupby_tasks(_bounded(input_bag, limit), _key, hash=spread).map(_value)


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


def bound_partitions(shuffle_partitions: int | None = None) -> None:
    """bound_partitions installs the bounded translations in Beam's Dask runner (this process only).

    ``shuffle_partitions``: how many partitions each GroupByKey shuffles
    into (None: ``dask_npartitions``).
    """
    BoundedGroupByKey.shuffle_partitions = shuffle_partitions
    te.TRANSLATIONS[_Flatten] = BoundedFlatten
    te.TRANSLATIONS[_GroupByKeyOnly] = BoundedGroupByKey
    te.TRANSLATIONS[beam.ParDo] = FreshParDo
