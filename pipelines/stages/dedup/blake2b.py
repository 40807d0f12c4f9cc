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
# Rotation amounts as uint64: Numba turns uint64 mixed with a Python int into a float.
_S1, _S8, _S16, _S24, _S32, _S40, _S48, _S63 = (np.uint64(s) for s in (1, 8, 16, 24, 32, 40, 48, 63))
_LAST = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE, _S64 = np.uint64(1), np.uint64(64)
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


@njit
def _round(v, x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15):  # type: ignore[no-untyped-def]
    """One round of RFC 7693's F over the 16 state words ``v``, with the message words in this round's order.

    Compiled on its own and inlined by LLVM (Numba's own inliner refuses
    this many arguments); each round's order is a row of RFC 7693's SIGMA.
    """
    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = v
    v0, v4, v8, v12 = _mix(v0, v4, v8, v12, x0, x1)
    v1, v5, v9, v13 = _mix(v1, v5, v9, v13, x2, x3)
    v2, v6, v10, v14 = _mix(v2, v6, v10, v14, x4, x5)
    v3, v7, v11, v15 = _mix(v3, v7, v11, v15, x6, x7)
    v0, v5, v10, v15 = _mix(v0, v5, v10, v15, x8, x9)
    v1, v6, v11, v12 = _mix(v1, v6, v11, v12, x10, x11)
    v2, v7, v8, v13 = _mix(v2, v7, v8, v13, x12, x13)
    v3, v4, v9, v14 = _mix(v3, v4, v9, v14, x14, x15)
    return v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15


@njit(inline="always")
def _compress(h, m, t, last):  # type: ignore[no-untyped-def]
    """RFC 7693's F: compresses the 16 message words ``m`` into state ``h`` at byte count ``t``.

    The twelve rounds are written out, each with its row of SIGMA (rows 0-9,
    then 0 and 1 again), so every message word is a register, not a lookup.
    """
    m0, m1, m2, m3, m4, m5, m6, m7 = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    m8, m9, m10, m11, m12, m13, m14, m15 = m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]
    iv14 = _IV[6] ^ _LAST if last else _IV[6]
    v = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
    v = (*v, _IV[0], _IV[1], _IV[2], _IV[3], _IV[4] ^ t, _IV[5], iv14, _IV[7])
    v = _round(v, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
    v = _round(v, m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3)
    v = _round(v, m11, m8, m12, m0, m5, m2, m15, m13, m10, m14, m3, m6, m7, m1, m9, m4)
    v = _round(v, m7, m9, m3, m1, m13, m12, m11, m14, m2, m6, m5, m10, m4, m0, m15, m8)
    v = _round(v, m9, m0, m5, m7, m2, m4, m10, m15, m14, m1, m11, m12, m6, m8, m3, m13)
    v = _round(v, m2, m12, m6, m10, m0, m11, m8, m3, m4, m13, m7, m5, m15, m14, m1, m9)
    v = _round(v, m12, m5, m1, m15, m14, m13, m4, m10, m0, m7, m6, m3, m9, m2, m8, m11)
    v = _round(v, m13, m11, m7, m14, m12, m1, m3, m9, m5, m0, m15, m4, m8, m6, m2, m10)
    v = _round(v, m6, m15, m14, m9, m11, m3, m0, m8, m12, m2, m13, m7, m1, m4, m10, m5)
    v = _round(v, m10, m2, m8, m4, m7, m6, m1, m5, m15, m11, m9, m14, m3, m12, m13, m0)
    v = _round(v, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
    v = _round(v, m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3)
    for i in range(8):
        h[i] ^= v[i] ^ v[i + 8]


@njit(cache=True)
def _keyed_state(h, key_block):  # type: ignore[no-untyped-def]
    """Compresses the zero-padded key block into ``h`` (never the last block: every slice hashed is non-empty)."""
    _compress(h, key_block.view(np.uint64), np.uint64(128), False)


@njit(inline="always")
def _word(qwords, at):  # type: ignore[no-untyped-def]
    """The little-endian uint64 at byte ``at`` of ``qwords`` (read as bytes): two aligned loads when unaligned."""
    i, r = at // 8, np.uint64(8 * (at % 8))
    if r == 0:
        return qwords[i]
    return (qwords[i] >> r) | (qwords[i + 1] << (_S64 - r))


@njit(inline="always")
def _digest(qwords, a, length, start, t0, h, m):  # type: ignore[no-untyped-def]
    """The first state word after hashing the ``length`` > 0 bytes from byte ``a`` on, from state ``start``.

    Message words are read whole from ``qwords`` (the batch's bytes as
    uint64, ``padded_words``), the last one masked to the bytes that belong
    to the block, the rest zero.
    """
    h[:] = start
    pos = 0
    while True:
        take = min(length - pos, 128)
        full, tail = take // 8, take % 8
        for j in range(full):
            m[j] = _word(qwords, a + pos + 8 * j)
        for j in range(full, 16):
            m[j] = 0
        if tail:
            m[full] = _word(qwords, a + pos + 8 * full) & ((_ONE << np.uint64(8 * tail)) - _ONE)
        pos += take
        _compress(h, m, np.uint64(t0 + pos), pos == length)
        if pos == length:
            return h[0]


@njit(cache=True)
def _shingle_digests(data, qwords, bounds, size, start, t0, empty):  # type: ignore[no-untyped-def]
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
    m = np.zeros(16, dtype=np.uint64)
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
            out[o] = _digest(qwords, lo, hi - lo, start, t0, h, m)
            k = 1
        else:
            for w in range(words - size + 1):
                a = starts[w]
                out[o + k] = _digest(qwords, a, starts[w + size] - 1 - a, start, t0, h, m)
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


def padded_words(data: np.ndarray) -> np.ndarray:
    """padded_words is ``data`` zero-padded to whole words plus two, as little-endian uint64 (one copy of the
    batch's bytes): any word the kernel reads, at any offset, is inside it."""
    padded = np.zeros(8 * (len(data) // 8 + 2), dtype=np.uint8)
    padded[: len(data)] = data
    return padded.view("<u8")


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
    return _shingle_digests(data, padded_words(data), bounds, size, start, t0, empty)
