"""Fast RFC 9162 tree computations over stored perfect-subtree hashes.

Every function here takes a ``NodeReader``: ``node(level, index)`` returns
the hash of the perfect subtree covering leaves
``[index * 2**level, (index + 1) * 2**level)``. Storage keeps exactly those
hashes, so roots and proofs cost O(log n) reads and no recomputation of the
tree. Results are identical to the recursive definitions of RFC 9162 (checked
against ``ledger.testonly.reference`` in the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import sha256 as _sha256

from ledger.verify import EMPTY_ROOT, node_hash

NodeReader = Callable[[int, int], bytes]


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(node: NodeReader, begin: int, end: int) -> bytes:
    """range_hash returns MTH(D[begin:end]).

    Precondition: ``begin`` is a multiple of the largest power of two not
    above ``end - begin`` rounded up (true for every subtree the RFC
    recursion visits), so the range splits into aligned perfect subtrees.
    """
    if end <= begin:
        return EMPTY_ROOT
    peaks: list[bytes] = []
    pos = begin
    for level in range((end - begin).bit_length() - 1, -1, -1):
        if (end - pos) >> level:
            peaks.append(node(level, pos >> level))
            pos += 1 << level
    acc = peaks[-1]
    for peak in reversed(peaks[:-1]):
        acc = node_hash(peak, acc)
    return acc


def root(node: NodeReader, size: int) -> bytes:
    """root returns the Merkle Tree Hash of the first ``size`` leaves."""
    return range_hash(node, 0, size)


def inclusion_proof(node: NodeReader, index: int, size: int) -> list[bytes]:
    """inclusion_proof returns PATH(index, D[0:size]) (RFC 9162 2.1.3.1), leaf sibling first.

    Raises ValueError if ``index`` is not below ``size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    out: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            out.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            out.append(node(k.bit_length() - 1, lo // k))
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_proof(node: NodeReader, size1: int, size2: int) -> list[bytes]:
    """consistency_proof returns PROOF(size1, D[0:size2]) (RFC 9162 2.1.4.1).

    Raises ValueError unless ``0 < size1 <= size2``.
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    out: list[bytes] = []
    lo, hi, m, whole = 0, size2, size1, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            out.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            out.append(node(k.bit_length() - 1, lo // k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        out.append(range_hash(node, lo, hi))
    out.reverse()
    return out


def extend_levels(
    old_size: int,
    leaf_hashes: list[bytes],
    stored: NodeReader,
) -> list[list[bytes]]:
    """extend_levels computes the perfect-subtree hashes completed by appending leaves.

    Returns ``levels`` where ``levels[h]`` lists the new nodes at level ``h``
    in index order (``levels[0]`` is ``leaf_hashes``). ``stored`` is asked
    for at most one already-stored node per level (a left sibling).
    """
    levels = [leaf_hashes]
    new_size = old_size + len(leaf_hashes)
    h = 1
    while new_size >> h:
        lo, hi = old_size >> h, new_size >> h
        if hi == lo:
            levels.append([])
            h += 1
            continue
        first_child = 2 * lo
        below_lo = old_size >> (h - 1)
        children = levels[h - 1]
        if first_child < below_lo:
            children = [stored(h - 1, first_child)] + children
        pairs = children[: 2 * (hi - lo)]
        levels.append([_sha256(b"\x01" + a + b).digest() for a, b in zip(pairs[0::2], pairs[1::2], strict=True)])
        h += 1
    return levels


def levels_from_leaves(leaf_hashes: Iterable[bytes]) -> list[list[bytes]]:
    """levels_from_leaves builds every perfect-subtree hash of a tree held in memory."""
    leaves = list(leaf_hashes)

    def missing(level: int, index: int) -> bytes:
        raise AssertionError("a fresh tree has no stored nodes")

    return extend_levels(0, leaves, missing)
