"""tlog-tiles: path encoding and tile contents byte for byte, against the spec's examples and the RFC reference."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ledger.checkpoint import Signer
from ledger.log import Ledger
from ledger.testonly.reference import ReferenceTree
from ledger.tlog import tiles
from ledger.tree import levels_from_leaves
from ledger.verify import FormatError, leaf_hash

from .tlog_fixtures import grow


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_encode_index_follows_the_spec(n: int, want: str) -> None:
    assert tiles.encode_index(n) == want


def test_tile_and_bundle_paths() -> None:
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tiles.entries_path(1234067, 1) == "tile/entries/x001/x234/067.p/1"
    assert tiles.entries_path(0) == "tile/entries/000"
    for bad in ((0, 0, 0), (0, 0, 257), (64, 0, 256), (0, -1, 256)):
        with pytest.raises(ValueError):
            tiles.tile_path(*bad)


def test_the_spec_examples_of_which_tiles_a_tree_has() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of
    # width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile
    # of width 1."
    l0, l1, l2 = (tiles.tiles_for_size(70_000, lvl) for lvl in range(3))
    assert [t.width for t in l0] == [256] * 273 + [112]
    assert [t.width for t in l1] == [256, 17] and [t.width for t in l2] == [1]
    assert tiles.tree_levels(70_000) == 3 and tiles.tiles_for_size(70_000, 3) == []
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert [(t.level, t.width) for lvl in range(2) for t in tiles.tiles_for_size(256, lvl)] == [(0, 256), (1, 1)]
    assert tiles.tree_levels(0) == 0


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 700])
def test_tile_hashes_are_the_rfc_subtree_hashes(size: int) -> None:
    data = [f"leaf {i}".encode() for i in range(size)]
    levels = levels_from_leaves(leaf_hash(d) for d in data)
    ref = ReferenceTree(data)
    for level in range(tiles.tree_levels(size)):
        span = 256**level
        for t in tiles.tiles_for_size(size, level):
            got = tiles.tile_hashes(lambda h, i: levels[h][i], t)
            first = t.index * 256
            want = b"".join(ref.mth((first + i) * span, (first + i + 1) * span) for i in range(t.width))
            assert got == want, (size, t)


def test_entry_bundles_are_uint16_length_prefixed() -> None:
    assert tiles.entry_bundle([b"ab", b"", b"\xff" * 3]) == b"\x00\x02ab\x00\x00\x00\x03\xff\xff\xff"
    big = b"x" * 65535
    assert tiles.entry_bundle([big])[:2] == b"\xff\xff"
    assert tiles.parse_entry_bundle(tiles.entry_bundle([b"ab", b"", big])) == [b"ab", b"", big]
    with pytest.raises(tiles.EntryTooLargeError, match="entry 9 is 65536 bytes"):
        tiles.entry_bundle([b"y" * 65536], first_index=9)
    with pytest.raises(FormatError):
        tiles.parse_entry_bundle(b"\x00\x05abc")


def test_write_tiles_for_a_small_ledger(small_ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    written = tiles.write_tiles(small_ledger, out)
    assert written == ["tile/0/000.p/23", "tile/entries/000.p/23", "checkpoint"]
    with Ledger(small_ledger) as led:
        entries = list(led.entries())
        assert (out / "checkpoint").read_text() == led.latest_checkpoint()
    assert (out / "tile/0/000.p/23").read_bytes() == b"".join(hashlib.sha256(b"\0" + e).digest() for e in entries)
    assert tiles.parse_entry_bundle((out / "tile/entries/000.p/23").read_bytes()) == entries
    assert tiles.write_tiles(small_ledger, out) == []


def test_write_tiles_is_incremental_and_keeps_full_tiles(tmp_path: Path, signer: Signer) -> None:
    path, out = tmp_path / "ledger", tmp_path / "tiles"
    grow(path, signer, [300])
    assert tiles.write_tiles(path, out) == [
        "tile/0/000", "tile/entries/000", "tile/0/001.p/44", "tile/entries/001.p/44", "tile/1/000.p/1", "checkpoint",
    ]  # fmt: skip
    full = (out / "tile/0/000").stat().st_mtime_ns
    grow(path, signer, [600])
    assert tiles.write_tiles(path, out) == [
        "tile/0/001", "tile/entries/001", "tile/0/002.p/88", "tile/entries/002.p/88", "tile/1/000.p/2", "checkpoint",
    ]  # fmt: skip
    assert (out / "tile/0/000").stat().st_mtime_ns == full
    assert (out / "tile/0/001.p/44").exists()  # the old size's partial tile stays for older clients


def test_write_tiles_refuses_another_logs_directory(tmp_path: Path, signer: Signer) -> None:
    grow(tmp_path / "a", signer, [5])
    grow(tmp_path / "b", signer, [7], start=100)
    tiles.write_tiles(tmp_path / "a", tmp_path / "tiles")
    with pytest.raises(tiles.TilesError, match="not a checkpoint of this ledger"):
        tiles.write_tiles(tmp_path / "b", tmp_path / "tiles")


def test_write_tiles_needs_a_checkpoint(tmp_path: Path) -> None:
    Ledger(tmp_path / "l", writer=True, create=True).close()
    with pytest.raises(tiles.TilesError, match="no signed checkpoint"):
        tiles.write_tiles(tmp_path / "l", tmp_path / "tiles")
