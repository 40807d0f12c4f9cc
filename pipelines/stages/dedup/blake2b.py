"""Keyed BLAKE2b-64 of every word shingle of many texts in one compiled call (RFC 7693, Numba).

``shingle_digests`` gives, for a batch of texts, exactly what hashing each
shingle with ``hashlib.blake2b(shingle, digest_size=8, key=key)`` and keeping
the sorted distinct little-endian values would give; ``tests/pipelines/
test_blake2b.py`` checks it against ``hashlib`` on arbitrary text, keys and
lengths (empty, one block, many blocks). It exists because the per-shingle
Python calls to ``hashlib`` were the largest cost of reading a record (about
0.7 µs per shingle, of which 0.25 µs is the hash itself).

The kernel is compiled on first use and cached next to this module (or under
``NUMBA_CACHE_DIR``); nothing is downloaded. Integer arithmetic only, so the
digests are the same on every machine.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit

_IV = np.array(
    [
        0x6A09E667F3BCC908,
        0xBB67AE8584CAA73B,
        0x3C6EF372FE94F82B,
        0xA54FF53A5F1D36F1,
        0x510E527FADE682D1,
        0x9B05688C2B3E6C1F,
        0x1F83D9ABFB41BD6B,
        0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)
_SIGMA = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ],
    dtype=np.intp,
)
# Rotation amounts as uint64: Numba turns uint64 mixed with a Python int into a float.
_S1, _S8, _S16, _S24, _S32, _S40, _S48, _S63 = (np.uint64(s) for s in (1, 8, 16, 24, 32, 40, 48, 63))
_LAST = np.uint64(0xFFFFFFFFFFFFFFFF)
_SPACE = 0x20
DIGEST_SIZE = 8


@njit(inline="always")
def _half(a, b, c, d, x, rd, ld, rb, lb):  # type: ignore[no-untyped-def]
    """Half of RFC 7693's G: adds message word ``x``, rotates ``d`` right by ``rd`` and ``b`` by ``rb``
    (``ld`` and ``lb`` are 64 minus those)."""
    a = a + b + x
    d ^= a
    d = (d >> rd) | (d << ld)
    c = c + d
    b ^= c
    b = (b >> rb) | (b << lb)
    return a, b, c, d


@njit(inline="always")
def _mix(a, b, c, d, x, y):  # type: ignore[no-untyped-def]
    """RFC 7693's G: mixes two message words into four state words (rotations 32, 24, then 16, 63)."""
    a, b, c, d = _half(a, b, c, d, x, _S32, _S32, _S24, _S40)
    return _half(a, b, c, d, y, _S16, _S48, _S63, _S1)


@njit(inline="always")
def _compress(h, m, t, last):  # type: ignore[no-untyped-def]
    """RFC 7693's F: compresses the 16 message words ``m`` into state ``h`` at byte count ``t``."""
    v0, v1, v2, v3, v4, v5, v6, v7 = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    v8, v9, v10, v11 = _IV[0], _IV[1], _IV[2], _IV[3]
    v12, v13, v14, v15 = _IV[4] ^ t, _IV[5], _IV[6], _IV[7]
    if last:
        v14 = v14 ^ _LAST
    for r in range(12):
        s = _SIGMA[r % 10]
        v0, v4, v8, v12 = _mix(v0, v4, v8, v12, m[s[0]], m[s[1]])
        v1, v5, v9, v13 = _mix(v1, v5, v9, v13, m[s[2]], m[s[3]])
        v2, v6, v10, v14 = _mix(v2, v6, v10, v14, m[s[4]], m[s[5]])
        v3, v7, v11, v15 = _mix(v3, v7, v11, v15, m[s[6]], m[s[7]])
        v0, v5, v10, v15 = _mix(v0, v5, v10, v15, m[s[8]], m[s[9]])
        v1, v6, v11, v12 = _mix(v1, v6, v11, v12, m[s[10]], m[s[11]])
        v2, v7, v8, v13 = _mix(v2, v7, v8, v13, m[s[12]], m[s[13]])
        v3, v4, v9, v14 = _mix(v3, v4, v9, v14, m[s[14]], m[s[15]])
    h[0] ^= v0 ^ v8
    h[1] ^= v1 ^ v9
    h[2] ^= v2 ^ v10
    h[3] ^= v3 ^ v11
    h[4] ^= v4 ^ v12
    h[5] ^= v5 ^ v13
    h[6] ^= v6 ^ v14
    h[7] ^= v7 ^ v15


