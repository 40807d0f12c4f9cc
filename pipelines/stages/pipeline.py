"""The Beam pipeline of one ingest run: read, sketch, anonymise, validate, dedup, write.

``CurateContributions`` only wires the stage transforms, each with its own
stage config. Read, sketch, anonymise, validate, spill and the packing of
dedup nodes run as one ParDo (``pipelines.stages.chain``), so neither whole
records nor their nodes ever form a PCollection: a worker holds one batch of
each split it is reading, and only references to packed nodes, counts and
quarantine rows move on. ``run_beam`` builds pipeline options (DirectRunner on all
cores by default, or any runner and options from the declaration or the
command line) and runs it to completion. Every record-level decision is
made here, and every output file (shards, duplicates, quarantine, dedup
state, the run manifest) is written here by workers, through Beam's
FileSystems. The driver only plans before and commits after.

Shape rules that keep the graph portable (Dask's runner included): one root
per input kind (``Create``), stage outputs tagged inside elements rather
than as Beam tagged outputs, no side inputs, and a single final step (the run
manifest) that depends on everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.core.config import Datanet
from pipelines.core.layouts import fields_type
from pipelines.core.splits import Split
from pipelines.stages.anonymise import AnonymisePII
from pipelines.stages.chain import RunChained
from pipelines.stages.dedup.transforms import DropDuplicates, SketchRecords
from pipelines.stages.read import ReadContributions, select
from pipelines.stages.spill import SpillRecords, dedup_folder
from pipelines.stages.validate import ValidateRecords
from pipelines.stages.write import WriteSpec, WriteSplits

RUNNER_ALIASES = {"DaskRunner": "apache_beam.runners.dask.dask_runner.DaskRunner"}


@dataclass(frozen=True)
class RunInputs:
    """What one pipeline run reads: its splits, earlier runs' dedup sources, where secrets and outputs are."""

    splits: list[Split]
    prior_sources: list[tuple[str, str]]
    salt_path: str
    write: WriteSpec
    base: int
    manifest_path: str
    progress_dir: str = ""  # where workers drop progress ticks (pipelines.core.progress); "" for none


def _split_key(tag: str) -> Any:
    return beam.Map(lambda v, tag=tag: (v["split"], (tag, v)))


def _lists_by_split(tag: str) -> Any:
    """A batch of rows (each with ``split``) as one ``(split, (tag, rows))`` per split it touches."""

    def by_split(batch: list[dict[str, Any]]) -> list[tuple[int, tuple[str, list[dict[str, Any]]]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for row in batch:
            out.setdefault(row["split"], []).append(row)
        return [(split, (tag, rows)) for split, rows in sorted(out.items())]

    return beam.FlatMap(by_split)


class CurateContributions(beam.PTransform):
    """CurateContributions runs every stage over a run's splits and writes its outputs; yields the manifest path."""

    def __init__(self, dn: Datanet, inputs: RunInputs) -> None:
        super().__init__()
        self.dn, self.inputs = dn, inputs

    def expand(self, p: beam.pvalue.PBegin) -> beam.PCollection:
        cfg, schema, ins = self.dn.config, self.dn.schema, self.inputs
        names = [f.name for f in schema.fields]
        splits = p | "Splits" >> beam.Create(ins.splits)
        sources = p | "PriorSources" >> beam.Create([("none", ""), *ins.prior_sources])
        dedup = DropDuplicates(
            schema.text_fields,
            cfg.dedup,
            ins.salt_path,
            dedup_folder(ins.write.spill_dir),
            ins.progress_dir,
            packed=True,
        )
        curated = splits | "CurateSplits" >> RunChained(
            [
                (None, ReadContributions(schema, cfg.validation, cfg.runner.batch_size, ins.progress_dir).fn()),
                ("records", SketchRecords(schema.text_fields, cfg.dedup, ins.salt_path).fn()),
                (
                    None,
                    AnonymisePII(
                        cfg.pii, schema.scrub_fields, ins.salt_path, ins.progress_dir, tuple(schema.code_fields)
                    ).fn(),
                ),
                (None, ValidateRecords(cfg.validation.expectations, names).fn()),
                ("valid", SpillRecords(fields_type(schema), ins.write.spill_dir, ins.progress_dir).fn()),
                ("nodes", dedup.pack_fn()),
            ]
        )
        packed = curated | "Packed" >> beam.Filter(lambda tv: tv[0] in ("group", "nodes"))
        decisions = (packed, sources) | "DropDuplicates" >> dedup
        tagged = (
            curated | "ValidCounts" >> select("valid") | "ValidKey" >> beam.Map(lambda sn: (sn[0], ("valid", sn[1]))),
            decisions | "DupKey" >> beam.Map(lambda sd: (sd[0], ("dups", sd[1]))),
            curated | "Rejects" >> select("quarantine") | "RejKey" >> _lists_by_split("rejs"),
            curated | "Tallies" >> select("tally") | "TallyKey" >> _split_key("tally"),
        ) | "BySplit" >> beam.Flatten()
        return tagged | "WriteSplits" >> WriteSplits(ins.write, ins.base, ins.manifest_path)


def runner_name(dn: Datanet, overrides: dict[str, Any] | None) -> str:
    """runner_name is the effective runner (declaration, then command line), aliases resolved."""
    name = str((overrides or {}).get("runner") or dn.config.runner.runner)
    return RUNNER_ALIASES.get(name, name)


def pipeline_options(dn: Datanet, overrides: dict[str, Any] | None = None, n_splits: int = 1) -> PipelineOptions:
    """pipeline_options merges defaults, the declaration's runner options and CLI overrides.

    The DirectRunner defaults to one in-process worker: its multi-worker
    modes lost records at 400 k input lines (``docs/benchmarks.md``, "Scale";
    ``python -m benchmarks.scale`` reproduces it), while one worker lost
    none. On Dask, ``dask_npartitions`` defaults to the number of splits, so
    each split is its own partition and the work spreads over every worker.
    """
    runner = runner_name(dn, overrides)
    opts: dict[str, Any] = {"runner": runner}
    if runner == "DirectRunner":
        opts.update(direct_num_workers=1, direct_running_mode="in_memory", default_sdk_harness_log_level="WARNING")
    if runner.endswith("DaskRunner"):
        opts["dask_npartitions"] = max(1, n_splits)
    opts.update(dn.config.runner.options)
    opts.update({k: v for k, v in (overrides or {}).items() if k != "runner"})
    opts["runner"] = runner
    return PipelineOptions.from_dictionary(opts)


def run_beam(dn: Datanet, inputs: RunInputs, overrides: dict[str, Any] | None = None) -> None:
    """run_beam runs the curation pipeline to completion; raises if the runner reports a failure."""
    options = pipeline_options(dn, overrides, len(inputs.splits))
    if runner_name(dn, overrides).endswith("DaskRunner"):
        from pipelines.stages.dask_partitions import bound_partitions, cluster_workers, shuffle_partitions

        bound_partitions(shuffle_partitions(options, cluster_workers(options)))
    p = beam.Pipeline(options=options)
    _ = p | "Curate" >> CurateContributions(dn, inputs)
    result = p.run()
    try:
        result.wait_until_finish()
    finally:
        client = getattr(result, "client", None)
        if client is not None:
            client.close()
    state = str(getattr(result, "state", "DONE"))
    if "DONE" not in state:
        raise RuntimeError(f"the Beam runner finished in state {state}")
