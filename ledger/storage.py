"""Append-only, crash-safe files of one ledger.

Files in a ledger directory (all documented in docs/ledger.md):

* ``entries.jsonl``  every entry's exact leaf bytes, each followed by ``\\n``.
* ``entries.idx``    8-byte big-endian end offset (after the ``\\n``) per entry.
* ``tree.hashes``    every perfect-subtree hash, 32 bytes each, in post-order:
  node (level h, index i) sits at position 2**(h+1)*(i+1) - popcount(i+1) - 1 - tz(i+1).
* ``index/run-*.idx`` sorted runs mapping record hash -> leaf index (ledger.index).
* ``STATE``          the committed state: canonical JSON of size, root, byte
  length of entries.jsonl and the live index runs. Replaced atomically.
* ``LOCK``           held (flock) by the one writer; another writer waits for it
  up to ``wait`` seconds, polling with backoff, then raises ``LedgerBusyError``.

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
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256 as _sha256
from pathlib import Path

import numpy as np

from ledger import index as run_index
from ledger import tree
from ledger.verify import EMPTY_ROOT, HASH_SIZE

FORMAT = "datanets-ledger/1"
INDEX_EVERY = 100_000  # contributions held in memory before they are written as a sorted run
WRITER_WAIT = 60.0  # seconds a writing command waits for the writer lock by default (``--wait``)
_CONTRIBUTION = b'"kind":"contribution"'
_RECORD_HASH = b'"record_hash":"'


def contribution_key(entry: bytes) -> bytes | None:
    """contribution_key returns the 32-byte record hash of a canonical contribution entry, else None.

    Entries are canonical JSON, so both markers appear exactly once as keys
    (quotes inside string values are always escaped).
    """
    if _CONTRIBUTION not in entry:
        return None
    at = entry.find(_RECORD_HASH) + len(_RECORD_HASH)
    return bytes.fromhex(entry[at : at + 64].decode("ascii"))


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
    """Another process held the ledger's writer lock for longer than the caller would wait."""


class LedgerCorruptError(LedgerError):
    """Stored files disagree with the committed state."""


class DuplicateRecordError(LedgerError):
    """An appended entry's record hash is already in the ledger (or twice in the batch)."""


