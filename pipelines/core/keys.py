"""The curator's secrets: the ledger signing key, the Datanet's secret salt and its contributor key.

All three live beside each other under ``out/keys/`` by default (``ledger.key``
to move them), are created on first use with mode 0600, and are never put
into a Beam pipeline graph: workers receive the salt's *path* and read it
in ``DoFn.setup`` (split writers read the contributor key's path the same
way), so a graph serialised to a remote runner holds no secret.

They are one Datanet's own: ``key_problems`` (run by ``datanet check``)
refuses a key made for another origin and secrets shared with another
Datanet, unless every Datanet sharing them says ``ledger.shared_key: true``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger import checkpoint as ckpt
from pipelines.core.config import Datanet
from pipelines.core.errors import BadInput

Progress = Callable[[str], None]


class ForeignKeyError(BadInput):
    """A key file signs for another origin and is not shared on purpose; the message names it and both origins."""


def signer_for(dn: Datanet, progress: Progress) -> ckpt.Signer:
    """signer_for loads the Datanet's signing key, generating a local one on first use.

    The signer is named for ``dn.origin``. A key file made for another
    origin is refused (ForeignKeyError) unless ``ledger.shared_key``, when
    its seed signs under this Datanet's own origin.
    """
    if not dn.key_path.exists():
        ckpt.save_signer(dn.key_path, ckpt.generate(dn.origin))
        progress(
            f"  generated signing key {dn.key_path} (local, not for production); the keys folder is what makes"
            f" this Datanet reproducible: back it up with `datanet keys {dn.name} --export FILE`"
        )
    signer = ckpt.load_signer(dn.key_path)
    if signer.name == dn.origin:
        return signer
    if not dn.config.ledger.shared_key:
        raise ForeignKeyError(f"{dn.path}: {_foreign(dn, signer.name)}")
    return ckpt.Signer(dn.origin, signer.seed)


def _foreign(dn: Datanet, origin: str) -> str:
    return (
        f"ledger.key: {dn.shown(dn.key_path)} signs for origin {origin!r}, not this Datanet's {dn.origin!r}:"
        " its checkpoints would never verify as this Datanet's (give it its own key, or set"
        " ledger.shared_key: true to share that one on purpose)"
    )


def secret_files(dn: Datanet) -> tuple[Path, Path, Path]:
    """secret_files are the Datanet's signing key, salt and contributor key files (some may not exist yet)."""
    return dn.key_path, salt_file(dn), idkey_file(dn)


def key_problems(dn: Datanet, others: list[Datanet]) -> list[str]:
    """key_problems lists, by YAML key, what makes ``dn``'s keys or origin not its own, reading no secret but the key.

    The key file, if it exists, must be a signing key for ``dn.origin``
    (any origin with ``ledger.shared_key``); no other Datanet in ``others``
    may have the same origin, or use any of ``dn``'s secret files unless
    both declare ``ledger.shared_key: true``.
    """
    problems = []
    if dn.key_path.exists():
        try:
            name = ckpt.load_signer(dn.key_path).name
        except ckpt.SigningKeyError as exc:
            problems.append(f"ledger.key: {dn.shown(dn.key_path)}: {exc}")
        else:
            if name != dn.origin and not dn.config.ledger.shared_key:
                problems.append(_foreign(dn, name))
    return problems + [p for other in others for p in _shared(dn, other)]


def _shared(dn: Datanet, other: Datanet) -> list[str]:
    who = f"Datanet {other.name!r} ({dn.shown(other.path)})"
    out = []
    if other.origin == dn.origin:
        out.append(
            f"ledger.origin: {dn.origin!r} is also the origin of {who}: two ledgers under one origin"
            " are a fork to any witness; give each Datanet its own origin"
        )
    theirs = {f.resolve() for f in secret_files(other)}
    mine = [f for f in secret_files(dn) if f.resolve() in theirs]
    if not mine or (dn.config.ledger.shared_key and other.config.ledger.shared_key):
        return out
    shared = (
        f"is also the key of {who}"
        if mine[0] == dn.key_path
        else f"shares {', '.join(dn.shown(f) for f in mine)} with {who}"
    )
    out.append(
        f"ledger.key: {dn.shown(dn.key_path)} {shared}: both would sign with one key, salt their dedup with one salt"
        " and give a contributor one pseudonym in both (linkable); give each Datanet its own key, or set"
        " ledger.shared_key: true in both to share it on purpose"
    )
    return out


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
    return _secret(idkey_file(dn))


