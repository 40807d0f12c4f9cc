"""Test-only helpers: an RFC-literal reference Merkle tree. Never used at run time."""
