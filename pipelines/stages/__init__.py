"""The Beam stages of an ingest, steps 2-7 in data-flow order.

2 ``read`` (parse each split's contributions; unreadable lines to
quarantine) → 3 sketch (``dedup.transforms.SketchRecords``: content hash,
MinHash, shingles) → 4 ``anonymise`` (Presidio) → 5 ``validate`` (Great
Expectations; failing rows to quarantine) → ``spill`` (each valid record
written once to its split's spill folder; only compact dedup nodes go on) →
6 dedup (``dedup.transforms.DropDuplicates``: small decisions, in lists
per split) → 7 ``write`` (each split's spill joined with its decisions:
Parquet shards, duplicates and quarantine per split). ``pipeline`` wires them into one Beam
pipeline. Each stage is a pure library wrapped by verb PTransforms and takes
its own stage config.
"""
