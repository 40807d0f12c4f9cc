"""The curator's secrets: the ledger signing key and the Datanet's secret salt.

Both live beside each other under ``out/keys/`` by default (``ledger.key``
to move them), are created on first use with mode 0600, and are never put
into a Beam pipeline graph: workers receive the salt's *path* and read it
in ``DoFn.setup``, so a graph serialised to a remote runner holds no secret.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from ledger import checkpoint as ckpt
from pipelines.config import Datanet

Progress = Callable[[str], None]


def signer_for(dn: Datanet, progress: Progress) -> ckpt.Signer:
    """signer_for loads the Datanet's signing key, generating a local one on first use."""
    if not dn.key_path.exists():
        ckpt.save_signer(dn.key_path, ckpt.generate(dn.origin))
        progress(f"  generated signing key {dn.key_path} (local, not for production)")
    return ckpt.load_signer(dn.key_path)


def salt_path(dn: Datanet) -> str:
    """salt_path is where the Datanet's secret salt lives (created 0600 on first call)."""
    path = dn.key_path.with_suffix(".salt")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    return str(path)


def read_salt(path: str) -> bytes:
    """read_salt reads a salt file through Beam's FileSystems (what workers call in ``setup``)."""
    from pipelines import fs

    return fs.read_bytes(path)


def salt_fingerprint(salt: bytes) -> str:
    """salt_fingerprint names a salt without revealing it (stored with dedup state)."""
    return hashlib.sha256(b"datanets-salt-fingerprint\0" + salt).hexdigest()[:16]
