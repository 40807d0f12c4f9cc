"""The Datanets ledger: an RFC 9162 Merkle transparency log with C2SP checkpoints and proofs.

``verify`` (standard library only: hashing, proofs, checkpoint and proof
formats) · ``tree`` (roots and proofs from stored hashes) · ``entries``
(canonical JSON entries) · ``storage`` and ``index`` (crash-safe files) ·
``checkpoint`` (Ed25519 keys and signed notes) · ``log`` (the API) ·
``audit`` (recompute and check everything) · ``cli`` (``datanet ledger``) ·
``pseudonym`` (contributor pseudonyms) · ``tlog`` (C2SP tlog-tiles, mirrors
and tlog-witness cosigning: no single keeper).
"""
