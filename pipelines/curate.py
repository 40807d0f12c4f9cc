"""The Beam pipeline of one ingest run: read, dedup, anonymise, validate, stage.

``CurateContributions`` only wires the stage transforms; ``run_beam`` builds
pipeline options (DirectRunner on all cores by default, or any runner and
options from the declaration or the command line) and runs it to
completion. Outputs go to the run's private staging folder; the commit
step (``pipelines.commit``) publishes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.anonymise import AnonymisePII
from pipelines.config import Datanet
from pipelines.dedup.clusters import Prior
from pipelines.dedup.transforms import DropDuplicates
from pipelines.ingest import FileSpec, ReadContributions
from pipelines.validate import ValidateRecords
from pipelines.write import StageBatches


class CurateContributions(beam.PTransform):
    """CurateContributions runs every stage over FileSpecs and stages the results.

    Staged kinds: ``accepted`` (anonymised, valid records), ``duplicates``,
    ``quarantine`` (ingest and validation rejections) and ``tally`` (per-unit counts).
    """

    def __init__(self, datanet: Datanet, prior: Prior, salt: bytes, staging: Path) -> None:
        super().__init__()
        self.datanet, self.prior, self.salt, self.staging = datanet, prior, salt, staging

    def expand(self, specs: beam.PCollection) -> None:
        dn, staging = self.datanet, self.staging
        read = specs | "ReadContributions" >> ReadContributions(dn)
        dedup = read.records | "DropDuplicates" >> DropDuplicates(dn, self.prior)
        clean = dedup.kept | "AnonymisePII" >> AnonymisePII(dn, self.salt)
        checked = clean | "ValidateRecords" >> ValidateRecords(dn)
        quarantine = (read.quarantine, checked.quarantine) | "AllQuarantine" >> beam.Flatten()
        _ = checked.valid | "StageAccepted" >> StageBatches(dn, staging, "accepted")
        _ = dedup.duplicates | "StageDuplicates" >> StageBatches(dn, staging, "duplicates")
        _ = quarantine | "StageQuarantine" >> StageBatches(dn, staging, "quarantine")
        _ = read.tally | "StageTally" >> StageBatches(dn, staging, "tally")


def pipeline_options(dn: Datanet, overrides: dict[str, Any] | None = None) -> PipelineOptions:
    """pipeline_options merges defaults, the declaration's runner options and CLI overrides."""
    opts: dict[str, Any] = {"runner": dn.config.runner.runner}
    if opts["runner"] == "DirectRunner":
        opts.update(
            direct_num_workers=0, direct_running_mode="multi_processing", default_sdk_harness_log_level="WARNING"
        )
    opts.update(dn.config.runner.options)
    opts.update(overrides or {})
    return PipelineOptions.from_dictionary(opts)


def run_beam(
    dn: Datanet,
    specs: list[FileSpec],
    prior: Prior,
    salt: bytes,
    staging: Path,
    overrides: dict[str, Any] | None = None,
) -> None:
    """run_beam runs the curation pipeline to completion (raises if the runner fails)."""
    with beam.Pipeline(options=pipeline_options(dn, overrides)) as p:
        _ = (
            p
            | "Inputs" >> beam.Create(specs, reshuffle=True)
            | "Curate" >> CurateContributions(dn, prior, salt, staging)
        )
