"""Append-only, crash-safe files of one ledger.

Files in a ledger directory (all documented in docs/ledger.md):

* ``entries.jsonl``  every entry's exact leaf bytes, each followed by ``\\n``.
* ``entries.idx``    8-byte big-endian end offset (after the ``\\n``) per entry.
* ``tree.hashes``    every perfect-subtree hash, 32 bytes each, in post-order:
  node (level h, index i) sits at position 2**(h+1)*(i+1) - popcount(i+1) - 1 - tz(i+1).
* ``index/run-*.idx`` sorted runs mapping record hash -> leaf index (ledger.index).
* ``STATE``          the committed state: canonical JSON of size, root, byte
  length of entries.jsonl and the live index runs. Replaced atomically.
* ``LOCK``           held (flock) by the one writer.

Guarantees: a batch append is all-or-nothing. Data files are appended and
fsynced first, then STATE is replaced atomically (write, fsync, rename,
fsync directory). Anything past what STATE commits is ignored by readers and
truncated by the next writer, so after a crash at any point the ledger
reopens at the last committed batch. Readers never take a lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ledger import index as run_index
from ledger.verify import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

FORMAT = "datanets-ledger/1"
ENTRIES, OFFSETS, HASHES, STATE, LOCK, INDEX_DIR = (
    "entries.jsonl",
    "entries.idx",
    "tree.hashes",
    "STATE",
    "LOCK",
    "index",
)


class LedgerError(Exception):
    """Base class of ledger storage errors."""


class LedgerBusyError(LedgerError):
    """Another process holds the ledger's writer lock."""


class LedgerCorruptError(LedgerError):
    """Stored files disagree with the committed state."""


class DuplicateRecordError(LedgerError):
    """An appended entry's record hash is already in the ledger (or twice in the batch)."""


def node_position(level: int, index: int) -> int:
    """node_position returns the post-order hash position of node (level, index).

    The node is completed by leaf number c = (index + 1) * 2**level; after
    that leaf 2c - popcount(c) hashes exist, and the last tz(index + 1) of
    them are its ancestors completed by the same leaf.
    """
    n = index + 1
    trailing_zeros = (n & -n).bit_length() - 1
    return (1 << (level + 1)) * n - bin(n).count("1") - 1 - trailing_zeros


def hash_count(size: int) -> int:
    """hash_count returns how many hashes a tree of ``size`` leaves stores."""
    return 2 * size - bin(size).count("1")


