"""Compact dedup nodes for the shuffles: fixed-width entries in one file per batch; only references travel.

A runner holds a shuffle's values as Python objects (Beam's FnApiRunner
decodes every value into its grouping table, Beam's Dask runner keeps each
partition as a list), so even packed bytes cost the runner memory in
proportion to the run. Here each batch of nodes is packed into fixed-width
entries, sorted into slices by *coarse* key (``GROUPS`` buckets per entry
kind: content key, record hash, LSH band, and node buckets for the join with
components), and written once, as one file, by the worker that packed it
(``write_batch``). What crosses a shuffle is one reference per slice,
``(file name, offset, length)``: about ``sum(GROUPS.values()) / batch size``
references per record, whatever the size of the record. The step that
receives a coarse group reads its slices back (``read_slices``) and regroups
them by exact key with NumPy (``exact_groups``), unpacking only keys shared by
two or more entries. Unpacking restores the very tuples and hex strings the
pure functions in ``graph`` and ``clusters`` always saw, so decisions do not
change.

Layouts (big-endian, fixed width):

* node key (``pack_key``), 37 bytes: ``00`` + ledger index (8) + zeros for
  an earlier run's record; ``01`` + ``submitted_at`` (20, zero-padded) +
  source (4) + unit (4) + position (8) for this run's; byte order is the
  tuple order of ``graph.NodeKey``;
* content-key and record-hash entries: digest (32) + node key;
* band entries: band number (1) + band key (8) + node key + content key (32);
* node entries (``pack_node``): node key + content key + record hash +
  split (4, signed; -1 for an earlier run's record) + shingle count (4) +
  shingle hashes (8 each).

A batch file is named after its first node (so a retried batch rewrites the
same bytes to the same name) and lives in the attempt's work folder, which
the driver deletes with the records' spill.
"""

from __future__ import annotations

import hashlib
import struct
from collections import defaultdict
from collections.abc import Container, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from pipelines.core import fs
from pipelines.stages.dedup.graph import NodeKey, prior_key

KEY = 37
DIGEST = 32
DIGEST_ENTRY = DIGEST + KEY
BAND_ENTRY = 1 + 8 + KEY + DIGEST
_HEAD = KEY + 2 * DIGEST  # a node entry's key, content key and record hash, before its tail
# Coarse buckets per kind. A band bucket of a run of n records holds about 16 n / 32 entries
# (39 MB at a million records); a batch of 500 records sends 64 references in all.
GROUPS = {"ck": 8, "rh": 8, "band": 32, "nodes": 16}
_CUR = struct.Struct(">B20sIIQ")
_PRIOR = struct.Struct(">BQ28x")
_NODE_TAIL = struct.Struct(">iI")

Ref = tuple[str, int, int]  # (batch file name, offset, length)


def pack_key(key: NodeKey) -> bytes:
    """pack_key is the 37-byte form of a node key; bytes compare as the tuples do."""
    if key[0] == 0:
        return _PRIOR.pack(0, key[1])
    sa = key[2].encode("ascii")
    if len(sa) > 20 or b"\0" in sa:
        raise ValueError(f"submitted_at order key {key[2]!r} is not an ISO-8601 UTC second or '~'")
    return _CUR.pack(1, sa, key[3], key[4], key[5])


def unpack_key(b: bytes) -> NodeKey:
    """unpack_key inverts ``pack_key``."""
    if b[0] == 0:
        return prior_key(_PRIOR.unpack(b)[1])
    _, sa, source, unit, pos = _CUR.unpack(b)
    return (1, 0, sa.rstrip(b"\0").decode("ascii"), source, unit, pos)


def _bucket(b: bytes, kind: str) -> int:
    return int.from_bytes(b[:4], "big") % GROUPS[kind]


def node_bucket(packed_key: bytes) -> int:
    """node_bucket spreads node keys over coarse buckets (keyed by nothing secret; only for balance)."""
    return _bucket(hashlib.blake2b(packed_key, digest_size=4).digest(), "nodes")