def busy_message(path: Path, wait: float) -> str:
    """busy_message is the one line a writer prints when the lock stayed taken for all of ``wait`` seconds."""
    waited = f"for {wait:g} s" if wait > 0 else "(not waiting: --wait 0)"
    return (
        f"another process is writing to the ledger at {path} (an ingest, attribute, index, usage or payout) "
        f"and held its writer lock {waited}; try again when it is done, or wait longer with --wait SECONDS"
    )


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
    indexed: int = 0  # 1 + the last leaf index held by the runs; later contributions are indexed in memory

    def encode(self) -> bytes:
        body = {
            "format": FORMAT,
            "size": self.size,
            "root": self.root,
            "entries_bytes": self.entries_bytes,
            "runs": self.runs,
            "indexed": self.indexed,
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
                int(body["indexed"]),
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

    def __init__(self, path: Path | str, writer: bool = False, create: bool = False, wait: float = 0.0) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._files: dict[str, int] = {}
        self._runs: dict[str, run_index.Run] = {}
        self._pending: dict[bytes, int] = {}
        self._pending_at = (-1, -1)
        self._executor: ThreadPoolExecutor | None = None
        if create:
            (self.path / INDEX_DIR).mkdir(parents=True, exist_ok=True)
            if not (self.path / STATE).exists():
                for name in (ENTRIES, OFFSETS, HASHES):
                    (self.path / name).touch()
                write_atomic(self.path / STATE, State().encode())
        if not (self.path / STATE).exists():
            raise LedgerError(f"{self.path} is not a ledger (no {STATE} file)")
        if writer:
            self._lock(wait)
            self.state = self.read_state()
            self._recover()
        else:
            self.state = self.read_state()

    # -- opening, locking, recovery ------------------------------------------------

    def _lock(self, wait: float) -> None:
        """Take the writer lock, polling with backoff (50 ms doubling to 1 s) for up to ``wait`` seconds."""
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline, delay = time.monotonic() + max(wait, 0.0), 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                left = deadline - time.monotonic()
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or left <= 0:
                    os.close(fd)
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise LedgerBusyError(busy_message(self.path, wait)) from None
                    raise
                time.sleep(min(delay, left))
                delay = min(2 * delay, 1.0)
        self._lock_fd = fd

    def close(self) -> None:
        """close releases file handles and the writer lock."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
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

    def _run(self, name: str) -> run_index.Run:
        if name not in self._runs:
            self._runs[name] = run_index.load_run(self.path / INDEX_DIR / name)
        return self._runs[name]

    def pending(self) -> dict[bytes, int]:
        """pending maps the record hashes of contributions past ``state.indexed`` to their leaves.

        Rebuilt from ``entries.jsonl`` when the state moves on; bounded by
        ``INDEX_EVERY`` entries, since the writer then flushes them to a run.
        """
        at = (self.state.indexed, self.state.size)
        if self._pending_at != at:
            self._pending = {}
            for i, e in enumerate(self.entry_range(self.state.indexed, self.state.size), self.state.indexed):
                key = contribution_key(e)
                if key is not None:
                    self._pending[key] = i
            self._pending_at = at
        return self._pending

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, int]:
        """lookup maps 32-byte record hashes to leaf indexes (absent keys are left out)."""
        try:
            found = run_index.lookup([self._run(str(n)) for n, _ in self.state.runs], keys)
        except FileNotFoundError:  # a writer merged runs since we read STATE
            self.state = self.read_state()
            self._runs.clear()
            found = run_index.lookup([self._run(str(n)) for n, _ in self.state.runs], keys)
        pending = self.pending()
        found.update({k: pending[k] for k in keys if k in pending})
        return found

    # -- appending ------------------------------------------------------------------

    def append(self, entries: Sequence[bytes], keys: Sequence[bytes | None]) -> State:
        """append durably adds entries as one all-or-nothing batch and returns the new state.

        ``keys[i]`` is the 32-byte record hash to index for entry i, or None.
        Raises DuplicateRecordError (and writes nothing) if a key is already
        indexed or repeated in the batch.
        """
        if self._lock_fd is None:
            raise LedgerError("this ledger was opened read-only")
        if not entries:
            return self.state
        size = self.state.size
        if None in keys:
            new_keys = {k: size + i for i, k in enumerate(keys) if k is not None}
        else:
            new_keys = dict(zip(keys, range(size, size + len(keys)), strict=True))  # type: ignore[arg-type]
        self._check_unique(new_keys, sum(k is not None for k in keys))
        pending = self.pending()
        self._pending_at = (-1, -1)  # rebuilt from committed entries if anything below fails
        blob = b"\n".join(entries) + b"\n"
        offsets = np.cumsum(np.fromiter(map(len, entries), dtype=np.int64, count=len(entries)) + 1)
        # The entries' write and fsync (I/O, no GIL) overlap with hashing (CPU); all data is
        # durable before STATE is replaced below.
        io = self._io().submit(
            self._append_files,
            [(ENTRIES, blob), (OFFSETS, (offsets + self.state.entries_bytes).astype(">u8").tobytes())],
        )
        try:
            hashes, root = self._hash_batch(entries)
            self._append_file(HASHES, hashes)
        finally:
            io.result()
        pending.update(new_keys)
        runs, indexed = self.state.runs, self.state.indexed
        if len(pending) >= INDEX_EVERY:
            runs, indexed = self._add_run(list(pending.items())), 1 + max(pending.values())
            pending = {}
        new = State(size + len(entries), root.hex(), self.state.entries_bytes + len(blob), runs, indexed)
        write_atomic(self.path / STATE, new.encode())
        old_runs = {str(n) for n, _ in self.state.runs} - {str(n) for n, _ in runs}
        self.state = new
        self._pending, self._pending_at = pending, (new.indexed, new.size)
        for name in old_runs:
            self._runs.pop(name, None)
            (self.path / INDEX_DIR / name).unlink()
        return new

    def _check_unique(self, new_keys: dict[bytes, int], count: int) -> None:
        if len(new_keys) != count:
            raise DuplicateRecordError("a record hash appears twice in one batch")
        clash = self.pending().keys() & new_keys.keys()
        found = {k: self.pending()[k] for k in clash} or run_index.lookup(
            [self._run(str(n)) for n, _ in self.state.runs], list(new_keys)
        )
        if found:
            k, i = next(iter(found.items()))
            raise DuplicateRecordError(f"record hash {k.hex()} is already in the ledger at index {i}")

    def _hash_batch(self, entries: Sequence[bytes]) -> tuple[bytes, bytes]:
        """Return the post-order hashes the batch adds and the new root.

        Hashes are computed a level at a time (``tree.extend_levels``), then
        scattered to their post-order positions with numpy.
        """
        old, new = self.state.size, self.state.size + len(entries)
        leaves = [_sha256(b"\x00" + e).digest() for e in entries]
        levels = tree.extend_levels(old, leaves, self.node)
        base = hash_count(old)
        out = np.empty((hash_count(new) - base, HASH_SIZE), dtype=np.uint8)
        for level, nodes in enumerate(levels):
            if nodes:
                first = old >> level
                n = np.arange(first + 1, first + 1 + len(nodes), dtype=np.int64)
                trailing = np.bitwise_count((n & -n) - 1)
                pos = (n << (level + 1)) - np.bitwise_count(n) - 1 - trailing
                out[pos - base] = np.frombuffer(b"".join(nodes), dtype=np.uint8).reshape(-1, HASH_SIZE)

        def reader(level: int, index: int) -> bytes:
            first = old >> level
            return levels[level][index - first] if index >= first else self.node(level, index)

        return out.tobytes(), tree.root(reader, new)

    def _io(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-io")
        return self._executor

    def _append_files(self, files: list[tuple[str, bytes]]) -> None:
        for name, data in files:
            self._append_file(name, data)

    def _append_file(self, name: str, data: bytes) -> None:
        with open(self.path / name, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def _add_run(self, new_keys: list[tuple[bytes, int]]) -> list[list[object]]:
        """Write ``new_keys`` as a sorted run (merging runs as planned); return the live runs."""
        runs = [list(r) for r in self.state.runs]
        seq = 1 + max((int(str(n)[4:12]) for n, _ in runs), default=0)
        run = run_index.sorted_run([k for k, _ in new_keys], [i for _, i in new_keys])
        while k := run_index.plan_merge([int(str(c)) for _, c in runs] + [len(run)]):
            merged_away, runs = runs[-(k - 1) :], runs[: -(k - 1)]
            run = run_index.merge_runs([self._run(str(n)) for n, _ in merged_away] + [run])
        name = f"run-{seq:08d}.idx"
        run_index.write_run(self.path / INDEX_DIR / name, run)
        _fsync_dir(self.path / INDEX_DIR)
        runs.append([name, len(run)])
        return runs
