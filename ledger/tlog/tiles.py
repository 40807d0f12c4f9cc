"""A ledger as a C2SP tlog-tiles tree: static files anyone can serve and mirror.

Layout under an output directory (c2sp.org/tlog-tiles)::

    checkpoint                      the latest signed checkpoint (with any cosignatures)
    tile/<L>/<N>                    a full tile: 256 hashes of 32 bytes
    tile/<L>/<N>.p/<W>              a partial tile of W (1..255) hashes
    tile/entries/<N>[.p/<W>]        entry bundles: each entry as uint16 BE length || bytes

Hash ``i`` of tile ``(L, N)`` is MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L]),
the stored perfect-subtree hash at level ``8L``, index ``N*256 + i``.
``N`` is written in zero-padded 3-digit groups, all but the last prefixed
with ``x`` (1234067 -> ``x001/x234/067``).

Guarantees of ``write_tiles``: every file is written atomically (temp file,
fsync, rename); tiles and bundles are written before ``checkpoint``, so a
reader never sees a checkpoint whose tiles are missing; full tiles are never
rewritten; partial tiles of earlier sizes are kept (the spec allows either),
so clients holding an older checkpoint can still read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ledger.log import Ledger
from ledger.storage import LedgerError, write_atomic
from ledger.tree import NodeReader
from ledger.verify import HASH_SIZE, FormatError, parse_checkpoint_text, split_note

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY = 0xFFFF
CHECKPOINT = "checkpoint"
PUBLISHED = "published-checkpoint"


class TilesError(LedgerError):
    """A tiles directory cannot be written or disagrees with the ledger."""


class EntryTooLargeError(TilesError):
    """An entry is longer than an entry bundle's uint16 length prefix can express."""


