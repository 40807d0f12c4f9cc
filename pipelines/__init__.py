"""Datanets pipelines: one module per stage, in data-flow order.

``ingest`` (read and parse) → ``dedup`` (exact and near duplicates) →
``anonymise`` (Presidio) → ``validate`` (Great Expectations) → ``write``
(Parquet) → ``commit`` (shards, ledger, checkpoint). ``plan`` decides what a
run takes, ``curate`` wires the Beam pipeline, ``run`` drives one ingest and
``cli`` is the ``datanet`` command.
"""
