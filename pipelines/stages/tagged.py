"""Stages chained on one tagged stream, so a runner that does not fuse (Beam's Dask runner) holds one list at a time.

Every stage emits ``(tag, value)`` elements (``pipelines.stages.read.select``
picks one tag). Chained as ``read | sketch | anonymise | validate | spill |
pack``, each stage wrapped in ``OnTag`` works on the values of one tag and
passes every other element through unchanged, so the chain is linear: no
PCollection between two stages has a second consumer. The DirectRunner fuses
such a chain anyway; Beam's Dask runner translates each ParDo into a step
over whole partitions, and Dask fuses a linear chain of them into one task
per partition that drops each step's list once the next has read it. With a
``select`` per stage, each list had several consumers and stayed in worker
memory until the last of them ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam


class OnTag(beam.DoFn):
    """OnTag applies ``inner`` (a DoFn) to the values tagged ``tag``; other elements pass through unchanged.

    With ``out_tag``, each output of ``inner`` is tagged ``out_tag``; without,
    ``inner`` yields ``(tag, value)`` elements itself. ``inner``'s ``setup``,
    ``start_bundle``, ``finish_bundle`` and ``teardown`` run with this DoFn's;
    ``inner.process`` takes the value alone (no side inputs, no DoFn params),
    and ``inner.finish_bundle`` must emit nothing.
    """

    def __init__(self, inner: beam.DoFn, tag: str, out_tag: str | None = None) -> None:
        self.inner, self.tag, self.out_tag = inner, tag, out_tag

    def setup(self) -> None:
        self.inner.setup()

    def start_bundle(self) -> None:
        self.inner.start_bundle()

    def process(self, element: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
        tag, value = element
        if tag != self.tag:
            yield element
            return
        for out in self.inner.process(value) or ():
            yield (self.out_tag, out) if self.out_tag else out

    def finish_bundle(self) -> None:
        if self.inner.finish_bundle() is not None:
            raise RuntimeError(f"{type(self.inner).__name__}.finish_bundle emitted output inside OnTag")

    def teardown(self) -> None:
        self.inner.teardown()


def on_tag(dofn: beam.DoFn, tag: str | None, out_tag: str | None = None) -> beam.DoFn:
    """on_tag is ``dofn`` itself (untagged input) or ``OnTag(dofn, tag, out_tag)``."""
    return OnTag(dofn, tag, out_tag) if tag else dofn
