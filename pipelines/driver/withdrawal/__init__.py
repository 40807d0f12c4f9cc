"""``datanet withdraw`` and ``withdrawals`` (``withdraw``), and what ``datanet verify`` checks of them (``checks``).

The crash-safe machinery every ledger writer shares lives below, in
``pipelines.core.withdrawal``.
"""
