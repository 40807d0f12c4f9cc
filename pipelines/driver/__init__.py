"""The ingest driver: what runs in the curator's process around the Beam pipeline.

``plan`` (which inputs a run takes, split by split) → ``checks`` (refusals
before anything runs) → ``run`` (one ingest: lock, pipeline, commit) →
``commit`` (shards published, ledger appended and signed) → ``report``;
``status`` and ``verify`` read what earlier runs published; ``preview``
shows what the PII stage would do, writing nothing.
"""
