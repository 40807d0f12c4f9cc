"""The Beam stages of an ingest, in data-flow order.

``read`` (parse each split's contributions) → ``dedup`` (exact and MinHash
near duplicates) → ``anonymise`` (Presidio) → ``validate`` (Great
Expectations) → ``write`` (Parquet shards, duplicates and quarantine per
split); ``pipeline`` wires them into one Beam pipeline. Each stage is a pure
library wrapped by verb PTransforms and takes its own stage config.
"""
