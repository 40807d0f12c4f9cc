"""Jobs that read published shards and the ledger: read/SQL, usage, payout, attribution.

None of them imports Apache Beam or the ingest stages: they stand on
``pipelines.core`` and ``ledger`` only, so each command starts in well under
a second.
"""
