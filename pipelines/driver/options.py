"""How one ingest runs: the caller's choices, in one object (``RunOptions``), instead of flags threaded through."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.storage import WRITER_WAIT

Progress = Callable[[str], None]


def stderr(msg: str) -> None:
    """stderr is the default progress callback: one line to standard error, flushed."""
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunOptions:
    """RunOptions: everything about one ingest that is not the Datanet's declaration.

    ``overrides``: runner and pipeline options (``--runner``, ``--option``),
    applied over the YAML's ``runner``. ``progress``: where progress lines
    go. ``live``: progress while the pipeline runs (``auto``: bars on a
    terminal, else a line every 10 s; ``bars``, ``lines``, ``off``).
    ``verbose``: Beam's and the workers' log lines on the console instead of
    the attempt's ``beam.log``. ``html``: write ``report.html`` and GX Data
    Docs for a committed run. ``wait``: seconds to wait for the ledger's
    writer lock. ``dry_run``: run the pipeline into ``<out>/dry-run`` and
    publish nothing. ``accept_quarantine``: commit a run the guard rails
    would refuse (nothing accepted, or too much quarantined).
    """

    overrides: Mapping[str, Any] | None = field(default_factory=dict)  # None: none
    progress: Progress = stderr
    live: str = "auto"
    verbose: bool = False
    html: bool = False
    wait: float = WRITER_WAIT
    dry_run: bool = False
    accept_quarantine: bool = False

    @property
    def live_mode(self) -> str:
        """live_mode is the progress display: ``live`` on the console; lines (or off) for a callback of its own."""
        if self.progress is stderr:
            return self.live
        return "off" if self.live == "off" else "lines"
