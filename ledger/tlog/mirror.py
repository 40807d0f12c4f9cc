"""Mirror a served tlog-tiles log and check it: ``mirror(url, out_dir, vkey)``.

Each call fetches ``<url>/checkpoint``, verifies its signature with the
log's vkey (and, if asked, a quorum of witness cosignatures), fetches the
tiles and entry bundles that are new since the last mirrored checkpoint,
and checks, before keeping anything:

* every entry bundle hashes (RFC 9162 leaf hashes) to its level-0 tile;
* every hash of a new tile at level L >= 1 is the Merkle root of the full
  tile it covers at level L - 1;
* the root recomputed from the tiles equals the checkpoint's root;
* the root of the previously mirrored size, recomputed from the same tiles,
  equals that checkpoint's root (otherwise ``MirrorForkError``), and the log
  did not shrink (``MirrorRollbackError``). Tiles already mirrored are
  trusted and not fetched again, so a log that forked below the mirrored
  size usually fails the root check first (``TileMismatchError``).

Then the new files are written atomically, ``checkpoint`` last, so
``out_dir`` is always a complete, verified tiles tree that ``ledger.tlog.serve``
can serve in turn.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ledger import tree
from ledger.storage import LedgerError, write_atomic
from ledger.tlog.tiles import (
    CHECKPOINT,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileRef,
    new_tiles,
    parse_entry_bundle,
    split_hashes,
    tile_path,
)
from ledger.verify import (
    EMPTY_ROOT,
    HASH_SIZE,
    Checkpoint,
    ProofError,
    leaf_hash,
    node_hash,
    parse_verifier_key,
    parse_witness_key,
    verify_checkpoint,
    verify_quorum,
)

TIMEOUT = 30.0


class MirrorError(LedgerError):
    """A served log could not be fetched or does not verify."""


class TileMismatchError(MirrorError):
    """A tile or entry bundle disagrees with the others or with the signed root."""


class MirrorRollbackError(MirrorError):
    """The served checkpoint is smaller than the one mirrored before."""


class MirrorForkError(MirrorError):
    """The served tree does not extend the previously mirrored checkpoint."""


def fetch(url: str, timeout: float = TIMEOUT) -> bytes:
    """fetch GETs ``url``; raises MirrorError for any failure or non-200 answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        raise MirrorError(f"GET {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise MirrorError(f"GET {url}: unreachable ({getattr(exc, 'reason', exc)})") from None


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """subtree_root returns the Merkle root of a power-of-two count of hashes (a full tile)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(a, b) for a, b in zip(level[0::2], level[1::2], strict=True)]
    return level[0]


class _Tiles:
    """The tiles of one tree size: freshly fetched ones first, then verified local copies."""

    def __init__(self, out: Path, size: int, fetched: dict[str, bytes]) -> None:
        self.out, self.size, self.fetched = out, size, fetched
        self._cache: dict[str, list[bytes]] = {}

    def hashes(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile (level, index) at this size (full or partial)."""
        hashes_at_level = self.size >> (TILE_HEIGHT * level)
        full = index < hashes_at_level // TILE_WIDTH
        path = tile_path(level, index, TILE_WIDTH if full else hashes_at_level % TILE_WIDTH)
        if path not in self._cache:
            data = self.fetched.get(path)
            if data is None:
                try:
                    data = (self.out / path).read_bytes()
                except FileNotFoundError:
                    raise TileMismatchError(f"tile {path} is needed but neither served nor mirrored") from None
            self._cache[path] = split_hashes(data)
        return self._cache[path]

    def node(self, level: int, index: int) -> bytes:
        """node is a ``tree.NodeReader`` over the tiles (levels between tile levels are rehashed)."""
        if level % TILE_HEIGHT == 0:
            return self.hashes(level // TILE_HEIGHT, index // TILE_WIDTH)[index % TILE_WIDTH]
        return node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))

    def root(self, size: int) -> bytes:
        return tree.root(self.node, size) if size else EMPTY_ROOT


