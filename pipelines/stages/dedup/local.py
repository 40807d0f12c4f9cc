"""The dedup decision in one process: the same steps as ``DropDuplicates``, without a runner.

For benchmarks, tests and tools that hold a small collection in memory.
``DropDuplicates`` and ``drop_duplicates_local`` must agree on every input
(``tests/pipelines/test_transforms.py`` checks it on a TestPipeline).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from pipelines.core.config import DedupConfig
from pipelines.stages.dedup.clusters import decide_cluster, duplicate_row
from pipelines.stages.dedup.graph import bucket_pairs, route, star
from pipelines.stages.dedup.minhash import band_keys, near_bands

Record = dict[str, Any]


def drop_duplicates_local(
    records: list[Record], prior: list[Record], cfg: DedupConfig
) -> tuple[list[Record], list[dict[str, Any]]]:
    """drop_duplicates_local returns (kept records, duplicate rows) for sketched, hashed records.

    ``records`` carry ``key``, ``content_key``, ``record_hash``, ``minhash``
    and ``shingles`` (see ``SketchRecords``); ``prior`` are earlier-run nodes.
    Both outputs are in priority order.
    """
    nodes = [*records, *prior]
    by_ck: dict[str, list[Any]] = defaultdict(list)
    by_rh: dict[str, list[Any]] = defaultdict(list)
    buckets: dict[tuple[int, int], list[Any]] = defaultdict(list)
    bands, rows = near_bands(cfg.near) if cfg.near.enabled else (0, 1)
    sigs = np.stack([np.frombuffer(n["minhash"], dtype=np.uint32) for n in nodes]) if nodes else None
    keys = band_keys(sigs, bands, rows).view(np.int64) if sigs is not None else None
    for i, n in enumerate(nodes):
        by_ck[n["content_key"]].append(n["key"])
        by_rh[n["record_hash"]].append(n["key"])
        for j in range(bands):
            buckets[(j, int(keys[i, j]))].append((n["key"], n["content_key"]))  # type: ignore[index]
    edges: list[tuple[str, Any]] = [("link", e) for g in [*by_ck.values(), *by_rh.values()] for e in star(g)]
    edges += [("lsh", p) for b in buckets.values() for p in bucket_pairs(b)]
    roots: dict[Any, Any] = {}
    lsh: dict[Any, list[tuple[str, str]]] = defaultdict(list)
    for tag, v in route(edges):
        if tag == "root":
            roots[v[0]] = v[1]
        else:
            lsh[v[0]].append(v[1])
    clusters: dict[Any, list[Record]] = defaultdict(list)
    kept, dups = [], []
    for n in nodes:
        if n["key"] in roots:
            clusters[roots[n["key"]]].append(n)
        elif not n.get("prior"):
            kept.append(n)
    threshold = cfg.near.threshold if cfg.near.enabled else 2.0
    for root, members in clusters.items():
        for _, m, d in decide_cluster(members, lsh[root], threshold, exact=cfg.exact):
            if d is None:
                kept.append(m)
            else:
                dups.append(duplicate_row(m, d))
    return sorted(kept, key=lambda r: r["key"]), sorted(dups, key=lambda d: d["order"])


def sketched_texts(texts: list[str], cfg: DedupConfig, salt: bytes, times: list[str] | None = None) -> list[Record]:
    """sketched_texts turns plain texts into sketched, hashed records (one field, ``text``) for tools and tests.

    Record ``i`` (from 1) is line ``i`` of file ``f``; ``times`` are its
    ``submitted_at`` order keys (default: none, so source order decides).
    """
    from pipelines.core.records import record_hash
    from pipelines.stages.dedup.transforms import sketch_batch

    raw = [
        {
            "id": f"0/{i}",
            "order": [(times or [])[i - 1] if times else "~", 0, 0, i],
            "split": 0,
            "file": "f",
            "line": i,
            "contributor_id": f"c{i}",
            "submitted_at": None,
            "fields": {"text": t},
        }
        for i, t in enumerate(texts, start=1)
    ]
    out = [r for k in range(0, len(raw), 500) for r in sketch_batch(raw[k : k + 500], ["text"], cfg, salt)]
    return [{**r, "record_hash": record_hash(r["fields"])} for r in out]
