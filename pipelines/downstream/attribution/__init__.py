"""Proof of attribution: which Datanet records a model's output reproduces, on the ledger, paid per inference.

* ``index``: an infini-gram index (suffix array over word ids) of the text
  fields of committed shards, one index shard per ingest run, kept current
  by ``make ingest`` and rebuildable byte for byte from the shards;
* ``spans``: the pure rule: maximal verbatim spans, chained across small
  edits, filtered, and turned into basis-point weights;
* ``attribute``: ``attribute_text`` (query) and ``record_attribution``
  (one signed ``attribution`` ledger entry per output), as
  ``datanet attribute`` runs them.

See docs/attribution.md for the rule, its limits and the entry format.
"""
