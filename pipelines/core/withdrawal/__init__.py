"""Withdrawal: a contributor leaves, provably (``datanet withdraw``).

* ``ledgered``  what the ledger says is withdrawn (``withdrawal`` and ``republish`` entries), read-only;
* ``plan``      what a new withdrawal covers and the new files' bytes, decided before any irreversible write;
* ``apply``     the crash-safe steps (stage, append, swap, clean up), and finishing a stopped withdrawal.

It sits in ``core`` because every ledger writer (``pipelines.core.appender``)
must finish a stopped withdrawal before appending anything of its own.
"""
