"""Shingles, MinHash signatures (datasketch) and LSH band keys for near-duplicate detection.

Signatures are datasketch's ``MinHash`` values (``affine32`` scheme) with the configured
``num_perm`` and ``seed``, over word shingles of the normalised dedup text,
so they are deterministic on every machine. Bands and rows per band come from
datasketch's own optimiser for the configured threshold.

``shingle_hashes`` keeps each shingle as a keyed 64-bit hash (BLAKE2b with
the Datanet's secret salt, computed by ``blake2b.shingle_digests``), so the
exact Jaccard similarity of two records can be computed later, from the
dedup state, without storing their text and without letting anyone who
lacks the salt test guesses against it.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import accumulate

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix
from numba import njit

from pipelines.core.config import NearDupConfig
from pipelines.stages.dedup import blake2b

_BAND_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], dtype=np.uint64)


def shingles(text: str, size: int) -> set[bytes]:
    """shingles returns the set of word ``size``-grams of ``text`` (the whole text if shorter), each as the
    UTF-8 of its words joined by single spaces: the shingles ``shingle_hashes`` hashes.

    The words are joined and encoded once, and each shingle is one slice of
    that: no word contains a space, and no byte of a non-ASCII character's
    UTF-8 is a space, so the slice between two word starts is exactly those
    words' UTF-8 joined by b" ".
    """
    words = text.split()
    data = " ".join(words).encode("utf-8")
    if len(words) <= size:
        return {data}
    starts = [0, *accumulate(len(w) + 1 for w in data.split(b" "))]  # where each word starts; then the end + 1
    return {data[a : b - 1] for a, b in zip(starts, starts[size:], strict=False)}


def shingle_hashes(text: str, size: int, salt: bytes) -> np.ndarray:
    """shingle_hashes returns the sorted, distinct keyed 64-bit hashes (little-endian BLAKE2b) of ``text``'s shingles.

    The key is the salt's first 64 bytes. One text's share of
    ``blake2b.shingle_digests``, which ``sketches`` calls once per batch.
    """
    return blake2b.shingle_digests([text], size, salt[:64])[0]


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """exact_jaccard is |A ∩ B| / |A ∪ B| of two sorted distinct shingle-hash arrays (rounded to 6 places)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return round(inter / (len(a) + len(b) - inter), 6)


def _low32(value: int) -> int:
    return value & 0xFFFFFFFF


def sketches(texts: list[str], cfg: NearDupConfig, salt: bytes) -> tuple[np.ndarray, list[np.ndarray]]:
    """sketches returns (an (n, num_perm) uint32 array of MinHash signatures, each text's shingle hashes).

    Each shingle is hashed once (keyed BLAKE2b, the whole batch in one
    compiled call); datasketch's ``MinHash`` takes the low 32 bits of that
    hash as its input hash, so a signature and the exact-Jaccard shingle set
    always describe the same shingles.
    """
    flat, counts = blake2b.shingle_digests(texts, cfg.shingle_size, salt[:64])
    hashed = np.split(flat, np.cumsum(counts)[:-1]) if len(texts) else []
    return _signatures(flat, counts, cfg.num_perm, cfg.seed), hashed


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """datasketch's own (a, b) permutations and empty signature for ``MinHash(num_perm, seed)``."""
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=_low32)
    if m.scheme != "affine32":
        raise RuntimeError(f"datasketch MinHash scheme {m.scheme!r}; signatures() reproduces 'affine32' only")
    a, b = m.permutations
    return a.astype(np.uint32), b.astype(np.uint32), m.hashvalues.astype(np.uint32)


def signatures(hashed: list[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """signatures is an (n, num_perm) uint32 array: the datasketch ``MinHash`` of each shingle-hash array.

    The same values as ``MinHash.bulk(..., hashfunc=low 32 bits)`` (datasketch's
    ``affine32`` scheme: MurmurHash3's 32-bit finaliser, then ``a * h + b``
    modulo 2**32, minimum per permutation), computed for a whole batch at once
    (``_signatures``); ``tests/pipelines/test_dedup.py`` checks them against datasketch.
    """
    lens = np.array([len(h) for h in hashed], dtype=np.int64)
    flat = np.concatenate(hashed) if len(hashed) else np.zeros(0, dtype=np.uint64)
    return _signatures(flat.astype(np.uint64, copy=False), lens, num_perm, seed)


def _signatures(flat: np.ndarray, lens: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """``signatures`` of the arrays ``flat`` holds one after another, ``lens[i]`` values for the i-th.

    MurmurHash3's finaliser over the whole batch in NumPy, then the affine
    permutations and minima in one compiled pass (``_minima``).
    """
    a, b, empty = _permutations(num_perm, seed)
    hv = _fmix((flat & np.uint64(0xFFFFFFFF)).astype(np.uint32), 32)
    return _minima(hv, lens.astype(np.int64, copy=False), a, b, empty)


@njit(cache=True)
def _minima(hv, lens, a, b, empty):  # type: ignore[no-untyped-def]
    """Per record (``lens[i]`` values of ``hv`` each, in turn), the minimum of ``a * h + b`` modulo 2**32 per
    permutation, starting from ``empty``: datasketch's ``affine32`` update, permutations innermost so they
    vectorise."""
    out = np.empty((len(lens), len(a)), dtype=np.uint32)
    o = 0
    for i in range(len(lens)):
        row = out[i]
        row[:] = empty
        for j in range(o, o + lens[i]):
            h = hv[j]
            for p in range(len(a)):
                v = np.uint32(a[p] * h + b[p])
                if v < row[p]:
                    row[p] = v
        o += lens[i]
    return out


@lru_cache(maxsize=32)
def band_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """band_params returns (bands, rows) minimising weighted FP/FN error, as datasketch's MinHashLSH does."""
    b, r = _optimal_param(threshold, num_perm, fp_weight, fn_weight)
    return int(b), int(r)


def near_bands(cfg: NearDupConfig) -> tuple[int, int]:
    """near_bands is (bands, rows) for a near-dup config."""
    return band_params(cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """band_keys returns an (n, bands) uint64 array: one hash of each band's rows per record."""
    n = sigs.shape[0]
    parts = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    acc = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows):
            acc = (acc ^ parts[:, :, j]) * _BAND_MIX[j % 4] + np.uint64(j + 1)
        acc ^= np.arange(bands, dtype=np.uint64) * _BAND_MIX[1]
    return acc


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """jaccard estimates Jaccard similarity from two signatures (fraction of equal values)."""
    return float(np.count_nonzero(a == b)) / float(len(a))