@njit(cache=True)
def _keyed_state(h, key_block):  # type: ignore[no-untyped-def]
    """Compresses the zero-padded key block into ``h`` (never the last block: every slice hashed is non-empty)."""
    _compress(h, key_block.view(np.uint64), np.uint64(128), False)


@njit(inline="always")
def _digest(data, a, length, start, t0, h, block):  # type: ignore[no-untyped-def]
    """The first state word after hashing the ``length`` > 0 bytes ``data[a:a+length]`` from state ``start``."""
    h[:] = start
    m = block.view(np.uint64)
    pos = 0
    while True:
        take = min(length - pos, 128)
        block[:] = 0
        block[:take] = data[a + pos : a + pos + take]
        pos += take
        _compress(h, m, np.uint64(t0 + pos), pos == length)
        if pos == length:
            return h[0]


@njit(cache=True)
def _shingle_digests(data, bounds, size, start, t0, empty):  # type: ignore[no-untyped-def]
    """Per text ``data[bounds[i]:bounds[i+1]]`` (words joined by one space), its sorted distinct shingle digests.

    Returns (all digests, one text after another; how many each text has).
    """
    n = len(bounds) - 1
    spaces, longest = 0, 0
    for p in range(len(data)):
        spaces += data[p] == _SPACE
    for i in range(n):
        longest = max(longest, bounds[i + 1] - bounds[i])
    # A word starts at a text's first byte or just after a space, so a text has at most (its spaces + 1) shingles:
    # memory in words, not bytes, and within bounds whatever the spacing.
    out = np.empty(spaces + n, dtype=np.uint64)
    counts = np.zeros(n, dtype=np.int64)
    starts = np.empty(longest + 2, dtype=np.int64)  # one text's word starts, then its end + 1
    h = np.empty(8, dtype=np.uint64)
    block = np.zeros(128, dtype=np.uint8)
    o = 0
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        words = 0
        for p in range(lo, hi):
            if p == lo or data[p - 1] == _SPACE:
                starts[words] = p
                words += 1
        starts[words] = hi + 1
        k = 0
        if words == 0:
            out[o] = empty
            k = 1
        elif words <= size:
            out[o] = _digest(data, lo, hi - lo, start, t0, h, block)
            k = 1
        else:
            for w in range(words - size + 1):
                a = starts[w]
                out[o + k] = _digest(data, a, starts[w + size] - 1 - a, start, t0, h, block)
                k += 1
        seg = out[o : o + k]
        seg.sort()
        kept = 1
        for j in range(1, k):
            if seg[j] != seg[kept - 1]:
                seg[kept] = seg[j]
                kept += 1
        counts[i] = kept
        o += kept
    return out[:o], counts


def _start_state(key: bytes) -> tuple[np.ndarray, int]:
    """(the state after the parameter block and, if keyed, the key block; the byte count that implies)."""
    h = _IV.copy()
    h[0] ^= np.uint64(0x01010000 ^ (len(key) << 8) ^ DIGEST_SIZE)
    if not key:
        return h, 0
    block = np.zeros(128, dtype=np.uint8)
    block[: len(key)] = np.frombuffer(key, dtype=np.uint8)
    _keyed_state(h, block)
    return h, 128


def shingle_digests(texts: list[str], size: int, key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """shingle_digests returns (every text's sorted distinct shingle digests, concatenated; each text's count).

    A shingle is ``size`` consecutive whitespace-separated words joined by one
    space (a text of at most ``size`` words is one shingle, the empty text the
    empty shingle); its digest is ``hashlib.blake2b(utf8, digest_size=8,
    key=key)`` read as a little-endian uint64. ``key`` is at most 64 bytes.
    """
    if len(key) > 64:
        raise ValueError(f"a BLAKE2b key is at most 64 bytes, got {len(key)}")
    encoded = [" ".join(t.split()).encode("utf-8") for t in texts]
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.array([len(e) for e in encoded], dtype=np.int64), out=bounds[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)  # read-only, even when empty: one compiled signature
    start, t0 = _start_state(key)
    empty = np.frombuffer(hashlib.blake2b(b"", digest_size=DIGEST_SIZE, key=key).digest(), dtype="<u8")[0]
    return _shingle_digests(data, bounds, size, start, t0, empty)
