"""Steps 3 (sketch) and 6 (dedup): exact and MinHash-LSH near-duplicate removal, incremental over runs.

* ``minhash``  shingles, datasketch signatures and LSH band keys (pure).
* ``clusters`` the decision: which records are kept and what each duplicate duplicates (pure).
* ``transforms`` the Beam wrapper ``DropDuplicates``.
"""
