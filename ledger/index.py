"""The record-hash index: sorted, immutable run files mapping a 32-byte key to a leaf index.

A run file holding ``n`` records has three columns, one after the other:

* ``n`` prefixes: the first 8 bytes of each key read as a big-endian
  integer, stored as 8-byte little-endian (so lookups search integers);
* ``n`` keys of 32 bytes;
* ``n`` leaf indexes, 8-byte little-endian;

sorted by key (equivalently by prefix, then key). A batch append writes one
new run; runs of similar size are merged ``FANIN`` at a time, up to
``MAX_MERGED`` records, so there are O(log n) live runs below that size
and a merge uses bounded memory whatever the size of the log. Runs are
immutable once written; which runs are live is recorded in the ledger's
STATE file, so a crash leaves at worst an unlisted file that the next
writer deletes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

KEY = 32
RECORD_SIZE = 8 + KEY + 8
MAX_MERGED = 1 << 20
FANIN = 4


class Run(NamedTuple):
    """The three columns of a run (arrays or read-only memory maps)."""

    prefix: np.ndarray  # uint64, ascending
    keys: np.ndarray  # uint8 (n, 32)
    leaf: np.ndarray  # uint64

    def __len__(self) -> int:
        return len(self.prefix)

    def key(self, row: int) -> bytes:
        return bytes(self.keys[row])


def prefixes(keys: np.ndarray) -> np.ndarray:
    """prefixes returns the sorting prefix (first 8 bytes, big-endian) of (n, 32) uint8 keys."""
    return np.ascontiguousarray(keys[:, :8]).view(">u8").ravel().astype(np.uint64)


def _sorted(keys: np.ndarray, leaf: np.ndarray) -> Run:
    p = prefixes(keys)
    order = np.argsort(p, kind="stable")
    sp = p[order]
    if len(sp) > 1 and bool(np.any(sp[1:] == sp[:-1])):  # equal prefixes (rare): order by the whole key
        order = np.lexsort([keys[:, j] for j in range(KEY - 1, -1, -1)])
    return Run(p[order], keys[order], leaf[order])


def sorted_run(keys: Sequence[bytes], indexes: Sequence[int]) -> Run:
    """sorted_run builds a run from parallel key and leaf-index lists, sorted by key."""
    arr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, KEY)
    return _sorted(arr, np.asarray(indexes, dtype=np.uint64))


def write_run(path: Path, run: Run) -> None:
    """write_run writes a run durably: temporary file, fsync, rename."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for col in (run.prefix.astype("<u8"), run.keys, run.leaf.astype("<u8")):
            f.write(np.ascontiguousarray(col).tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_run(path: Path) -> Run:
    """load_run maps a run file read-only; raises ValueError if its size is not whole records."""
    size = path.stat().st_size
    if size % RECORD_SIZE:
        raise ValueError(f"{path.name}: {size} bytes is not a whole number of {RECORD_SIZE}-byte records")
    n = size // RECORD_SIZE
    if n == 0:
        return Run(np.empty(0, np.uint64), np.empty((0, KEY), np.uint8), np.empty(0, np.uint64))
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    return Run(mm[: 8 * n].view("<u8"), mm[8 * n : 40 * n].reshape(n, KEY), mm[40 * n :].view("<u8"))


def lookup(runs: Sequence[Run], keys: Sequence[bytes]) -> dict[bytes, int]:
    """lookup returns {key: leaf index} for the keys found in any run."""
    found: dict[bytes, int] = {}
    if not keys:
        return found
    want = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, KEY)
    sort = np.argsort(prefixes(want))  # sorted needles make searchsorted several times faster
    want_p = prefixes(want[sort])
    for run in runs:
        if not len(run):
            continue
        pos = np.searchsorted(run.prefix, want_p)
        inside = pos < len(run)
        cand = np.flatnonzero(inside & (run.prefix[np.minimum(pos, len(run) - 1)] == want_p))
        for j in cand:
            key, row = keys[int(sort[j])], int(pos[j])
            while row < len(run) and run.prefix[row] == want_p[j]:
                if run.key(row) == key:
                    found[key] = int(run.leaf[row])
                    break
                row += 1
    return found


def plan_merge(counts: Sequence[int]) -> int:
    """plan_merge returns how many trailing runs to merge now (0 for none).

    Size-tiered: the last ``FANIN`` runs merge when none is more than
    ``FANIN`` times the newest and the result stays within ``MAX_MERGED``.
    Each record is rewritten about log_FANIN(MAX_MERGED / batch) times, and
    at most ``FANIN - 1`` runs of each size tier stay live.
    """
    tail = counts[-FANIN:]
    if len(tail) < FANIN or sum(tail) > MAX_MERGED or max(tail) > FANIN * tail[-1]:
        return 0
    return FANIN


def merge_runs(runs: Sequence[Run]) -> Run:
    """merge_runs returns the sorted union of runs (keys are unique across runs)."""
    keys = np.concatenate([np.asarray(r.keys) for r in runs])
    return _sorted(keys, np.concatenate([np.asarray(r.leaf) for r in runs]))
