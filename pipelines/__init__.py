"""Datanets: one Beam pipeline per ingest, a signed ledger, and the jobs that read them.

An ingest runs eight steps (the README's list, the same numbers in each
module's docstring): 1 ``driver.plan`` → 2 ``stages.read`` → 3 sketch and
6 dedup (``stages.dedup``) around 4 ``stages.anonymise`` and 5
``stages.validate`` → 7 ``stages.write`` → 8 ``driver.commit``. Steps 2-7
are one Beam pipeline (``stages.pipeline``); 1 and 8 run in the driver
(``driver.run``).

Folders, lowest layer first (``tests/test_layout.py`` enforces that a
module imports only its own layer and the ones below):

* ``core``: config models, paths, keys, records, reasons, output layouts,
  the one ledger append path (``appender``), errors, file I/O;
* ``stages``: the Beam stages (steps 2-7);
* ``downstream``: jobs over published shards and the ledger (read/SQL,
  usage, payout, attribution); never imports Beam;
* ``driver``: plan, checks, run, commit, report, status, verify, preview;
* ``cli`` and ``ops``: the ``datanet`` command and the local Dask cluster.

See docs/architecture.md for the flow of one record.
"""
