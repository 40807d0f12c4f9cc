"""Beam wrapper for dedup: ``DropDuplicates`` (exact and near, against this and earlier runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.config import Datanet, DedupConfig
from pipelines.dedup.clusters import Decision, Prior, Summary, decide, duplicate_row
from pipelines.dedup.minhash import signatures
from pipelines.records import Record, content_key, dedup_text, order_key


def sketch_batch(batch: list[Record], text_fields: list[str], cfg: DedupConfig) -> list[Record]:
    """sketch_batch adds ``content_key`` and ``minhash`` (uint32 bytes) to each record."""
    texts = [dedup_text(r, text_fields, cfg.normalise) for r in batch]
    sigs = signatures(texts, cfg.near)
    return [
        {**r, "content_key": content_key(t), "minhash": sigs[i].tobytes()}
        for i, (r, t) in enumerate(zip(batch, texts, strict=True))
    ]


def summarise(batch: list[Record]) -> Summary:
    """summarise keeps only what the decision needs of a batch."""
    return Summary(
        [r["id"] for r in batch],
        [order_key(r) for r in batch],
        [r["content_key"] for r in batch],
        [np.frombuffer(r["minhash"], dtype=np.uint32) for r in batch],
    )


def merge_and_decide(parts: list[Summary], prior: Prior, cfg: DedupConfig) -> dict[str, Decision]:
    """merge_and_decide joins per-batch summaries and runs the global decision."""
    whole = Summary()
    for p in parts:
        whole.ids += p.ids
        whole.order += p.order
        whole.keys += p.keys
        whole.sigs += p.sigs
    return decide(whole, prior, cfg)


class _Split(beam.DoFn):
    def process(self, batch: list[Record], decisions: dict[str, Decision]) -> Iterator[Any]:
        kept = [r for r in batch if r["id"] not in decisions]
        dups = [duplicate_row(r, decisions[r["id"]]) for r in batch if r["id"] in decisions]
        if kept:
            yield kept
        if dups:
            yield beam.pvalue.TaggedOutput("duplicates", dups)


class DropDuplicates(beam.PTransform):
    """DropDuplicates removes exact and near duplicates from batches of records.

    Input: batches of records. Outputs: ``kept`` (batches of records, each
    with ``content_key`` and ``minhash``) and ``duplicates`` (batches of
    duplicate rows naming what each duplicates). The decision is global
    over the run plus ``prior`` (earlier runs), hence deterministic.
    """

    def __init__(self, datanet: Datanet, prior: Prior) -> None:
        super().__init__()
        self.datanet, self.prior = datanet, prior

    def expand(self, batches: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        cfg, fields, prior = self.datanet.config.dedup, self.datanet.schema.text_fields, self.prior
        sketched = batches | "Sketch" >> beam.Map(sketch_batch, fields, cfg)
        decisions = (
            sketched
            | "Summarise" >> beam.Map(summarise)
            | "Gather" >> beam.combiners.ToList()
            | "Decide" >> beam.Map(merge_and_decide, prior, cfg)
        )
        return sketched | "Split" >> beam.ParDo(_Split(), decisions=beam.pvalue.AsSingleton(decisions)).with_outputs(
            "duplicates", main="kept"
        )
