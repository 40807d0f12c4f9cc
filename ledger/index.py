"""The record-hash index: sorted, immutable run files mapping a 32-byte key to a leaf index.

Each run file is a sequence of 40-byte records (32-byte key, 8-byte
big-endian leaf index) sorted by key. A batch append writes one new run;
the newest two runs are merged while the older is at most twice the
newer, up to ``MAX_MERGED`` records, so there are O(log n) live runs and the
memory used by a merge is bounded whatever the size of the log. Runs are immutable once
written; which runs are live is recorded in the ledger's STATE file, so a
crash leaves at worst an unlisted file that the next writer deletes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

RECORD = np.dtype([("k", "S32"), ("i", ">u8")])
MAX_MERGED = 1 << 20


def sorted_run(keys: Sequence[bytes], indexes: Sequence[int]) -> np.ndarray:
    """sorted_run builds a run array from parallel key and leaf-index lists, sorted by key."""
    arr = np.empty(len(keys), dtype=RECORD)
    arr["k"] = keys
    arr["i"] = indexes
    return arr[np.argsort(arr["k"], kind="stable")]


def write_run(path: Path, run: np.ndarray) -> None:
    """write_run writes a run durably: temporary file, fsync, rename."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(run.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_run(path: Path) -> np.ndarray:
    """load_run maps a run file read-only (empty files give an empty run)."""
    if path.stat().st_size == 0:
        return np.empty(0, dtype=RECORD)
    return np.memmap(path, dtype=RECORD, mode="r")


def lookup(runs: Iterable[np.ndarray], keys: Sequence[bytes]) -> dict[bytes, int]:
    """lookup returns {key: leaf index} for the keys found in any run."""
    want = np.array(list(keys), dtype="S32")
    found: dict[bytes, int] = {}
    if not len(want):
        return found
    for run in runs:
        if not len(run):
            continue
        pos = np.searchsorted(run["k"], want)
        ok = pos < len(run)
        hit = np.zeros(len(want), dtype=bool)
        hit[ok] = run["k"][pos[ok]] == want[ok]
        for j in np.nonzero(hit)[0]:
            found[bytes(keys[int(j)])] = int(run["i"][pos[j]])
    return found


def plan_merge(counts: Sequence[int]) -> bool:
    """plan_merge says whether the last two runs should be merged now.

    They merge while the older is at most twice the newer (so live runs
    shrink geometrically) and the result stays within ``MAX_MERGED``.
    """
    if len(counts) < 2:
        return False
    older, newer = counts[-2], counts[-1]
    return older <= 2 * newer and older + newer <= MAX_MERGED


def merge_runs(older: np.ndarray, newer: np.ndarray) -> np.ndarray:
    """merge_runs returns the sorted union of two sorted runs in linear time.

    Keys are unique across runs, so the result is strictly sorted.
    """
    a, b = np.asarray(older), np.asarray(newer)
    out = np.empty(len(a) + len(b), dtype=RECORD)
    b_pos = np.searchsorted(a["k"], b["k"]) + np.arange(len(b))
    is_b = np.zeros(len(out), dtype=bool)
    is_b[b_pos] = True
    out[b_pos] = b
    out[~is_b] = a
    return out
