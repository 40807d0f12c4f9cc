"""The curator's secrets: the ledger signing key, the Datanet's secret salt and its contributor key.

All three live beside each other under ``out/keys/`` by default (``ledger.key``
to move them), are created on first use with mode 0600, and are never put
into a Beam pipeline graph: workers receive the salt's *path* and read it
in ``DoFn.setup`` (split writers read the contributor key's path the same
way), so a graph serialised to a remote runner holds no secret.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from ledger import checkpoint as ckpt
from pipelines.config import Datanet

Progress = Callable[[str], None]


def signer_for(dn: Datanet, progress: Progress) -> ckpt.Signer:
    """signer_for loads the Datanet's signing key, generating a local one on first use."""
    if not dn.key_path.exists():
        ckpt.save_signer(dn.key_path, ckpt.generate(dn.origin))
        progress(f"  generated signing key {dn.key_path} (local, not for production)")
    return ckpt.load_signer(dn.key_path)


def _secret(path: Path) -> str:
    """Create ``path`` with 32 random bytes, mode 0600, unless it exists; return it as a string."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    return str(path)


def salt_file(dn: Datanet) -> Path:
    """salt_file is where the Datanet's secret salt lives or will live; unlike ``salt_path`` it creates nothing."""
    return dn.key_path.with_suffix(".salt")


def salt_path(dn: Datanet) -> str:
    """salt_path is where the Datanet's secret salt lives (created 0600 on first call)."""
    return _secret(salt_file(dn))


def contributor_key_path(dn: Datanet) -> str:
    """contributor_key_path is where the key behind contributor pseudonyms lives (created 0600 on first call).

    Lose it and no new run can give a returning contributor the same
    pseudonym; leak it and anyone can test guessed IDs against the ledger.
    """
    return _secret(dn.key_path.with_suffix(".idkey"))


def contributor_key(dn: Datanet) -> bytes:
    """contributor_key reads the Datanet's contributor key (see ``ledger.pseudonym``)."""
    return read_salt(contributor_key_path(dn))


def read_salt(path: str) -> bytes:
    """read_salt reads a salt file through Beam's FileSystems (what workers call in ``setup``)."""
    from pipelines import fs

    return fs.read_bytes(path)


def salt_fingerprint(salt: bytes) -> str:
    """salt_fingerprint names a salt without revealing it (stored with dedup state)."""
    return hashlib.sha256(b"datanets-salt-fingerprint\0" + salt).hexdigest()[:16]