def pack_node(node: dict[str, Any], head: bytes | None = None) -> bytes:
    """pack_node is a node's entry for the join with its component (no MinHash).

    ``head`` is its node key, content key and record hash packed already, if the caller has them.
    """
    shingles = node["shingles"]
    if head is None:
        head = pack_key(node["key"]) + bytes.fromhex(node["content_key"]) + bytes.fromhex(node["record_hash"])
    return head + _NODE_TAIL.pack(int(node.get("split", -1)), len(shingles) // 8) + shingles


def _rows(entries: np.ndarray, buckets: np.ndarray, kind: str, out: dict[tuple[str, int], bytes]) -> None:
    """Adds fixed-width ``entries`` (one row each) to ``out`` by coarse bucket, keeping their order."""
    order = np.argsort(buckets, kind="stable")
    held, starts = np.unique(buckets[order], return_index=True)
    ends = [*starts[1:].tolist(), len(order)]
    for b, a, z in zip(held.tolist(), starts.tolist(), ends, strict=True):
        out[kind, int(b)] = entries[order[a:z]].tobytes()


def _high32(digests: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(digests[:, :4]).view(">u4").ravel().astype(np.int64)


def pack_batch(nodes: Sequence[dict[str, Any]], band_keys: np.ndarray) -> tuple[bytes, list[tuple[Any, int, int]]]:
    """pack_batch is (the batch file's bytes, one (coarse key, offset, length) per non-empty slice).

    Coarse keys are ``("ck" | "rh" | "band", bucket)`` for the groups and
    ``("nodes", bucket)`` for the node join; slices appear in sorted key
    order. Each group slice holds its entries (layouts above) in node order,
    then band order; ``tests/pipelines/test_dedup_equivalence.py`` checks the
    NumPy build against a per-node reference.
    """
    n = len(nodes)
    keys = np.frombuffer(b"".join(pack_key(x["key"]) for x in nodes), dtype=np.uint8).reshape(n, KEY)
    ck = np.frombuffer(bytes.fromhex("".join(x["content_key"] for x in nodes)), dtype=np.uint8).reshape(n, DIGEST)
    rh = np.frombuffer(bytes.fromhex("".join(x["record_hash"] for x in nodes)), dtype=np.uint8).reshape(n, DIGEST)
    slices: dict[tuple[str, int], bytes] = {}
    _rows(np.concatenate([ck, keys], axis=1), _high32(ck) % GROUPS["ck"], "ck", slices)
    _rows(np.concatenate([rh, keys], axis=1), _high32(rh) % GROUPS["rh"], "rh", slices)
    bands = band_keys.shape[1] if band_keys.ndim == 2 else 0
    if bands:
        entries = np.empty((n, bands, BAND_ENTRY), dtype=np.uint8)
        entries[:, :, 0] = np.arange(bands, dtype=np.uint8)
        entries[:, :, 1:9] = band_keys.astype(">u8").view(np.uint8).reshape(n, bands, 8)
        entries[:, :, 9 : 9 + KEY] = keys[:, None, :]
        entries[:, :, 9 + KEY :] = ck[:, None, :]
        high = (band_keys.astype(np.uint64) >> np.uint64(32)).astype(np.int64) % GROUPS["band"]
        _rows(entries.reshape(n * bands, BAND_ENTRY), high.ravel(), "band", slices)
    node_slices: dict[int, bytearray] = defaultdict(bytearray)
    heads = np.concatenate([keys, ck, rh], axis=1)
    for x, head in zip(nodes, heads, strict=True):
        h = head.tobytes()
        node_slices[node_bucket(h[:KEY])] += pack_node(x, h)
    slices.update({("nodes", b): bytes(v) for b, v in node_slices.items()})
    data, refs = bytearray(), []
    for coarse in sorted(slices):
        refs.append((coarse, len(data), len(slices[coarse])))
        data += slices[coarse]
    return bytes(data), refs


def batch_name(nodes: Sequence[dict[str, Any]]) -> str:
    """batch_name names a batch's file after its first node (node keys are unique, batches disjoint)."""
    return "nodes-" + hashlib.blake2b(pack_key(nodes[0]["key"]), digest_size=12).hexdigest() + ".bin"


def write_batch(work_dir: str, nodes: Sequence[dict[str, Any]], band_keys: np.ndarray) -> list[tuple[Any, Ref]]:
    """write_batch writes a batch's entries to ``work_dir`` and returns a reference per coarse key."""
    data, slices = pack_batch(nodes, band_keys)
    name = batch_name(nodes)
    fs.write_bytes(fs.join(work_dir, name), data, private=True)
    return [(coarse, (name, off, ln)) for coarse, off, ln in slices]


def read_slices(work_dir: str, refs: Iterable[Ref]) -> Iterator[bytes]:
    """read_slices reads back the referenced slices (each file opened once, slices in offset order)."""
    by_file: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for name, off, ln in refs:
        by_file[name].append((off, ln))
    for name in sorted(by_file):
        with fs.open_read(fs.join(work_dir, name)) as f:
            for off, ln in sorted(by_file[name]):
                f.seek(off)
                data = f.read(ln)
                if len(data) != ln:
                    raise OSError(f"dedup batch file {name} is shorter than its reference ({off}+{ln})")
                yield data


def _changes(cols: list[np.ndarray], order: np.ndarray) -> np.ndarray:
    """True between two consecutive rows of ``order`` that differ in any of ``cols`` (one flag fewer than rows)."""
    cut = np.zeros(len(order) - 1, dtype=bool)
    for c in cols:
        s = c[order]
        cut |= s[1:] != s[:-1]
    return cut


def _spans(cut: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of two or more of ``n`` sorted rows that ``cut`` (``_changes``) separates."""
    starts = np.concatenate(([0], np.flatnonzero(cut) + 1))
    ends = np.append(starts[1:], n)
    keep = ends - starts >= 2
    return starts[keep], ends[keep]


def _runs(cols: list[np.ndarray], primary: int = 0) -> Iterator[np.ndarray]:
    """Yields the row indices of each key (a row across ``cols``) held by two or more rows, in input order.

    Rows are sorted by the ``primary`` column alone (one sort of one uint64
    column; digests and band keys are nearly all distinct there).
    A run equal in it is a group as it stands unless another column differs
    inside it (a 64-bit collision, rare); only such runs are sorted by every
    column. Runs of one row are skipped without a Python step each.
    """
    n = len(cols[primary])
    if n < 2:
        return
    order = np.argsort(cols[primary])  # not stable (several times faster): each run is put back in input order
    new_key = _changes([cols[primary]], order)
    other = _changes([c for i, c in enumerate(cols) if i != primary], order)
    inside = np.concatenate(([0], np.cumsum(other & ~new_key)))  # differences within a run, counted up to each row
    starts, ends = _spans(new_key, n)
    mixed = inside[ends - 1] > inside[starts]
    for a, b, m in zip(starts.tolist(), ends.tolist(), mixed.tolist(), strict=True):
        run = np.sort(order[a:b])
        if not m:
            yield run
            continue
        run = run[np.lexsort([c[run] for c in cols[::-1]])]  # stable: equal rows stay in input order
        for a2, b2 in zip(*(x.tolist() for x in _spans(_changes(cols, run), len(run))), strict=True):
            yield run[a2:b2]


def exact_groups(kind: str, blobs: Iterable[bytes]) -> Iterator[list[Any]]:
    """exact_groups regroups one coarse group's entries by exact key; a key held once yields nothing.

    Digest groups (``"ck"``, ``"rh"``) yield lists of node keys; band groups
    yield lists of (node key, content key hex), the members
    ``graph.bucket_pairs`` takes.
    """
    band = kind == "band"
    width, split = (BAND_ENTRY, 9) if band else (DIGEST_ENTRY, DIGEST)
    data = b"".join(blobs)
    if len(data) % width:
        raise ValueError(f"a {kind} slice is not a whole number of {width}-byte entries")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, width)
    if band:
        cols = [rows[:, 0].astype(np.uint64), np.ascontiguousarray(rows[:, 1:9]).view(">u8").ravel()]
    else:
        cols = [np.ascontiguousarray(rows[:, 8 * i : 8 * i + 8]).view(">u8").ravel() for i in range(4)]
    for idx in _runs(cols, primary=1 if band else 0):
        group = []
        for i in idx.tolist():
            e = data[i * width : (i + 1) * width]
            key = unpack_key(e[split : split + KEY])
            group.append((key, e[split + KEY :].hex()) if band else key)
        yield group


def _node_spans(blob: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each node entry in a concatenation of ``pack_node`` entries."""
    at = 0
    while at < len(blob):
        _, n = _NODE_TAIL.unpack_from(blob, at + _HEAD)
        end = at + _HEAD + _NODE_TAIL.size + 8 * n
        yield at, end
        at = end


def node_entries(blob: bytes, only: Container[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """node_entries yields (packed node key, whole entry) for each node entry in ``blob`` whose key is in
    ``only``, unread otherwise: a node as bytes, for a shuffle (``unpack_nodes`` reads it back)."""
    for at, end in _node_spans(blob):
        key = blob[at : at + KEY]
        if key in only:
            yield key, blob[at:end]


def unpack_nodes(blob: bytes, only: set[bytes] | None = None) -> Iterator[dict[str, Any]]:
    """unpack_nodes inverts ``pack_node`` over a concatenation of entries: the slim nodes ``clusters`` decides on.

    With ``only`` (packed node keys), entries with other keys are skipped unread.
    """
    for at, end in _node_spans(blob):
        if only is not None and blob[at : at + KEY] not in only:
            continue
        split, _ = _NODE_TAIL.unpack_from(blob, at + _HEAD)
        node: dict[str, Any] = {
            "key": unpack_key(blob[at : at + KEY]),
            "content_key": blob[at + KEY : at + KEY + DIGEST].hex(),
            "record_hash": blob[at + KEY + DIGEST : at + _HEAD].hex(),
            "shingles": blob[at + _HEAD + _NODE_TAIL.size : end],
        }
        if split < 0:
            node["prior"] = True
        else:
            node["split"] = split
        yield node
