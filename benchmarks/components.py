"""Connected components alone (``pipelines.stages.dedup.components``) on a dedup-like candidate graph.

    python -m benchmarks.components [--edges 200000] [--address 127.0.0.1:8786] [--npartitions 144]

The graph comes in 48 lists of edges, as the 48 coarse dedup groups give
them: mostly pairs, some small clusters, a few chains. It is generated
inside the pipeline (each list from its seed), so the runner moves what it
would move in a run. Without ``--address`` the DirectRunner runs it; with
one, a running dask.distributed cluster (``make cluster``), through
``pipelines.stages.dask_partitions`` as an ingest would. The result is
compared with the one-process union-find (``graph.components``); a run that
differs exits 1. Prints one JSON line: edges, nodes, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GROUPS = 48


def group_edges(i: int, edges: int) -> list[tuple[Any, Any]]:
    """The edges of coarse group ``i`` (deterministic)."""
    rng = random.Random(i)
    n = 2 * edges

    def key(j: int) -> tuple[int, int, str, int, int, int]:
        return (1, 0, "~", 0, j % 97, j)

    out: list[tuple[Any, Any]] = []
    while len(out) < edges // GROUPS:
        r, a = rng.random(), rng.randrange(n)
        if r < 0.8:
            out.append((key(a), key(rng.randrange(n))))
        elif r < 0.95:
            out += [(key(a), key(rng.randrange(n))) for _ in range(rng.randrange(2, 8))]
        else:
            for _ in range(rng.randrange(2, 30)):
                b = rng.randrange(n)
                out.append((key(a), key(b)))
                a = b
    return out


def _write(item: tuple[int, Any], folder: str) -> None:
    Path(folder, f"roots-{item[0]:02d}.json").write_text(json.dumps(sorted(item[1])))


def run(edges: int, address: str, npartitions: int) -> dict[str, Any]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.stages.dedup.components import ConnectComponents
    from pipelines.stages.dedup.graph import components

    opts: dict[str, Any] = {"runner": "DirectRunner", "direct_num_workers": 1, "direct_running_mode": "in_memory"}
    if address:
        from pipelines.stages.dask_partitions import bound_partitions

        bound_partitions()
        opts = {
            "runner": "apache_beam.runners.dask.dask_runner.DaskRunner",
            "dask_client_address": address,
            "dask_npartitions": npartitions,
        }
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        with beam.Pipeline(options=PipelineOptions.from_dictionary(opts)) as p:
            _ = (
                p
                | beam.Create(list(range(GROUPS)), reshuffle=False)
                | "Generate" >> beam.Map(group_edges, edges)
                | ConnectComponents()
                | "Spread" >> beam.Map(lambda nr: (nr[0][5] % 16, nr))
                | "ByPart" >> beam.GroupByKey()
                | "Write" >> beam.Map(_write, folder)
            )
        wall = time.perf_counter() - t
        got = {tuple(n): tuple(r) for f in Path(folder).glob("roots-*.json") for n, r in json.loads(f.read_text())}
    graph = [e for i in range(GROUPS) for e in group_edges(i, edges)]
    want = components([(a, b) for a, b in graph if a != b])
    return {
        "edges": len(graph),
        "nodes": len(want),
        "runner": "DaskRunner" if address else "DirectRunner",
        "wall_s": round(wall, 1),
        "equal": got == want,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", type=int, default=200_000)
    ap.add_argument("--address", default="", help="a dask.distributed scheduler (host:port); default: DirectRunner")
    ap.add_argument("--npartitions", type=int, default=144, help="dask_npartitions (an ingest uses its split count)")
    args = ap.parse_args()
    result = run(args.edges, args.address, args.npartitions)
    print(json.dumps(result))
    sys.exit(0 if result["equal"] else 1)


if __name__ == "__main__":
    main()
