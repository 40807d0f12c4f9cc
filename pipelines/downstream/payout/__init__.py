"""Payouts: split a model's revenue among platform, model developer and contributors.

* ``split``     exact integer allocation (largest remainder, deterministic ties).
* ``statement`` the statement computed with DuckDB over the ledger, written and put on the ledger.
* ``check``     ``verify_statement`` (recompute and compare) and receipts for contributors.
"""
