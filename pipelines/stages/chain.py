"""Several stages' DoFns run as one ParDo, one batch at a time: what one stage yields goes straight into the next.

``RunChained`` is how a split goes from its input file to its spill file in
one step (read → sketch → anonymise → validate → spill → pack the dedup
nodes). Whole records then never form a PCollection: each batch is read,
sketched, scrubbed, checked and written before the next batch is read, and
only small things leave the step (references to packed nodes, counts,
tallies, quarantine rows). A worker therefore holds one
batch per running split whatever the runner does between steps. On Beam's Dask
runner it does a lot: every ParDo there turns its whole partition into a list
before the next one starts, a PCollection read by several steps stays in the
worker until the last of them ran, and the scheduler may read several splits
ahead of their later steps (``docs/benchmarks.md``, "Scale, issue 20, part 5":
1 M records, the same input, 1.1–2.3 GB for the largest worker).

A link is ``(takes, fn)``: ``fn`` gets the values the previous link yielded
under tag ``takes`` (``None``: everything it yielded, untagged); everything
else the previous link yielded leaves the chain as it is, and so does
everything the last link yields. Outputs are the same elements the stages
would yield one ParDo each, in the same order per split. Each DoFn keeps its
own ``setup`` and ``teardown``; the chained DoFns may not use
``start_bundle``, ``finish_bundle`` or DoFn parameters (none of ours does;
``RunChained`` refuses one that overrides the bundle methods).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam

Link = tuple[str | None, beam.DoFn]


class _Chained(beam.DoFn):
    def __init__(self, links: Sequence[Link]) -> None:
        self.links = list(links)

    def setup(self) -> None:
        for _, fn in self.links:
            fn.setup()

    def teardown(self) -> None:
        for _, fn in self.links:
            fn.teardown()

    def process(self, element: Any) -> Iterator[Any]:
        return self._through(0, element)

    def _through(self, k: int, element: Any) -> Iterator[Any]:
        outputs = self.links[k][1].process(element)
        if outputs is None:
            return
        if k + 1 == len(self.links):
            yield from outputs
            return
        takes = self.links[k + 1][0]
        for out in outputs:
            if takes is None:
                yield from self._through(k + 1, out)
            elif out[0] == takes:
                yield from self._through(k + 1, out[1])
            else:
                yield out


class RunChained(beam.PTransform):
    """RunChained applies ``links`` (see the module docstring) as one ParDo."""

    def __init__(self, links: Sequence[Link]) -> None:
        super().__init__()
        if not links or links[0][0] is not None:
            raise ValueError("a chain needs at least one link, and its first link takes the input itself")
        for _, fn in links:
            for method in ("start_bundle", "finish_bundle"):
                if getattr(type(fn), method) is not getattr(beam.DoFn, method):
                    raise ValueError(f"{type(fn).__name__} overrides {method}; it cannot be chained")
        self.links = list(links)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | "Chained" >> beam.ParDo(_Chained(self.links))
