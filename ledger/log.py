"""The ledger API: append entries, sign checkpoints, build proofs, export.

A ``Ledger`` wraps one ledger directory (see ``ledger.storage``) plus its
signed checkpoints:

* ``checkpoints/<size, 20 digits>.note``  every checkpoint ever signed;
* ``checkpoint``                          a copy of the latest one;
* ``vkey``                                the verifier key that signs them.

Guarantees: entries are appended in the order given, in all-or-nothing
batches; a checkpoint is signed only after checking that the latest earlier
checkpoint is a prefix of the current tree, so the ledger never signs two
inconsistent checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ledger import tree
from ledger.checkpoint import Signer, checkpoint_text
from ledger.entries import encode_entry, index_key
from ledger.storage import LedgerError, State, Store, write_atomic
from ledger.verify import (
    ConsistencyProof,
    InclusionProof,
    format_consistency_proof,
    format_inclusion_proof,
    parse_checkpoint_text,
    parse_verifier_key,
    verify_note,
)

CHECKPOINTS, LATEST, VKEY = "checkpoints", "checkpoint", "vkey"


class CheckpointError(LedgerError):
    """A checkpoint is missing, or would be inconsistent with one already signed."""


def checkpoint_file(size: int) -> str:
    """checkpoint_file names the file of the checkpoint at ``size``."""
    return f"{size:020d}.note"


class Ledger:
    """One Datanet's ledger: entries, tree, index and checkpoints in a directory."""

    def __init__(self, path: Path | str, writer: bool = False, create: bool = False, wait: float = 0.0) -> None:
        """Open the ledger at ``path``; a ``writer`` waits up to ``wait`` seconds for the writer lock.

        Raises LedgerBusyError if another writer still holds it then.
        """
        self.path = Path(path)
        self.store = Store(self.path, writer=writer, create=create, wait=wait)
        if create:
            (self.path / CHECKPOINTS).mkdir(exist_ok=True)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self.store.state.size

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.store.state.root)

    def refresh(self) -> None:
        """refresh re-reads the committed state (for long-lived readers)."""
        self.store.state = self.store.read_state()

    # -- writing --------------------------------------------------------------------

    def append(self, entries: Sequence[Mapping[str, Any]]) -> State:
        """append encodes and durably appends entries as one batch; returns the new state."""
        encoded = [encode_entry(e) for e in entries]
        keys = [None if (k := index_key(e)) is None else bytes.fromhex(k) for e in entries]
        return self.store.append(encoded, keys)

    def sign(self, signer: Signer) -> str:
        """sign signs (or returns the existing) checkpoint at the current size.

        Raises CheckpointError if the ledger is bound to another key or the
        latest signed checkpoint is not a prefix of the current tree.
        """
        vkey = signer.verifier_key()
        vpath = self.path / VKEY
        if vpath.exists() and vpath.read_text().strip() != vkey:
            raise CheckpointError(f"{vpath} names another key; refusing to sign with {signer.name}")
        latest = self.latest_checkpoint()
        if latest is not None:
            cp = parse_checkpoint_text(verify_note(latest, parse_verifier_key(vkey)))
            if cp.size > self.size or self.root_at(cp.size) != cp.root:
                raise CheckpointError(f"checkpoint {cp.size} is not a prefix of the stored tree")
            if cp.size == self.size:
                return latest
        note = signer.sign_note(checkpoint_text(signer.name, self.size, self.root))
        if not vpath.exists():
            write_atomic(vpath, (vkey + "\n").encode())
        (self.path / CHECKPOINTS).mkdir(exist_ok=True)
        write_atomic(self.path / CHECKPOINTS / checkpoint_file(self.size), note.encode())
        write_atomic(self.path / LATEST, note.encode())
        return note

    # -- reading --------------------------------------------------------------------

    def root_at(self, size: int) -> bytes:
        """root_at returns the root of the first ``size`` entries."""
        if not 0 <= size <= self.size:
            raise LedgerError(f"size {size} is beyond the ledger (size {self.size})")
        return tree.root(self.store.node, size)

    def entry(self, index: int) -> bytes:
        """entry returns the exact leaf bytes of entry ``index``."""
        return self.store.entry(index)

    def entries(self, start: int = 0, end: int | None = None, batch: int = 65536) -> Iterator[bytes]:
        """entries yields leaf bytes of entries [start, end) in order, in bounded memory."""
        end = self.size if end is None else end
        for lo in range(start, end, batch):
            yield from self.store.entry_range(lo, min(lo + batch, end))

    def find(self, record_hash: str) -> int | None:
        """find returns the leaf index of the contribution of ``record_hash``, or None."""
        return self.store.lookup([bytes.fromhex(record_hash)]).get(bytes.fromhex(record_hash))

    def find_many(self, record_hashes: Sequence[str]) -> dict[str, int]:
        """find_many maps each contributed record hash to its leaf index (absent ones left out)."""
        found = self.store.lookup([bytes.fromhex(h) for h in record_hashes])
        return {k.hex(): v for k, v in found.items()}

    def latest_checkpoint(self) -> str | None:
        """latest_checkpoint returns the newest signed checkpoint note, if any."""
        p = self.path / LATEST
        return p.read_text(encoding="utf-8") if p.exists() else None

    def checkpoint(self, size: int) -> str:
        """checkpoint returns the signed checkpoint at ``size``; raises CheckpointError."""
        p = self.path / CHECKPOINTS / checkpoint_file(size)
        if not p.exists():
            raise CheckpointError(f"no checkpoint was signed at size {size}")
        return p.read_text(encoding="utf-8")

    def checkpoint_sizes(self) -> list[int]:
        """checkpoint_sizes lists the sizes of every signed checkpoint, ascending."""
        d = self.path / CHECKPOINTS
        return sorted(int(p.name.split(".")[0]) for p in d.glob("*.note")) if d.exists() else []

    def prove(self, index: int, size: int | None = None, with_entry: bool = True) -> str:
        """prove returns a c2sp.org/tlog-proof@v1 text for entry ``index``.

        The proof is against the signed checkpoint at ``size`` (default: the
        latest). With ``with_entry`` the entry bytes ride along as the
        proof's (unauthenticated) extra data, so a verifier can hash them.
        """
        note = self.checkpoint(size) if size is not None else self.latest_checkpoint()
        if note is None:
            raise CheckpointError("the ledger has no signed checkpoint yet")
        cp_size = int(note.split("\n")[1])
        if not 0 <= index < cp_size:
            raise LedgerError(f"entry {index} is not covered by the checkpoint at size {cp_size}")
        path = tuple(tree.inclusion_proof(self.store.node, index, cp_size))
        extra = self.entry(index) if with_entry else None
        return format_inclusion_proof(InclusionProof(index, path, note, extra))

    def consistency(self, size1: int, size2: int) -> str:
        """consistency returns a consistency proof between two signed checkpoints."""
        old, new = self.checkpoint(size1), self.checkpoint(size2)
        path = tuple(tree.consistency_proof(self.store.node, size1, size2))
        return format_consistency_proof(ConsistencyProof(path, old, new))
