"""The DaskRunner on a real dask.distributed cluster (scheduler + 2 workers on 127.0.0.1) against the DirectRunner.

Byte-identical shards, duplicates, quarantine, dedup state and ledger, for an
example Datanet and for a Datanet that grows over two runs; the work is
really spread over both workers (the scheduler's task stream names the worker
that ran each DoFn bundle). Which worker writes which split is the scheduler's
choice, so no test pins it. Slow: it starts real processes; CI runs it.
"""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, get_task_stream

from pipelines.core.config import Datanet, load_datanet
from pipelines.driver.run import ingest
from pipelines.ops.cluster import local_cluster

from .conftest import REPO, make_project, tiny_records

KEEP = (".parquet", ".jsonl", ".idx", ".hashes")


def _quiet(msg: str) -> None:
    pass


def _digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and (p.suffix in KEEP or p.name == "STATE") and "keys" not in p.parts
    }


def _redirect(dn: Datanet, out: Path, keys: Path) -> Datanet:
    cfg = dn.config.model_copy(
        update={
            "output": dn.config.output.model_copy(update={"dir": str(out)}),
            "ledger": dn.config.ledger.model_copy(update={"key": str(keys / f"{dn.name}.key")}),
        }
    )
    return Datanet(cfg, dn.schema, dn.root, dn.path)


def _bundles_per_worker(tasks: list[dict[str, Any]]) -> collections.Counter[str]:
    """How many tasks running a step of the pipeline each worker ran (``pipelines.stages.dask_partitions`` names
    a ParDo's tasks by its Beam step, ``Curate/…``; a fused task's name holds each of its steps' names)."""
    names = (t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in tasks)
    workers = (t["worker"] for t in tasks)
    return collections.Counter(w for n, w in zip(names, workers, strict=True) if "Curate/" in n)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with local_cluster(2, tmp_path_factory.mktemp("dask")) as address:
        yield address


@pytest.mark.slow
def test_example_on_dask_is_byte_identical_to_the_direct_runner(cluster: str, tmp_path: Path) -> None:
    dn = load_datanet("clinical-notes", root=REPO)
    keys = tmp_path / "keys"
    direct = _redirect(dn, tmp_path / "direct", keys)
    on_dask = _redirect(dn, tmp_path / "dask", keys)
    a = ingest(direct, progress=_quiet)
    with Client(cluster) as client, get_task_stream(client) as stream:
        b = ingest(on_dask, overrides={"runner": "DaskRunner", "dask_client_address": cluster}, progress=_quiet)
    assert b["ledger"]["root"] == a["ledger"]["root"]
    assert (b["read"], b["accepted"], b["duplicates"], b["quarantined"]) == (
        a["read"],
        a["accepted"],
        a["duplicates"],
        a["quarantined"],
    )
    assert _digests(tmp_path / "dask") == _digests(tmp_path / "direct")
    bundles = _bundles_per_worker(stream.data)
    assert len(bundles) == 2, f"the work was not spread over both workers: {dict(bundles)}"
    assert min(bundles.values()) >= 0.05 * sum(bundles.values()), f"one worker idled: {dict(bundles)}"


@pytest.mark.slow
def test_incremental_runs_on_dask_match_the_direct_runner(cluster: str, tmp_path: Path) -> None:
    roots = {}
    for mode in ("direct", "dask"):
        root = make_project(tmp_path / mode)
        if mode == "dask":
            shutil.copytree(tmp_path / "direct" / "out" / "keys", root / "out" / "keys")
        overrides = {"runner": "DaskRunner", "dask_client_address": cluster} if mode == "dask" else None
        dn = load_datanet("tiny", root=root)
        first = ingest(dn, overrides=overrides, progress=_quiet)
        fresh = {"contributor_id": "c9", "text": "A completely new note about eczema treated with emollients daily."}
        copy = {**tiny_records()[4], "contributor_id": "c7"}
        (root / "data" / "b.jsonl").write_text(json.dumps(fresh) + "\n" + json.dumps(copy) + "\n")
        second = ingest(dn, overrides=overrides, progress=_quiet)
        assert (first["accepted"], second["read"], second["accepted"], second["duplicates"]["total"]) == (10, 2, 1, 1)
        roots[mode] = (second["ledger"]["root"], _digests(root / "out" / "tiny"))
    assert roots["dask"] == roots["direct"]


@pytest.mark.slow
def test_cluster_housekeeping_runs_seldom(cluster: str) -> None:
    """``pipelines.ops.cluster`` starts the scheduler and workers with Dask's housekeeping slowed down (event loop
    checks, system monitor, memory checks) and the statistical profiler off: at Dask's defaults an idle
    2-worker cluster took 12.6 % of a core from the workers."""
    import dask
    from dask.utils import parse_timedelta

    def settings() -> tuple[float, float, float, bool]:
        get = dask.config.get
        return (
            parse_timedelta(get("distributed.admin.tick.interval")),
            parse_timedelta(get("distributed.admin.system-monitor.interval")),
            parse_timedelta(get("distributed.worker.memory.monitor-interval")),
            bool(get("distributed.worker.profile.enabled")),
        )

    with Client(cluster) as client:
        workers = client.run(settings)
        scheduler = client.run_on_scheduler(settings)
    assert len(workers) == 2
    for tick, monitor, memory, profiling in [*workers.values(), scheduler]:
        assert (tick, monitor, memory, profiling) == (0.5, 2.0, 0.5, False)


@pytest.mark.slow
def test_shuffles_are_sized_to_the_cluster(cluster: str) -> None:
    """Each GroupByKey shuffles into twice as many partitions as the cluster has workers, unless set."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.stages.dask_partitions import cluster_workers, shuffle_partitions

    on = PipelineOptions.from_dictionary({"dask_client_address": cluster})
    assert cluster_workers(on) == 2 and shuffle_partitions(on, cluster_workers(on)) == 4
    assert cluster_workers(PipelineOptions.from_dictionary({})) is None
