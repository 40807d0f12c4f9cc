"""The kinds of failure a command reports, each with its exit status, dispatched by type in the CLI.

* ``BadInput`` (exit 2, ``error: …``): the caller's input is wrong (a
  declaration, an argument, a model id, an amount); nothing was written.
* ``CheckFailed`` (exit 1, ``FAILED: …``): a verification ran and found a
  mismatch (a statement that does not recompute, a shard that is not on the
  ledger).
Every other error a command raises on purpose is a ``RuntimeError`` or a
``ledger.storage.LedgerError`` (exit 1, ``error: Type: …``). Messages are one
line a person can act on; the CLI never prints a traceback for these.

Fault injection for crash tests lives here too: ``DATANETS_CRASH_AT=<point>``
SIGKILLs the process at ``crash_point(<point>)``. Points, in the order an
ingest reaches them: ``staged``, ``published``, ``ledger-batch`` (after the
first ledger batch of the run), ``signed``, ``reported``. Unset in normal
use, where ``crash_point`` does nothing.
"""

from __future__ import annotations

import os
import signal

POINTS = ("staged", "published", "ledger-batch", "signed", "reported")


class BadInput(ValueError):
    """BadInput: the caller's input is wrong; the message names it (file and key, or argument)."""


class CheckFailed(ValueError):
    """CheckFailed: a verification ran and found a mismatch; the message names what differs."""


def crash_point(name: str) -> None:
    """crash_point kills this process with SIGKILL if DATANETS_CRASH_AT names ``name``."""
    if os.environ.get("DATANETS_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
