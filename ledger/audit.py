"""Full audit of a ledger directory: every stored byte is recomputed or checked.

``audit`` reads the files directly (not through the fast paths it checks),
recomputes every leaf and interior hash from ``entries.jsonl``, and checks
offsets, the record index, STATE, the verifier key and every signed
checkpoint. It raises ``AuditError`` naming the first file and entry or
position that disagrees, and uses memory bounded by its batch size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ledger import index as run_index
from ledger import tree
from ledger.entries import EntryError, decode_entry, index_key
from ledger.log import CHECKPOINTS, LATEST, VKEY, checkpoint_file
from ledger.storage import ENTRIES, HASHES, INDEX_DIR, OFFSETS, STATE, LedgerError, State, node_position
from ledger.verify import EMPTY_ROOT, HASH_SIZE, ProofError, leaf_hash, node_hash, parse_verifier_key, verify_checkpoint


class AuditError(LedgerError):
    """A stored file disagrees with what its entries imply."""


@dataclass(frozen=True)
class AuditReport:
    """What an audit checked."""

    size: int
    root: str
    checkpoints: int
    indexed: int  # contribution entries held by the on-disk record-hash index runs
    contributions: int = 0  # every contribution entry (those past the index runs are looked up from the log)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditError(f"{path.name}: cannot read ({exc.strerror})") from None


def _check_lengths(d: Path, state: State) -> None:
    """Every data file is exactly as long as STATE commits (a longer one may be an interrupted append)."""
    want = {
        HASHES: HASH_SIZE * (2 * state.size - bin(state.size).count("1")),
        OFFSETS: 8 * state.size,
        ENTRIES: state.entries_bytes,
    }
    for name, length in want.items():
        try:
            actual = (d / name).stat().st_size
        except OSError as exc:
            raise AuditError(f"{name}: cannot read ({exc.strerror})") from None
        if actual != length:
            hint = (
                (
                    " (bytes past the committed state: an interrupted append, rolled back when the "
                    "ledger is next opened for writing, or tampering)"
                )
                if actual > length
                else ""
            )
            raise AuditError(f"{name}: {actual} bytes, but {STATE} commits {state.size} entries ({length} bytes){hint}")


def _check_entries(d: Path, state: State, batch: int) -> tuple[int, int]:
    """Check offsets and canonical entries, and recompute the tree; return (indexed, all) contribution counts."""
    hashes = d / HASHES
    indexed, contributions, pos, prev_end = 0, 0, 0, 0
    peaks: list[bytes] = []
    with open(d / ENTRIES, "rb") as ef, open(d / OFFSETS, "rb") as of, open(hashes, "rb") as hf:
        for start in range(0, state.size, batch):
            n = min(batch, state.size - start)
            ends = np.frombuffer(of.read(8 * n), dtype=">u8").astype(np.int64)
            steps = np.diff(np.concatenate(([prev_end], ends)))
            if bool(np.any(steps <= 0)) or int(ends[-1]) > state.entries_bytes or ends.min() < 0:
                bad = start + int(np.argmax((steps <= 0) | (ends > state.entries_bytes) | (ends < 0)))
                raise AuditError(f"{OFFSETS}: offset of entry {bad} is out of order or beyond {ENTRIES}")
            blob = ef.read(int(ends[-1]) - prev_end)
            stored = hf.read(HASH_SIZE * (2 * (start + n) - bin(start + n).count("1")) - pos)
            computed = bytearray()
            base = prev_end
            for j in range(n):
                i, end = start + j, int(ends[j])
                if end <= prev_end or end - base > len(blob) or blob[end - base - 1] != 0x0A:
                    raise AuditError(f"{OFFSETS}: offset of entry {i} does not end a line of {ENTRIES}")
                data = blob[prev_end - base : end - base - 1]
                if b"\n" in data:
                    raise AuditError(f"{ENTRIES}: entry {i} spans more than one line")
                try:
                    keyed = index_key(decode_entry(data)) is not None
                    contributions += keyed
                    indexed += keyed and i < state.indexed
                except EntryError as exc:
                    raise AuditError(f"{ENTRIES}: entry {i} is invalid: {exc}") from None
                h = leaf_hash(data)
                computed += h
                size, level = i + 1, 0
                while not size >> level & 1:
                    h = node_hash(peaks.pop(), h)
                    computed += h
                    level += 1
                peaks.append(h)
                prev_end = end
            if bytes(computed) != stored:
                _name_hash_mismatch(bytes(computed), stored, pos, start)
            pos += len(stored)
    return indexed, contributions


def _name_hash_mismatch(computed: bytes, stored: bytes, pos: int, first_entry: int) -> None:
    for k in range(0, len(computed), HASH_SIZE):
        if computed[k : k + HASH_SIZE] != stored[k : k + HASH_SIZE]:
            p = pos // HASH_SIZE + k // HASH_SIZE
            raise AuditError(
                f"{HASHES}: hash #{p} does not match the entries (batch from entry {first_entry}); "
                f"an entry in {ENTRIES} or the hash itself was changed"
            )


def _check_index(d: Path, state: State, indexed: int, reader: tree.NodeReader) -> None:
    live = {str(n) for n, _ in state.runs}
    on_disk = {p.name for p in (d / INDEX_DIR).iterdir()}
    if on_disk - live:
        raise AuditError(f"{INDEX_DIR}/: files {sorted(on_disk - live)} are not listed in {STATE}")
    if live - on_disk:
        raise AuditError(f"{STATE}: lists index runs {sorted(live - on_disk)} that do not exist")
    total, last_leaf = 0, -1
    with open(d / ENTRIES, "rb") as ef, open(d / OFFSETS, "rb") as of:
        for name, count in state.runs:
            where = f"{INDEX_DIR}/{name}"
            try:
                run = run_index.load_run(d / INDEX_DIR / str(name))
            except ValueError as exc:
                raise AuditError(f"{INDEX_DIR}/{exc}") from None
            if len(run) != count:
                raise AuditError(f"{where}: {len(run)} records, {STATE} says {count}")
            _check_run_order(run, where)
            for r in range(len(run)):
                key, leaf = run.key(r), int(run.leaf[r])
                if leaf >= state.size or _entry_key(ef, of, leaf) != key.hex():
                    raise AuditError(
                        f"{where}: record {r} maps {key.hex()} to entry {leaf}, which does not contribute that record"
                    )
            total += len(run)
            last_leaf = max(last_leaf, int(np.max(run.leaf)) if len(run) else -1)
    if state.indexed != last_leaf + 1 or state.indexed > state.size:
        raise AuditError(f"{STATE}: indexed is {state.indexed}, but the index runs end at entry {last_leaf}")
    if total != indexed:
        raise AuditError(
            f"{INDEX_DIR}/: {total} indexed records, but {ENTRIES} has {indexed} contributions before entry "
            f"{state.indexed} ({STATE})"
        )


def _check_run_order(run: run_index.Run, where: str) -> None:
    """Prefixes must be their keys' prefixes, and records strictly sorted by key."""
    bad = np.flatnonzero(np.asarray(run.prefix) != run_index.prefixes(np.asarray(run.keys)))
    if len(bad):
        raise AuditError(f"{where}: record {int(bad[0])} has a prefix that is not its key's")
    p = np.asarray(run.prefix)
    down = np.flatnonzero(p[1:] < p[:-1])
    ties = np.flatnonzero(p[1:] == p[:-1])
    bad_ties = [int(t) for t in ties if run.key(int(t) + 1) <= run.key(int(t))]
    if len(down) or bad_ties:
        r = min([int(x) for x in down] + bad_ties)
        raise AuditError(f"{where}: records {r} and {r + 1} are not in strictly increasing key order")


