"""Witness keys and ``cosignature/v1`` cosignatures (C2SP tlog-cosignature, Ed25519).

A cosignature is a signed-note signature line on a checkpoint::

    — <witness name> base64(key ID || u64 big-endian timestamp || Ed25519 signature)

over the message ``cosignature/v1\\ntime <timestamp>\\n`` followed by the
checkpoint body (its text up to and including the newline before the blank
line). The key ID is ``SHA-256(name || "\\n" || 0x04 || public key)[:4]``.

Key formats mirror ``ledger.checkpoint`` (Go's sumdb/note), with signature
type 0x04 in place of 0x01:

* secret: ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || 32-byte seed)>``
* vkey:   ``<name>+<hex key id>+<base64(0x04 || 32-byte public key)>``

Verification lives in ``ledger.verify`` (standard library only) so that an
auditor's single file can check quorums; it is re-exported here.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import SIGNER_PREFIX, SigningKeyError
from ledger.verify import (
    COSIGNATURE_TYPE,
    QuorumError,
    WitnessKey,
    b64decode,
    cosignature_message,
    cosigner_key_id,
    parse_witness_key,
    split_note,
    verify_cosignature,
    verify_quorum,
)

__all__ = [
    "Cosigner",
    "QuorumError",
    "WitnessKey",
    "cosign",
    "cosign_note",
    "cosignature_message",
    "generate_cosigner",
    "load_cosigner",
    "parse_cosigner",
    "parse_witness_key",
    "save_cosigner",
    "verify_cosignature",
    "verify_quorum",
]


@dataclass(frozen=True)
class Cosigner:
    """An Ed25519 witness key: its name (a schema-less URL) and 32-byte seed."""

    name: str
    seed: bytes

    @property
    def public_key(self) -> bytes:
        key = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    def vkey(self) -> str:
        """vkey returns the public ``<name>+<hex id>+<base64(0x04 || key)>`` string."""
        raw = base64.b64encode(COSIGNATURE_TYPE + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def witness_key(self) -> WitnessKey:
        return WitnessKey(self.name, self.key_id, self.public_key)

    def encode(self) -> str:
        """encode returns the secret key string (keep it out of git)."""
        raw = base64.b64encode(COSIGNATURE_TYPE + self.seed).decode()
        return f"{SIGNER_PREFIX}{self.name}+{self.key_id.hex()}+{raw}"


def cosign(cosigner: Cosigner, body: str, timestamp: int) -> str:
    """cosign returns the cosignature/v1 line (ending in a newline) on a checkpoint body.

    ``body`` is the note text without signatures and must end in a newline;
    ``timestamp`` is POSIX seconds, 1 <= t < 2**63 (tlog-witness forbids zero).
    Deterministic: the same key, body and time give the same line.
    """
    if not body.endswith("\n") or "\n\n" in body:
        raise SigningKeyError("a cosigned body must be checkpoint text ending in one newline")
    if not 0 < timestamp < 2**63:
        raise SigningKeyError(f"cosignature timestamp {timestamp} must be positive and below 2**63")
    sig = Ed25519PrivateKey.from_private_bytes(cosigner.seed).sign(cosignature_message(body, timestamp))
    blob = cosigner.key_id + timestamp.to_bytes(8, "big") + sig
    return f"\u2014 {cosigner.name} {base64.b64encode(blob).decode()}\n"


def cosign_note(cosigner: Cosigner, note: str, timestamp: int) -> str:
    """cosign_note returns the cosignature line for the body of a signed note."""
    text, _ = split_note(note)
    return cosign(cosigner, text, timestamp)


def generate_cosigner(name: str) -> Cosigner:
    """generate_cosigner makes a new random witness key named ``name``."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise SigningKeyError(f"witness name {name!r} must be non-empty with no spaces or '+'")
    return Cosigner(name, os.urandom(32))


def parse_cosigner(text: str) -> Cosigner:
    """parse_cosigner parses a ``PRIVATE+KEY+...`` witness key of type 0x04; raises SigningKeyError."""
    text = text.strip()
    parts = text[len(SIGNER_PREFIX) :].split("+", 2) if text.startswith(SIGNER_PREFIX) else []
    if len(parts) != 3:
        raise SigningKeyError("witness key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>")
    name, hex_id, b64 = parts
    try:
        raw = b64decode(b64)
    except ValueError:
        raise SigningKeyError("witness key is not base64") from None
    if len(raw) != 33 or raw[:1] != COSIGNATURE_TYPE:
        raise SigningKeyError("witness key is not an Ed25519 cosignature/v1 key (type 0x04)")
    cosigner = Cosigner(name, raw[1:])
    if cosigner.key_id.hex() != hex_id:
        raise SigningKeyError("witness key id does not match its name and key")
    return cosigner


def load_cosigner(path: Path) -> Cosigner:
    """load_cosigner reads a witness key file; raises SigningKeyError."""
    try:
        return parse_cosigner(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SigningKeyError(f"cannot read witness key {path}: {exc.strerror}") from None


def save_cosigner(path: Path, cosigner: Cosigner) -> None:
    """save_cosigner writes a new key file readable by its owner only; never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(cosigner.encode() + "\n")
