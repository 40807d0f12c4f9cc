"""Signing keys and signed checkpoints (C2SP signed-note, tlog-checkpoint, Ed25519).

Key formats follow Go's golang.org/x/mod/sumdb/note:

* signer (secret): ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``
* verifier (public): ``<name>+<hex key id>+<base64(0x01 || 32-byte public key)>``

Ed25519 signatures are deterministic, so the same key, size and root always
give byte-identical checkpoints.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.verify import ED25519_TYPE, FormatError, b64decode, key_id

SIGNER_PREFIX = "PRIVATE+KEY+"


class SigningKeyError(FormatError):
    """A signing key file is malformed."""


@dataclass(frozen=True)
class Signer:
    """An Ed25519 note signer: key name (the log origin) and 32-byte seed."""

    name: str
    seed: bytes

    @property
    def public_key(self) -> bytes:
        return _private(self.seed).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def verifier_key(self) -> str:
        """verifier_key returns the public ``<name>+<hex id>+<base64 key>`` string."""
        raw = base64.b64encode(ED25519_TYPE + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def encode(self) -> str:
        """encode returns the secret signer key string (keep it out of git)."""
        raw = base64.b64encode(ED25519_TYPE + self.seed).decode()
        return f"{SIGNER_PREFIX}{self.name}+{self.key_id.hex()}+{raw}"

    def sign_note(self, text: str) -> str:
        """sign_note returns ``text`` as a signed note with one signature line."""
        if not text.endswith("\n"):
            raise FormatError("note text must end with a newline")
        sig = _private(self.seed).sign(text.encode())
        blob = base64.b64encode(self.key_id + sig).decode()
        return f"{text}\n\u2014 {self.name} {blob}\n"


def _private(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise SigningKeyError(f"key name {name!r} must be non-empty with no spaces or '+'")


def generate(name: str) -> Signer:
    """generate makes a new random Ed25519 signer named ``name``."""
    _check_name(name)
    return Signer(name, os.urandom(32))


def parse_signer(text: str) -> Signer:
    """parse_signer parses a ``PRIVATE+KEY+...`` string; raises SigningKeyError."""
    text = text.strip()
    if not text.startswith(SIGNER_PREFIX):
        raise SigningKeyError("signer key must start with PRIVATE+KEY+")
    parts = text[len(SIGNER_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise SigningKeyError("signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>")
    name, hex_id, b64 = parts
    try:
        raw = b64decode(b64)
    except ValueError:
        raise SigningKeyError("signer key is not base64") from None
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise SigningKeyError("signer key is not an Ed25519 key")
    signer = Signer(name, raw[1:])
    if signer.key_id.hex() != hex_id:
        raise SigningKeyError("signer key id does not match its name and key")
    return signer


def load_signer(path: Path) -> Signer:
    """load_signer reads a signer key file."""
    try:
        return parse_signer(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror}") from None


def save_signer(path: Path, signer: Signer) -> None:
    """save_signer writes a new key file readable by its owner only; never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(signer.encode() + "\n")


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """checkpoint_text returns a tlog-checkpoint body: origin, size, base64 root."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
