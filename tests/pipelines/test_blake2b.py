"""The compiled keyed BLAKE2b shingle digests against hashlib's, one shingle at a time."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.stages.dedup.blake2b import shingle_digests


def _by_hashlib(text: str, size: int, key: bytes) -> list[int]:
    """The definition: each word ``size``-gram joined by one space, hashed with hashlib; sorted, distinct."""
    words = text.split()
    grams = [words[i : i + size] for i in range(max(1, len(words) - size + 1))]
    return sorted(
        {
            int.from_bytes(hashlib.blake2b(" ".join(g).encode(), digest_size=8, key=key).digest(), "little")
            for g in grams
        }
    )


def _per_text(texts: list[str], size: int, key: bytes) -> list[list[int]]:
    flat, counts = shingle_digests(texts, size, key)
    assert flat.dtype == np.uint64 and counts.sum() == len(flat)
    return [part.tolist() for part in np.split(flat, np.cumsum(counts)[:-1])] if texts else []


_WORD = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
_GAP = st.sampled_from([" ", "  ", "\n", "\t", "\xa0", "\u2028", "\x1c", "\u3000", " \r\n "])
_TEXT = st.lists(st.tuples(_WORD, _GAP), max_size=25).map(lambda parts: "".join(w + g for w, g in parts))


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, max_size=6), st.integers(1, 7), st.binary(max_size=64))
def test_every_text_gets_hashlibs_digests(texts: list[str], size: int, key: bytes) -> None:
    """A batch of arbitrary texts, sizes and keys (unkeyed included): each text's share is the definition."""
    assert _per_text(texts, size, key) == [_by_hashlib(t, size, key) for t in texts]


@pytest.mark.parametrize("length", [0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000])
def test_shingles_of_every_block_boundary(length: int) -> None:
    """Shingles that end just before, on and after a 128-byte block boundary, and the empty text."""
    text = " ".join(["é" * (length // 2)] + ["x" * length] * 3) if length else ""
    for size in (1, 2, 5):
        assert _per_text([text, "a b", text], size, b"salt") == [
            _by_hashlib(t, size, b"salt") for t in (text, "a b", text)
        ]


def test_repeated_shingles_are_counted_once() -> None:
    text = "a b a b a b a b"
    assert _per_text([text], 2, b"k") == [_by_hashlib(text, 2, b"k")]
    assert len(_per_text([text], 2, b"k")[0]) == 2


def test_a_key_longer_than_blake2b_allows_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 64 bytes"):
        shingle_digests(["a"], 5, b"k" * 65)