@dataclass
class State:
    """The committed state recorded in STATE."""

    size: int = 0
    root: str = EMPTY_ROOT.hex()
    entries_bytes: int = 0
    runs: list[list[object]] = field(default_factory=list)  # [[file name, record count], ...]

    def encode(self) -> bytes:
        body = {
            "format": FORMAT,
            "size": self.size,
            "root": self.root,
            "entries_bytes": self.entries_bytes,
            "runs": self.runs,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> State:
        try:
            body = json.loads(data)
            state = cls(
                int(body["size"]),
                str(body["root"]),
                int(body["entries_bytes"]),
                [[str(n), int(c)] for n, c in body["runs"]],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerCorruptError(f"{STATE}: not a valid state file ({exc})") from None
        if body.get("format") != FORMAT or state.encode() != data:
            raise LedgerCorruptError(f"{STATE}: not the canonical encoding of a {FORMAT} state")
        return state


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """write_atomic replaces ``path`` with ``data`` durably (temp file, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Store:
    """Reads (and, with ``writer=True``, appends to) the files of one ledger directory."""

    def __init__(self, path: Path | str, writer: bool = False, create: bool = False) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._files: dict[str, int] = {}
        self._runs: dict[str, np.ndarray] = {}
        if create:
            (self.path / INDEX_DIR).mkdir(parents=True, exist_ok=True)
            if not (self.path / STATE).exists():
                for name in (ENTRIES, OFFSETS, HASHES):
                    (self.path / name).touch()
                write_atomic(self.path / STATE, State().encode())
        if not (self.path / STATE).exists():
            raise LedgerError(f"{self.path} is not a ledger (no {STATE} file)")
        if writer:
            self._lock()
            self.state = self.read_state()
            self._recover()
        else:
            self.state = self.read_state()

    # -- opening, locking, recovery ------------------------------------------------

    def _lock(self) -> None:
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LedgerBusyError(f"another process is writing to the ledger at {self.path}") from None
            raise
        self._lock_fd = fd

    def close(self) -> None:
        """close releases file handles and the writer lock."""
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
        self._runs.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_state(self) -> State:
        """read_state reads the committed STATE file."""
        return State.decode((self.path / STATE).read_bytes())

    def _recover(self) -> None:
        """Truncate every data file to the committed state and drop unlisted runs."""
        s = self.state
        want = {ENTRIES: s.entries_bytes, OFFSETS: 8 * s.size, HASHES: HASH_SIZE * hash_count(s.size)}
        for name, length in want.items():
            p = self.path / name
            actual = p.stat().st_size
            if actual < length:
                raise LedgerCorruptError(f"{name}: {actual} bytes, but STATE commits {length}")
            if actual > length:
                with open(p, "r+b") as f:
                    f.truncate(length)
                    os.fsync(f.fileno())
        live = {str(n) for n, _ in s.runs}
        for p in (self.path / INDEX_DIR).iterdir():
            if p.name not in live:
                p.unlink()
        for p in self.path.glob("*.tmp"):
            p.unlink()

    # -- reading --------------------------------------------------------------------

    def _fd(self, name: str) -> int:
        if name not in self._files:
            self._files[name] = os.open(self.path / name, os.O_RDONLY)
        return self._files[name]

    def _pread(self, name: str, length: int, offset: int) -> bytes:
        data = os.pread(self._fd(name), length, offset)
        if len(data) != length:
            raise LedgerCorruptError(f"{name}: short read of {length} bytes at offset {offset}")
        return data

    def node(self, level: int, index: int) -> bytes:
        """node returns the stored hash of the perfect subtree (level, index)."""
        return self._pread(HASHES, HASH_SIZE, HASH_SIZE * node_position(level, index))

    def entry_range(self, start: int, end: int) -> Iterator[bytes]:
        """entry_range yields the leaf bytes of entries [start, end) in order."""
        if not 0 <= start <= end <= self.state.size:
            raise IndexError(f"entries {start}..{end} are outside the ledger (size {self.state.size})")
        if start == end:
            return
        if start == 0:
            raw = b"\0" * 8 + self._pread(OFFSETS, 8 * end, 0)
        else:
            raw = self._pread(OFFSETS, 8 * (end - start + 1), 8 * (start - 1))
        offs = np.frombuffer(raw, dtype=">u8")
        blob = self._pread(ENTRIES, int(offs[-1] - offs[0]), int(offs[0]))
        base = int(offs[0])
        for i in range(end - start):
            yield blob[int(offs[i]) - base : int(offs[i + 1]) - base - 1]

    def entry(self, index: int) -> bytes:
        """entry returns the exact leaf bytes of entry ``index``."""
        return next(self.entry_range(index, index + 1))

    def _run(self, name: str) -> np.ndarray:
        if name not in self._runs:
            self._runs[name] = run_index.load_run(self.path / INDEX_DIR / name)
        return self._runs[name]

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, int]:
        """lookup maps 32-byte record hashes to leaf indexes (absent keys are left out)."""
        try:
            return run_index.lookup([self._run(str(n)) for n, _ in self.state.runs], keys)
        except FileNotFoundError:  # a writer merged runs since we read STATE
            self.state = self.read_state()
            self._runs.clear()
            return run_index.lookup([self._run(str(n)) for n, _ in self.state.runs], keys)

    # -- appending ------------------------------------------------------------------

    def _peaks(self) -> list[bytes]:
        size, peaks, pos = self.state.size, [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                peaks.append(self.node(level, pos >> level))
                pos += 1 << level
        return peaks

    def append(self, entries: Sequence[bytes], keys: Sequence[bytes | None]) -> State:
        """append durably adds entries as one all-or-nothing batch and returns the new state.

        ``keys[i]`` is the 32-byte record hash to index for entry i, or None.
        Raises DuplicateRecordError (and writes nothing) if a key is already
        indexed or repeated in the batch.
        """
        if self._lock_fd is None:
            raise LedgerError("this ledger was opened read-only")
        new_keys = [(k, self.state.size + i) for i, k in enumerate(keys) if k is not None]
        self._check_unique([k for k, _ in new_keys])
        hashes, root = self._hash_batch(entries)
        offsets = np.cumsum([len(e) + 1 for e in entries], dtype=np.int64) + self.state.entries_bytes
        self._append_file(ENTRIES, b"".join(e + b"\n" for e in entries))
        self._append_file(OFFSETS, offsets.astype(">u8").tobytes())
        self._append_file(HASHES, hashes)
        runs = self._add_run(new_keys)
        new = State(
            self.state.size + len(entries),
            root.hex(),
            int(offsets[-1]) if len(entries) else self.state.entries_bytes,
            runs,
        )
        write_atomic(self.path / STATE, new.encode())
        old_runs = {str(n) for n, _ in self.state.runs} - {str(n) for n, _ in runs}
        self.state = new
        for name in old_runs:
            self._runs.pop(name, None)
            (self.path / INDEX_DIR / name).unlink()
        return new

    def _check_unique(self, keys: list[bytes]) -> None:
        if len(set(keys)) != len(keys):
            seen: set[bytes] = set()
            dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise DuplicateRecordError(f"record hash {dup.hex()} appears twice in one batch")
        found = self.lookup(keys)
        if found:
            k, i = next(iter(found.items()))
            raise DuplicateRecordError(f"record hash {k.hex()} is already in the ledger at index {i}")

    def _hash_batch(self, entries: Sequence[bytes]) -> tuple[bytes, bytes]:
        """Return the post-order hashes the batch adds and the new root."""
        peaks, out, size = self._peaks(), bytearray(), self.state.size
        for e in entries:
            h = leaf_hash(e)
            out += h
            size += 1
            n = size
            while not n & 1:
                h = node_hash(peaks.pop(), h)
                out += h
                n >>= 1
            peaks.append(h)
        if not peaks:
            return bytes(out), EMPTY_ROOT
        root = peaks[-1]
        for p in reversed(peaks[:-1]):
            root = node_hash(p, root)
        return bytes(out), root

    def _append_file(self, name: str, data: bytes) -> None:
        with open(self.path / name, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def _add_run(self, new_keys: list[tuple[bytes, int]]) -> list[list[object]]:
        runs = [list(r) for r in self.state.runs]
        if not new_keys:
            return runs
        seq = 1 + max((int(str(n)[4:12]) for n, _ in runs), default=0)
        run = run_index.sorted_run([k for k, _ in new_keys], [i for _, i in new_keys])
        merged: list[np.ndarray] = [run]
        while run_index.plan_merge([int(str(c)) for _, c in runs] + [len(merged[-1])]):
            older = runs.pop()
            merged[-1] = run_index.merge_runs(self._run(str(older[0])), merged[-1])
        name = f"run-{seq:08d}.idx"
        run_index.write_run(self.path / INDEX_DIR / name, merged[-1])
        _fsync_dir(self.path / INDEX_DIR)
        runs.append([name, len(merged[-1])])
        return runs
