"""No single keeper: the ledger as C2SP tlog-tiles, mirrors, and C2SP tlog-witness cosigning.

* ``tiles``: the log as static files (``checkpoint``, ``tile/<L>/<N>[.p/<W>]``,
  ``tile/entries/<N>``), written incrementally; ``serve`` serves them read-only.
* ``mirror``: fetch a served log, verify it against its checkpoint and the
  last mirrored one, keep a copy.
* ``cosignature``: ``cosignature/v1`` (Ed25519) signing and verification.
* ``witness`` (the pure ``add_checkpoint`` decision) and ``witness_server``
  (state on disk, HTTP): a C2SP tlog-witness; ``cli_witness`` runs it.
* ``witnessing``: the log side: submit each new checkpoint to the
  Datanet's witnesses and publish it once a quorum has cosigned
  (``publish_witnessed``).

See docs/witness.md.
"""