@dataclass(frozen=True)
class TileRef:
    """One tile of a tree: ``level`` (or -1 for an entry bundle), ``index`` and ``width`` (1..256)."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        return entries_path(self.index, self.width) if self.level < 0 else tile_path(self.level, self.index, self.width)


def encode_index(n: int) -> str:
    """encode_index writes a tile index as x-prefixed 3-digit path elements (1234067 -> x001/x234/067)."""
    if n < 0:
        raise ValueError(f"tile index {n} is negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not in 1..{TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """tile_path returns ``tile/<L>/<N>[.p/<W>]`` for a Merkle tree tile."""
    if not 0 <= level <= 63:
        raise ValueError(f"tile level {level} is not in 0..63")
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """entries_path returns ``tile/entries/<N>[.p/<W>]`` for an entry bundle."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def tiles_for_size(size: int, level: int) -> list[TileRef]:
    """tiles_for_size lists every tile at ``level`` of a tree of ``size`` leaves, in index order.

    The full tiles, then the partial one of width floor(size / 256**L) mod 256
    if that is not zero (empty tiles do not exist).
    """
    hashes = size >> (TILE_HEIGHT * level)
    refs = [TileRef(level, n, TILE_WIDTH) for n in range(hashes // TILE_WIDTH)]
    if hashes % TILE_WIDTH:
        refs.append(TileRef(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
    return refs


def tree_levels(size: int) -> int:
    """tree_levels returns how many tile levels a tree of ``size`` leaves has (0 for the empty tree)."""
    levels = 0
    while size >> (TILE_HEIGHT * levels):
        levels += 1
    return levels


def tile_hashes(node: NodeReader, ref: TileRef) -> bytes:
    """tile_hashes returns the content of a Merkle tile: its ``width`` hashes, concatenated."""
    first = ref.index * TILE_WIDTH
    return b"".join(node(TILE_HEIGHT * ref.level, first + i) for i in range(ref.width))


def entry_bundle(entries: Iterable[bytes], first_index: int = 0) -> bytes:
    """entry_bundle concatenates entries, each prefixed by its big-endian uint16 length.

    Raises EntryTooLargeError (naming the entry's index) for an entry over 65535 bytes.
    """
    out = bytearray()
    for i, e in enumerate(entries, first_index):
        if len(e) > MAX_ENTRY:
            raise EntryTooLargeError(
                f"entry {i} is {len(e)} bytes; tlog-tiles entry bundles hold at most {MAX_ENTRY} bytes per entry"
            )
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """parse_entry_bundle splits an entry bundle into entries; raises FormatError if truncated."""
    out, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise FormatError("entry bundle ends inside a length prefix")
        n = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + n > len(data):
            raise FormatError("entry bundle ends inside an entry")
        out.append(data[at + 2 : at + 2 + n])
        at += 2 + n
    return out


def split_hashes(tile: bytes) -> list[bytes]:
    """split_hashes cuts a tile into its 32-byte hashes; raises FormatError on a ragged length."""
    if len(tile) % HASH_SIZE:
        raise FormatError(f"tile of {len(tile)} bytes is not a whole number of hashes")
    return [tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)]


def note_size(note: str) -> int:
    """note_size returns the tree size of a checkpoint note (signatures unchecked)."""
    return parse_checkpoint_text(split_note(note)[0]).size


def publishable_checkpoint(led: Ledger) -> str | None:
    """publishable_checkpoint returns the cosigned checkpoint if it is the latest one, else the latest signed one."""
    latest = led.latest_checkpoint()
    published = led.path / PUBLISHED
    if latest is not None and published.exists():
        cosigned = published.read_text(encoding="utf-8")
        if split_note(cosigned)[0] == split_note(latest)[0]:
            return cosigned
    return latest


def new_tiles(old_size: int, size: int) -> Iterator[TileRef]:
    """new_tiles lists the tiles and bundles of ``size`` that a tree of ``old_size`` did not have in full.

    Entry bundles (level -1) follow their level-0 tile.
    """
    for level in range(tree_levels(size)):
        first = old_size >> (TILE_HEIGHT * (level + 1))
        for ref in tiles_for_size(size, level)[first:]:
            yield ref
            if level == 0:
                yield TileRef(-1, ref.index, ref.width)


def tile_content(led: Ledger, ref: TileRef) -> bytes:
    """tile_content returns the bytes of a tile or entry bundle of the ledger's tree."""
    if ref.level >= 0:
        return tile_hashes(led.store.node, ref)
    lo = ref.index * TILE_WIDTH
    return entry_bundle(led.entries(lo, lo + ref.width), lo)


def _previous_size(out: Path, led: Ledger, note: str) -> int:
    """The size of the checkpoint already in ``out`` (0 if none); raises TilesError if it is not ours."""
    p = out / CHECKPOINT
    if not p.exists():
        return 0
    old = parse_checkpoint_text(split_note(p.read_text(encoding="utf-8"))[0])
    new = parse_checkpoint_text(split_note(note)[0])
    if old.origin != new.origin or old.size > new.size or led.root_at(old.size) != old.root:
        raise TilesError(f"{p} is not a checkpoint of this ledger's tree ({old.origin} at size {old.size})")
    return old.size


def write_tiles(ledger: Ledger | Path | str, out_dir: Path | str) -> list[str]:
    """write_tiles writes (incrementally) the tlog-tiles tree of the ledger's latest signed checkpoint.

    The checkpoint written is ``published-checkpoint`` (with cosignatures) when
    it is the latest signed one, else the latest signed checkpoint. Only tiles
    that are new since the checkpoint already in ``out_dir`` are written.
    Returns the relative paths written (``checkpoint`` last). Raises
    TilesError if the ledger has no checkpoint, ``out_dir`` holds another
    log, or an entry is too large for a bundle (then no checkpoint is written).
    """
    led = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
    try:
        note = publishable_checkpoint(led)
        if note is None:
            raise TilesError(f"the ledger at {led.path} has no signed checkpoint yet")
        out = Path(out_dir)
        size = note_size(note)
        old_size = _previous_size(out, led, note)
        written = []
        for ref in new_tiles(old_size, size):
            target = out / ref.path
            if target.exists():  # a tile (full or partial) never changes once written
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, tile_content(led, ref))
            written.append(ref.path)
        if not (out / CHECKPOINT).exists() or (out / CHECKPOINT).read_text(encoding="utf-8") != note:
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(out / CHECKPOINT, note.encode())
            written.append(CHECKPOINT)
        return written
    finally:
        if led is not ledger:
            led.close()
