"""Ledger benchmark: durable batch appends, proof latency and memory, beside pymerkle 7.0.0.

    python -m benchmarks.ledger [--sizes 1000000,10000000] [--out bench-out/ledger.json]

Each measurement runs in its own process so memory figures are that
process's own: a writer appends N entries in durable batches of 10,000
(every batch fsynced), then a fresh reader opens the log and builds 1,000
inclusion proofs at random indexes. pymerkle's ``SqliteTree`` gets the same
entry bytes through ``append_entries`` (one call per batch) and
``prove_inclusion``. pymerkle is GPL and installed only for this benchmark
(``make bench``); it is never a runtime dependency. The roots of both logs
are compared, so the benchmark also cross-checks the tree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

BATCH = 10_000
PROOFS = 1_000


def rss_mb() -> float:
    """Current resident set size of this process, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def rss_parts_mb() -> dict[str, float]:
    """Resident memory split into anonymous (heap: what the process holds) and file-backed
    (memory-mapped files: page cache the kernel can drop), from /proc/self/status."""
    parts = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                parts[line.split(":")[0]] = int(line.split()[1]) / 1e3
    return {"anon_mb": parts.get("RssAnon", 0.0), "file_mb": parts.get("RssFile", 0.0)}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def batches(n: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """Canonical contribution entries (as ledger.entries encodes them) and their record hashes."""
    import hashlib

    for start in range(0, n, BATCH):
        hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(start, min(start + BATCH, n))]
        yield (
            [
                b'{"contributor_id":"c%d","datanet":"bench","kind":"contribution","record_hash":"%s","row":%d,'
                b'"run":"bench","shard":"shards/bench/part-%05d.parquet","v":1}'
                % (i % 1000, h.hex().encode(), i % BATCH, i // BATCH)
                for i, h in zip(range(start, start + len(hashes)), hashes, strict=True)
            ],
            hashes,
        )


def _timed_appends(append: Callable[[list[bytes], list[bytes]], object], n: int) -> tuple[float, float]:
    """_timed_appends feeds every batch to ``append(entries, keys)``; seconds spent in it and peak anon MB."""
    spent, peak_anon = 0.0, 0.0
    for entries, keys in batches(n):
        t = time.perf_counter()
        append(entries, keys)
        spent += time.perf_counter() - t
        peak_anon = max(peak_anon, rss_parts_mb()["anon_mb"])
    return spent, peak_anon


def _append_result(n: int, spent: float, root: str, peak_anon: float) -> dict:
    rate = n / spent
    return {"appends_per_s": rate, "seconds": spent, "root": root, "peak_rss_mb": peak_mb(), "peak_anon_mb": peak_anon}


def write_ours(path: str, n: int) -> dict:
    from ledger.storage import Store

    store = Store(path, writer=True, create=True)
    spent, peak_anon = _timed_appends(store.append, n)
    root = store.state.root
    store.close()
    return _append_result(n, spent, root, peak_anon)


def write_pymerkle(path: str, n: int) -> dict:
    from pymerkle import SqliteTree

    tree = SqliteTree(path)
    spent, peak_anon = _timed_appends(lambda entries, _keys: tree.append_entries(entries), n)
    root = tree.get_root().hex()
    tree.close()
    return _append_result(n, spent, root, peak_anon)


def _latencies(fn, indexes: list) -> dict:  # type: ignore[no-untyped-def]
    times = []
    for i in indexes:
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"median_ms": statistics.median(times), "p99_ms": times[int(0.99 * len(times)) - 1], "max_ms": times[-1]}


def prove_ours(path: str, n: int) -> dict:
    from ledger import tree
    from ledger.storage import Store

    before = rss_mb()
    store = Store(path)
    idx = random.Random(1).sample(range(n), PROOFS)
    out = _latencies(lambda i: tree.inclusion_proof(store.node, i, n), idx)
    keys = [k for entries, ks in batches(min(n, BATCH)) for k in ks][:100]
    out["lookup"] = _latencies(lambda k: store.lookup([k]), keys)  # record hash -> index (index runs)
    out.update(
        rss_before_mb=before, rss_after_mb=rss_mb(), peak_rss_mb=peak_mb(), runs=len(store.state.runs), **rss_parts_mb()
    )
    return out


def prove_pymerkle(path: str, n: int) -> dict:
    from pymerkle import SqliteTree

    before = rss_mb()
    tree = SqliteTree(path)
    idx = random.Random(1).sample(range(1, n + 1), 100)  # pymerkle indexes from 1
    out = _latencies(lambda i: tree.prove_inclusion(i, n), idx)
    out.update(rss_before_mb=before, rss_after_mb=rss_mb(), peak_rss_mb=peak_mb(), proofs=len(idx), **rss_parts_mb())
    return out


def _child(kind: str, path: str, n: int) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON."""
    code = f"import json; from benchmarks.ledger import {kind} as f; print(json.dumps(f({path!r}, {n})))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if run.returncode:
        raise RuntimeError(f"{kind} failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--out", default="bench-out/ledger.json")
    ap.add_argument("--no-pymerkle", action="store_true")
    args = ap.parse_args()
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            row: dict = {"entries": n, "batch": BATCH}
            row["ours_append"] = _child("write_ours", f"{tmp}/ours", n)
            row["ours_prove"] = _child("prove_ours", f"{tmp}/ours", n)
            if not args.no_pymerkle:
                row["pymerkle_append"] = _child("write_pymerkle", f"{tmp}/pm.db", n)
                row["pymerkle_prove"] = _child("prove_pymerkle", f"{tmp}/pm.db", n)
                row["same_root"] = row["ours_append"]["root"] == row["pymerkle_append"]["root"]
                row["append_ratio"] = row["ours_append"]["appends_per_s"] / row["pymerkle_append"]["appends_per_s"]
            results.append(row)
            _print(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": _machine(), "results": results}, indent=2) + "\n")


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}


def _print(r: dict) -> None:
    o, op = r["ours_append"], r["ours_prove"]
    print(f"\n{r['entries']:,} entries, durable batches of {r['batch']:,}")
    print(
        f"  ours      {o['appends_per_s']:>10,.0f} appends/s  proof median {op['median_ms']:.3f} ms "
        f"p99 {op['p99_ms']:.3f} ms  lookup median {op['lookup']['median_ms']:.3f} ms  "
        f"writer peak {o['peak_rss_mb']:.0f} MB (anon {o['peak_anon_mb']:.0f})  reader rss {op['rss_after_mb']:.0f} MB "
        f"(anon {op['anon_mb']:.0f}, file-backed {op['file_mb']:.0f})  ({op['runs']} index runs)"
    )
    if "pymerkle_append" in r:
        p, pp = r["pymerkle_append"], r["pymerkle_prove"]
        print(
            f"  pymerkle  {p['appends_per_s']:>10,.0f} appends/s  proof median {pp['median_ms']:.3f} ms "
            f"p99 {pp['p99_ms']:.3f} ms  writer peak {p['peak_rss_mb']:.0f} MB (anon {p['peak_anon_mb']:.0f})  "
            f"reader rss {pp['rss_after_mb']:.0f} MB (anon {pp['anon_mb']:.0f}, file-backed {pp['file_mb']:.0f})"
        )
        print(f"  append ratio {r['append_ratio']:.2f}x, same root: {r['same_root']}")


if __name__ == "__main__":
    main()
