"""The one path that appends to a Datanet's ledger and signs a checkpoint.

Every writer (an ingest's commit, ``usage record``, ``payout``,
``attribute``, ``index``) goes through ``LedgerWriter.append_signed``:
entries are appended in batches of ``ledger.batch_size``, then one
checkpoint is signed with the Datanet's key. Downstream writers open it with
``writing(dn)``, which takes the writer lock (waiting up to ``wait``
seconds) and refuses while an ingest run is half-appended, so the decision
of what to append is made under the same lock as the append. An ingest
holds its own lock for the whole run and wraps its open ledger directly.
Once the lock is released, ``publish`` has the new checkpoint cosigned by
the Datanet's witnesses, if it names any (C2SP tlog-witness).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ledger.log import Ledger
from ledger.storage import WRITER_WAIT
from ledger.tlog.witnessing import Witness, publish_witnessed
from pipelines.core.config import Datanet
from pipelines.core.keys import signer_for
from pipelines.core.registry import refuse_if_ingest_unfinished
from pipelines.core.withdrawal.apply import finish_started

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class LedgerWriter:
    """An open, locked ledger of one Datanet, and the only way entries get appended to it."""

    dn: Datanet
    ledger: Ledger
    progress: Progress = field(default=_quiet)
    on_batch: Callable[[], None] = field(default=lambda: None)  # after each batch (crash points in tests)

    signed: bool = False

    @property
    def size(self) -> int:
        return self.ledger.size

    def append(self, entries: Iterable[Mapping[str, Any]]) -> int:
        """append appends ``entries`` in order, in batches of ``ledger.batch_size``; returns how many."""
        batch: list[Mapping[str, Any]] = []
        n = 0
        for entry in entries:
            batch.append(entry)
            if len(batch) >= self.dn.config.ledger.batch_size:
                n += self._flush(batch)
                batch = []
                self.on_batch()
        return n + (self._flush(batch) if batch else 0)

    def _flush(self, batch: list[Mapping[str, Any]]) -> int:
        self.ledger.append(batch)
        return len(batch)

    def sign(self) -> str:
        """sign signs a checkpoint of the current size with the Datanet's key and returns its note."""
        self.signed = True
        return self.ledger.sign(signer_for(self.dn, self.progress))

    def append_signed(self, entries: Iterable[Mapping[str, Any]]) -> str:
        """append_signed appends ``entries`` (possibly none) and signs a checkpoint; returns the note."""
        self.append(entries)
        return self.sign()


@contextmanager
def writing(dn: Datanet, wait: float = WRITER_WAIT, progress: Progress | None = None) -> Iterator[LedgerWriter]:
    """writing opens ``dn``'s ledger for a downstream writer: locked, and refused while an ingest is unfinished.

    A withdrawal that stopped after its first ledger append is finished first
    (``pipelines.core.withdrawal.apply.finish_started``), so what the writer
    decides to append sees the Datanet as the withdrawal leaves it. Raises
    LedgerBusyError after ``wait`` seconds without the lock, and RuntimeError
    (naming the run) when an ingest stopped part-way through its appends.
    """
    with Ledger(dn.ledger_dir, writer=True, wait=wait) as led:
        refuse_if_ingest_unfinished(dn, led.size)
        writer = LedgerWriter(dn, led, progress or _quiet)
        finish_started(dn, writer, writer.progress)
        yield writer
    if writer.signed:
        publish(dn, progress)


def witnesses(dn: Datanet) -> list[Witness]:
    """witnesses are the Datanet's ``ledger.witnesses``, as the tlog-witness client takes them."""
    return [Witness(w.name, w.url, w.vkey) for w in dn.config.ledger.witnesses]


def publish(dn: Datanet, progress: Progress | None = None) -> str | None:
    """publish submits the latest signed checkpoint to the Datanet's witnesses and publishes it at quorum.

    A no-op (None) for a Datanet without witnesses. Called after the ledger
    is closed, so the run or entry it covers is already committed: a quorum
    that is not reached raises ``WitnessQuorumError`` (one line naming each
    failed witness) and leaves the ledger committed-but-unwitnessed, which
    ``datanet ledger witness NAME`` retries. Returns the published note.
    """
    cfg = dn.config.ledger
    if not cfg.witnesses:
        return None
    note = publish_witnessed(dn.ledger_dir, witnesses(dn), cfg.quorum, dn.ledger_dir / "tiles")
    (progress or _quiet)(f"  checkpoint cosigned by {cfg.quorum}+ of {len(cfg.witnesses)} witness(es) and published")
    return note


def append_signed(
    dn: Datanet, entries: Iterable[Mapping[str, Any]], wait: float = WRITER_WAIT, progress: Progress | None = None
) -> str:
    """append_signed appends ``entries`` to ``dn``'s ledger and signs, under the lock; returns the checkpoint."""
    with writing(dn, wait, progress) as w:
        return w.append_signed(entries)
