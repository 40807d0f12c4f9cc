"""Compact dedup nodes for the shuffles: fixed-width bytes, many per element, few keys.

A runner holds a shuffle's values as Python objects (Beam's FnApiRunner
decodes every value into its grouping table), so one small tuple per band
per record costs hundreds of bytes. Here each batch of nodes is packed into
a few byte strings per *coarse* key (``2**COARSE_BITS`` buckets per band,
per content key and per record hash, and for the node join); the group step
unpacks a coarse group and regroups it by the exact key. A coarse group holds
about ``n / 2**COARSE_BITS`` entries of a run of ``n`` records (1.2 MB per
band bucket at a million records). Unpacking
restores the very tuples and hex strings the pure functions in ``graph`` and
``clusters`` always saw, so decisions do not change.

Layouts (big-endian, fixed width):

* node key (``pack_key``), 37 bytes: ``00`` + ledger index (8) + zeros for
  an earlier run's record; ``01`` + ``submitted_at`` (20, zero-padded) +
  source (4) + unit (4) + position (8) for this run's; byte order is the
  tuple order of ``graph.NodeKey``;
* content-key and record-hash entries: digest (32) + node key;
* band entries: band key (8) + node key + content key (32);
* node entries (``pack_node``): node key + content key + record hash +
  split (4, signed; -1 for an earlier run's record) + shingle count (4) +
  shingle hashes (8 each).
"""

from __future__ import annotations

import hashlib
import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from pipelines.stages.dedup.graph import NodeKey, prior_key

KEY = 37
DIGEST = 32
COARSE_BITS = 6  # 64 coarse buckets per band, per digest kind and for nodes: ~8 entries per string per batch of 500
_CUR = struct.Struct(">B20sIIQ")
_PRIOR = struct.Struct(">BQ28x")
_NODE_TAIL = struct.Struct(">iI")


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


def digest_bucket(digest: bytes) -> int:
    """digest_bucket is the coarse bucket of a content key or record hash (its leading bits)."""
    return int.from_bytes(digest[:2], "big") >> (16 - COARSE_BITS)


def node_bucket(packed_key: bytes) -> int:
    """node_bucket spreads node keys over coarse buckets (keyed by nothing secret; only for balance)."""
    return int.from_bytes(hashlib.blake2b(packed_key, digest_size=2).digest(), "big") >> (16 - COARSE_BITS)


def group_entries(node: dict[str, Any], bands: np.ndarray) -> Iterator[tuple[tuple[Any, ...], bytes]]:
    """group_entries yields a node's (coarse key, entry) for its content key, record hash and each band key."""
    key = pack_key(node["key"])
    ck, rh = bytes.fromhex(node["content_key"]), bytes.fromhex(node["record_hash"])
    yield ("ck", digest_bucket(ck)), ck + key
    yield ("rh", digest_bucket(rh)), rh + key
    for j, bk in enumerate(bands.astype(">u8")):
        yield ("band", j, int(bk) >> (64 - COARSE_BITS)), bk.tobytes() + key + ck


def exact_groups(coarse: tuple[Any, ...], blobs: Iterable[bytes]) -> Iterator[list[Any]]:
    """exact_groups regroups one coarse group's entries by exact key.

    Digest groups yield lists of node keys; band groups yield lists of
    (node key, content key hex), the members ``graph.bucket_pairs`` takes.
    """
    band = coarse[0] == "band"
    width = 8 + KEY + DIGEST if band else DIGEST + KEY
    split = 8 if band else DIGEST
    groups: dict[bytes, list[Any]] = defaultdict(list)
    for blob in blobs:
        for at in range(0, len(blob), width):
            e = blob[at : at + width]
            key = unpack_key(e[split : split + KEY])
            groups[e[:split]].append((key, e[split + KEY :].hex()) if band else key)
    yield from groups.values()


def pack_node(node: dict[str, Any]) -> bytes:
    """pack_node is a node's entry for the join with its component (no MinHash)."""
    shingles = node["shingles"]
    head = pack_key(node["key"]) + bytes.fromhex(node["content_key"]) + bytes.fromhex(node["record_hash"])
    return head + _NODE_TAIL.pack(int(node.get("split", -1)), len(shingles) // 8) + shingles


def unpack_nodes(blob: bytes) -> Iterator[dict[str, Any]]:
    """unpack_nodes inverts ``pack_node`` over a concatenation of entries: the slim nodes ``clusters`` decides on."""
    at, head = 0, KEY + 2 * DIGEST
    while at < len(blob):
        split, n = _NODE_TAIL.unpack_from(blob, at + head)
        start = at + head + _NODE_TAIL.size
        node: dict[str, Any] = {
            "key": unpack_key(blob[at : at + KEY]),
            "content_key": blob[at + KEY : at + KEY + DIGEST].hex(),
            "record_hash": blob[at + KEY + DIGEST : at + head].hex(),
            "shingles": blob[start : start + 8 * n],
        }
        if split < 0:
            node["prior"] = True
        else:
            node["split"] = split
        at = start + 8 * n
        yield node