def _entry_key(ef: BinaryIO, of: BinaryIO, leaf: int) -> str | None:
    fo, fe = of.fileno(), ef.fileno()
    start = int.from_bytes(os.pread(fo, 8, 8 * (leaf - 1)), "big") if leaf else 0
    end = int.from_bytes(os.pread(fo, 8, 8 * leaf), "big")
    return index_key(decode_entry(os.pread(fe, end - start - 1, start)))


def _check_checkpoints(d: Path, state: State, reader: tree.NodeReader, vkey: str | None) -> int:
    cdir = d / CHECKPOINTS
    notes = sorted(cdir.iterdir()) if cdir.exists() else []
    if not notes and not (d / LATEST).exists():
        return 0
    stored_vkey = _read(d / VKEY).decode("utf-8", "replace")
    if stored_vkey != stored_vkey.strip() + "\n":
        raise AuditError(f"{VKEY}: must be one line")
    try:
        verifier = parse_verifier_key(vkey if vkey is not None else stored_vkey)
        if vkey is not None and parse_verifier_key(stored_vkey) != verifier:
            raise AuditError(f"{VKEY}: names a different key than the auditor's")
    except ProofError as exc:
        raise AuditError(f"{VKEY}: {exc}") from None
    last = ""
    for p in notes:
        text = _read(p).decode("utf-8", "replace")
        try:
            cp = verify_checkpoint(text, verifier)
        except ProofError as exc:
            raise AuditError(f"{CHECKPOINTS}/{p.name}: {exc}") from None
        if p.name != checkpoint_file(cp.size) or cp.size > state.size:
            raise AuditError(f"{CHECKPOINTS}/{p.name}: holds size {cp.size} (ledger size {state.size})")
        if tree.root(reader, cp.size) != cp.root:
            raise AuditError(f"{CHECKPOINTS}/{p.name}: root is not the tree's root at size {cp.size}")
        last = text
    if _read(d / LATEST).decode("utf-8", "replace") != last:
        raise AuditError(f"{LATEST}: is not the newest signed checkpoint")
    return len(notes)


def audit(path: Path | str, vkey: str | None = None, batch: int = 65536) -> AuditReport:
    """audit checks every file of the ledger at ``path``; raises AuditError on the first problem.

    ``vkey`` is the verifier key the auditor trusts; without it the
    ledger's own ``vkey`` file is used (which checks integrity, not identity).
    """
    d = Path(path)
    try:
        state = State.decode(_read(d / STATE))
    except LedgerError as exc:
        raise AuditError(str(exc)) from None
    _check_lengths(d, state)
    indexed, contributions = _check_entries(d, state, batch)
    hf = open(d / HASHES, "rb")
    try:

        def reader(level: int, index: int) -> bytes:
            hf.seek(HASH_SIZE * node_position(level, index))
            return hf.read(HASH_SIZE)

        root = tree.root(reader, state.size) if state.size else EMPTY_ROOT
        if root.hex() != state.root:
            raise AuditError(f"{STATE}: root {state.root} is not the tree's root {root.hex()}")
        _check_index(d, state, indexed, reader)
        n_cps = _check_checkpoints(d, state, reader, vkey)
    finally:
        hf.close()
    return AuditReport(state.size, state.root, n_cps, indexed, contributions)
