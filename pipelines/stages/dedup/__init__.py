"""Steps 3 (sketch) and 6 (dedup): exact and MinHash-LSH near-duplicate removal, incremental over runs.

* ``minhash``  shingles, datasketch signatures and LSH band keys (pure).
* ``graph``   candidate edges from exact groups and LSH buckets; one-process union-find (pure).
* ``components`` the same components, distributed (star rounds; no step holds the graph).
* ``packed``  nodes as fixed-width entries in one file per batch; the shuffles carry references.
* ``clusters`` the decision: which records are kept and what each duplicate duplicates (pure).
* ``transforms`` the Beam wrapper ``DropDuplicates``.
"""
