"""RFC 9162 section 2.1, written as literally as possible.

This is the reference the fast code in ``ledger.tree`` and ``ledger.storage``
is tested against. Each method is one of the RFC's recursive definitions
over D[lo:hi] (a slice of the leaf inputs); the only addition is a memo of
MTH results, which does not change any result. Never used at run time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


class ReferenceTree:
    """MTH, PATH and PROOF of RFC 9162 over a fixed list of leaf inputs."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.d = list(leaves)
        self._memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) (section 2.1.1)."""
        if (lo, hi) not in self._memo:
            n = hi - lo
            if n == 0:
                value = hashlib.sha256(b"").digest()
            elif n == 1:
                value = hashlib.sha256(b"\x00" + self.d[lo]).digest()
            else:
                k = _k(n)
                value = hashlib.sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()
            self._memo[(lo, hi)] = value
        return self._memo[(lo, hi)]

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]) (section 2.1.3.1): the audit path of leaf m of the slice."""
        n = hi - lo
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return self.path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(m - k, lo + k, hi) + [self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], b) (section 2.1.4.1)."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _k(n)
        if m <= k:
            return self.subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return self.subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[0:n]) (section 2.1.4.1): consistency of the first m of n leaves."""
        return self.subproof(m, 0, n, True)


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over all the given leaves."""
    return ReferenceTree(leaves).mth(0, len(leaves))