def idkey_file(dn: Datanet) -> Path:
    """idkey_file is where the Datanet's contributor key lives or will live; it creates nothing."""
    return dn.key_path.with_suffix(".idkey")


def contributor_key(dn: Datanet) -> bytes:
    """contributor_key reads the Datanet's contributor key (see ``ledger.pseudonym``)."""
    return read_salt(contributor_key_path(dn))


def read_salt(path: str) -> bytes:
    """read_salt reads a salt file through Beam's FileSystems (what workers call in ``setup``)."""
    from pipelines.core import fs

    return fs.read_bytes(path)


def salt_fingerprint(salt: bytes) -> str:
    """salt_fingerprint names a salt without revealing it (stored with dedup state)."""
    return hashlib.sha256(b"datanets-salt-fingerprint\0" + salt).hexdigest()[:16]


KEYS_FORMAT = "datanets-keys/1"


class KeysError(BadInput):
    """A keys export or import that cannot be done as asked; the message names the file."""


def export_keys(dn: Datanet, out: Path) -> list[str]:
    """export_keys writes the Datanet's signing key, salt and contributor key into one file, mode 0600.

    The file is created, never overwritten (KeysError if it exists); it is
    everything that makes the Datanet reproducible and its pseudonyms
    stable, so it is a secret: keep it offline. Returns what it holds.
    """
    missing = [str(p) for p in secret_files(dn) if not p.exists()]
    if missing:
        raise KeysError(f"{dn.name}: nothing to export yet, missing {', '.join(missing)} (a first run makes them)")
    body = {
        "format": KEYS_FORMAT,
        "datanet": dn.name,
        "origin": dn.origin,
        "signing_key": dn.key_path.read_text(encoding="utf-8").strip(),
        "salt": base64.b64encode(salt_file(dn).read_bytes()).decode(),
        "contributor_key": base64.b64encode(idkey_file(dn).read_bytes()).decode(),
    }
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeysError(f"{out}: exists; export to a new file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(body, indent=1, sort_keys=True) + "\n")
    return ["signing key", "dedup salt", "contributor key"]


def _parse_export(data: bytes, where: Path) -> dict[str, Any]:
    try:
        body = json.loads(data)
        assert isinstance(body, dict) and body.get("format") == KEYS_FORMAT
        return {
            "origin": str(body["origin"]),
            "files": {
                "key": (body["signing_key"].strip() + "\n").encode(),
                "salt": base64.b64decode(body["salt"], validate=True),
                "idkey": base64.b64decode(body["contributor_key"], validate=True),
            },
        }
    except (ValueError, KeyError, AssertionError, AttributeError, TypeError):
        raise KeysError(f"{where}: not a Datanets keys export ({KEYS_FORMAT})") from None


def import_keys(dn: Datanet, src: Path) -> list[str]:
    """import_keys restores an ``export_keys`` file into the Datanet's key files (0600), creating only missing ones.

    Refuses (KeysError, nothing written) a file for another origin (unless
    ``ledger.shared_key``), a signing key that does not parse, and any key
    file that already exists with other bytes: overwriting a key would fork
    the ledger's signatures, the dedup salt and the pseudonyms. Returns the
    files it wrote.
    """
    parsed = _parse_export(src.read_bytes(), src)
    if parsed["origin"] != dn.origin and not dn.config.ledger.shared_key:
        raise KeysError(f"{src}: keys of origin {parsed['origin']!r}, not {dn.name}'s {dn.origin!r}")
    try:
        ckpt.parse_signer(parsed["files"]["key"].decode())
    except Exception as exc:
        raise KeysError(f"{src}: the signing key does not parse: {exc}") from None
    targets = {"key": dn.key_path, "salt": salt_file(dn), "idkey": idkey_file(dn)}
    clash = [str(p) for k, p in targets.items() if p.exists() and p.read_bytes() != parsed["files"][k]]
    if clash:
        raise KeysError(f"{dn.name}: {', '.join(clash)} exist with other keys; move them away first (nothing written)")
    written = []
    for k, path in targets.items():
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(parsed["files"][k])
            written.append(str(path))
    return written
