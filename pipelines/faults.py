"""Fault injection for crash tests: ``DATANETS_CRASH_AT=<point>`` SIGKILLs the process there.

Points, in the order an ingest reaches them: ``staged``, ``published``,
``ledger-batch`` (after the first ledger batch of the run), ``signed``,
``reported``. Unset in normal use, where ``crash_point`` does nothing.
"""

from __future__ import annotations

import os
import signal

POINTS = ("staged", "published", "ledger-batch", "signed", "reported")


def crash_point(name: str) -> None:
    """crash_point kills this process with SIGKILL if DATANETS_CRASH_AT names ``name``."""
    if os.environ.get("DATANETS_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