def _check_shapes(refs: Sequence[TileRef], tiles: _Tiles) -> None:
    """Each fetched tile holds exactly ``width`` hashes; each fetched bundle hashes to its level-0 tile."""
    for ref in refs:
        data = tiles.fetched[ref.path]
        if ref.level >= 0 and len(data) != ref.width * HASH_SIZE:
            raise TileMismatchError(f"tile {ref.path} is {len(data)} bytes, want {ref.width * HASH_SIZE}")
        if ref.level < 0:
            try:
                leaves = b"".join(leaf_hash(e) for e in parse_entry_bundle(data))
            except ProofError as exc:
                raise TileMismatchError(f"entry bundle {ref.path}: {exc}") from None
            if leaves != b"".join(tiles.hashes(0, ref.index)):
                raise TileMismatchError(f"entry bundle {ref.path} does not hash to its level-0 tile")


def _check_levels(refs: Sequence[TileRef], tiles: _Tiles) -> None:
    """Every hash of a fetched tile at level >= 1 is the root of the full tile below it."""
    for ref in refs:
        if ref.level < 1:
            continue
        for i, h in enumerate(tiles.hashes(ref.level, ref.index)):
            below = tiles.hashes(ref.level - 1, ref.index * TILE_WIDTH + i)
            if len(below) != TILE_WIDTH or subtree_root(below) != h:
                raise TileMismatchError(f"tile {ref.path} hash {i} is not the root of the tile below it")


def _verify_checkpoint(note: str, vkey: str, witnesses: Sequence[str], quorum: int) -> Checkpoint:
    cp = verify_checkpoint(note, parse_verifier_key(vkey))
    if quorum:
        verify_quorum(note, [parse_witness_key(w) for w in witnesses], quorum)
    return cp


def mirror(
    url: str,
    out_dir: Path | str,
    vkey: str,
    witnesses: Sequence[str] = (),
    quorum: int = 0,
    timeout: float = TIMEOUT,
) -> Checkpoint:
    """mirror brings ``out_dir`` up to the log served at ``url`` after checking everything (module docstring).

    ``witnesses`` are witness vkeys of which ``quorum`` must have cosigned
    the checkpoint. Returns the newly mirrored checkpoint. Raises ProofError
    (bad signature or quorum) or a MirrorError subclass; nothing is written
    unless every check passes.
    """
    base, out = url.rstrip("/"), Path(out_dir)
    note = fetch(f"{base}/{CHECKPOINT}", timeout).decode("utf-8")
    cp = _verify_checkpoint(note, vkey, witnesses, quorum)
    old = None
    if (out / CHECKPOINT).exists():
        old = verify_checkpoint((out / CHECKPOINT).read_text(encoding="utf-8"), parse_verifier_key(vkey))
        if cp.size < old.size:
            raise MirrorRollbackError(f"served checkpoint has size {cp.size}, below the mirrored size {old.size}")
        if cp.size == old.size and cp.root != old.root:
            raise MirrorForkError(f"served checkpoint at size {cp.size} has another root than the mirrored one")
    refs = [r for r in new_tiles(old.size if old else 0, cp.size) if not (out / r.path).exists()]
    fetched = {r.path: fetch(f"{base}/{r.path}", timeout) for r in refs}
    tiles = _Tiles(out, cp.size, fetched)
    _check_shapes(refs, tiles)
    _check_levels(refs, tiles)
    if tiles.root(cp.size) != cp.root:
        raise TileMismatchError(
            f"tiles give root {tiles.root(cp.size).hex()}, the checkpoint says {cp.root.hex()} "
            "(tampered tiles, or a log that forked from the mirrored tree)"
        )
    if old is not None and tiles.root(old.size) != old.root:
        raise MirrorForkError(f"served tree of size {cp.size} does not extend the mirrored one of size {old.size}")
    for path, data in fetched.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out / path, data)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / CHECKPOINT, note.encode())
    return cp
