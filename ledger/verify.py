"""Offline verification of RFC 9162 Merkle proofs, checkpoints and tlog-proofs.

This module imports only the Python standard library so that an auditor can
copy this one file and check a Datanets ledger without trusting our code.
Ed25519 signature checking uses the ``cryptography`` package when it is
installed; everything else (hashing, inclusion and consistency proofs, the
checkpoint and proof text formats) is pure standard library.

Usage as a script::

    python verify.py PROOF.tlog-proof --vkey VKEY --leaf ENTRY_FILE

Guarantees:
  * Hashing is RFC 9162 section 2.1 with SHA-256: leaf = H(0x00 || data),
    node = H(0x01 || left || right), the empty tree hashes to H("").
  * ``verify_inclusion`` and ``verify_consistency`` implement RFC 9162
    sections 2.1.3.2 and 2.1.4.2 and raise ``ProofError`` (never return
    False) on any mismatch. Hashes that are not 32 bytes are rejected, and a
    consistency proof from the empty tree is rejected as meaningless, as in
    transparency-dev/merkle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_HEADER = "datanets.dev/tlog-consistency@v1"
ED25519_TYPE = b"\x01"


class ProofError(Exception):
    """A proof, root or hash does not verify."""


class RootMismatchError(ProofError):
    """The root computed from a proof differs from the expected root."""

    def __init__(self, computed: bytes, expected: bytes) -> None:
        super().__init__(f"calculated root {computed.hex()} does not match expected root {expected.hex()}")
        self.computed = computed
        self.expected = expected


class FormatError(ProofError):
    """A checkpoint, note or proof text is malformed."""


class SignatureError(ProofError):
    """No trusted signature on a note verifies."""


def b64decode(text: str) -> bytes:
    """b64decode decodes canonical standard base64 only; raises ValueError otherwise.

    Non-canonical encodings (set padding bits, missing padding, other
    alphabets) are refused so that every changed character of a stored note
    or proof is detected.
    """
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("base64 is not in canonical form")
    return raw


def leaf_hash(data: bytes) -> bytes:
    """leaf_hash returns the RFC 9162 hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """node_hash returns the RFC 9162 interior hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what}[{i}] is {len(h)} bytes, want {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """root_from_inclusion_proof computes the root implied by an audit path.

    RFC 9162 section 2.1.3.2. Raises ProofError if ``index >= size``, if the
    path has the wrong length, or if any hash is not 32 bytes.
    """
    if index < 0 or size <= 0 or index >= size:
        raise ProofError(f"index {index} is beyond tree size {size}")
    _check_hashes("leaf hash", [leaf])
    _check_hashes("proof", proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, too many for index {index} in size {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, too few for index {index} in size {size}")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """verify_inclusion checks that ``leaf`` (a leaf hash) is at ``index`` of the tree with ``root``.

    Raises ProofError (RootMismatchError for a wrong root) unless the proof holds.
    """
    _check_hashes("root", [root])
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise RootMismatchError(computed, root)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """verify_consistency checks that the tree (size1, root1) is a prefix of (size2, root2).

    RFC 9162 section 2.1.4.2. A proof from the empty tree is rejected as
    meaningless; equal sizes need an empty proof and equal roots.
    Raises ProofError unless the proof holds.
    """
    if size1 < 0 or size2 < size1:
        raise ProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ProofError("consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("size1 == size2 but the proof is not empty")
        if root1 != root2:
            raise RootMismatchError(root1, root2)
        return
    if not proof:
        raise ProofError("empty consistency proof for different sizes")
    _check_hashes("proof", proof)
    _check_hashes("root", [root1, root2])
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise RootMismatchError(fr, root1)
    if sr != root2:
        raise RootMismatchError(sr, root2)


# --- Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) -------


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 note verifier key: ``<name>+<hex key id>+<base64(0x01 || pubkey)>``."""

    name: str
    key_id: bytes
    public_key: bytes


def key_id(name: str, public_key: bytes) -> bytes:
    """key_id returns the 4-byte signed-note key ID of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def parse_verifier_key(text: str) -> Verifier:
    """parse_verifier_key parses a Go sumdb note verifier key; raises FormatError."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise FormatError("verifier key must be <name>+<hex id>+<base64 key>")
    name, hex_id, b64 = parts
    try:
        kid = bytes.fromhex(hex_id)
        raw = b64decode(b64)
    except ValueError as exc:
        raise FormatError(f"verifier key is not hex/base64: {exc}") from None
    if len(kid) != 4 or len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise FormatError("verifier key is not an Ed25519 note key")
    if key_id(name, raw[1:]) != kid:
        raise FormatError("verifier key id does not match its name and public key")
    return Verifier(name, kid, raw[1:])


def _ed25519_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as exc:  # pragma: no cover - depends on the auditor's machine
        raise SignatureError("the 'cryptography' package is needed to check Ed25519 signatures") from exc
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def split_note(note: str) -> tuple[str, list[str]]:
    """split_note returns (text, signature lines) of a signed note; raises FormatError."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise FormatError("note contains a control character")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise FormatError("note has no blank line before its signatures")
    text, sigs = note[: cut + 1], note[cut + 2 :].splitlines()
    if not sigs or not all(s.startswith("\u2014 ") for s in sigs):
        raise FormatError("note signature lines must start with an em dash")
    return text, sigs


def verify_note(note: str, verifier: Verifier) -> str:
    """verify_note returns the note text if a signature by ``verifier`` verifies.

    Signatures from other keys are ignored; a failing signature from the
    trusted key rejects the note. Raises SignatureError or FormatError.
    """
    text, sigs = split_note(note)
    for line in sigs:
        fields = line[2:].split(" ")
        if len(fields) != 2 or fields[0] != verifier.name:
            continue
        try:
            blob = b64decode(fields[1])
        except ValueError:
            raise FormatError("signature is not base64") from None
        if blob[:4] != verifier.key_id:
            continue
        if not _ed25519_ok(verifier.public_key, blob[4:], text.encode()):
            raise SignatureError(f"signature by {verifier.name} does not verify")
        return text
    raise SignatureError(f"note carries no signature by {verifier.name}")


@dataclass(frozen=True)
class Checkpoint:
    """The body of a C2SP tlog-checkpoint: origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def parse_checkpoint_text(text: str) -> Checkpoint:
    """parse_checkpoint_text parses a checkpoint body; raises FormatError."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise FormatError("checkpoint needs origin, size and root lines")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not origin or not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise FormatError("checkpoint origin or size is malformed")
    try:
        root = b64decode(root_s)
    except ValueError:
        raise FormatError("checkpoint root is not base64") from None
    if len(root) != HASH_SIZE:
        raise FormatError("checkpoint root is not 32 bytes")
    return Checkpoint(origin, int(size_s), root, tuple(lines[3:-1]))


def verify_checkpoint(note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """verify_checkpoint checks a signed checkpoint and returns its body.

    ``origin`` defaults to the verifier's key name, as C2SP recommends.
    """
    cp = parse_checkpoint_text(verify_note(note, verifier))
    want = origin if origin is not None else verifier.name
    if cp.origin != want:
        raise FormatError(f"checkpoint origin {cp.origin!r} is not {want!r}")
    return cp


# --- c2sp.org/tlog-proof@v1 and the consistency proof text ----------------


@dataclass(frozen=True)
class InclusionProof:
    """A parsed tlog-proof: index, audit path, optional extra data and the signed checkpoint."""

    index: int
    path: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None


def _b64_lines(lines: Sequence[str], what: str) -> tuple[bytes, ...]:
    try:
        return tuple(b64decode(s) for s in lines)
    except ValueError:
        raise FormatError(f"{what} line is not base64") from None


def _decimal(text: str, what: str) -> int:
    if not text.isdigit() or (text != "0" and text.startswith("0")):
        raise FormatError(f"{what} must be a decimal without leading zeroes")
    return int(text)


def parse_inclusion_proof(text: str) -> InclusionProof:
    """parse_inclusion_proof parses a ``c2sp.org/tlog-proof@v1`` text; raises FormatError."""
    head, sep, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != PROOF_HEADER:
        raise FormatError(f"proof must start with {PROOF_HEADER!r} and hold a checkpoint")
    rest, extra = lines[1:], None
    if rest and rest[0].startswith("extra "):
        extra = _b64_lines([rest[0][6:]], "extra")[0]
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise FormatError("proof has no index line")
    index = _decimal(rest[0][6:], "index")
    return InclusionProof(index, _b64_lines(rest[1:], "proof hash"), checkpoint, extra)


def format_inclusion_proof(proof: InclusionProof) -> str:
    """format_inclusion_proof renders a ``c2sp.org/tlog-proof@v1`` text."""
    lines = [PROOF_HEADER]
    if proof.extra is not None:
        lines.append("extra " + base64.b64encode(proof.extra).decode())
    lines.append(f"index {proof.index}")
    lines.extend(base64.b64encode(h).decode() for h in proof.path)
    return "\n".join(lines) + "\n\n" + proof.checkpoint


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof between two signed checkpoints of one log."""

    path: tuple[bytes, ...]
    old_checkpoint: str
    new_checkpoint: str


def format_consistency_proof(proof: ConsistencyProof) -> str:
    """format_consistency_proof renders the header, the path, then both checkpoints.

    Layout: header line, one base64 hash per line, a blank line, the old
    checkpoint, a blank line, the new checkpoint (each verbatim).
    """
    lines = [CONSISTENCY_HEADER] + [base64.b64encode(h).decode() for h in proof.path]
    return "\n".join(lines) + "\n\n" + proof.old_checkpoint + "\n" + proof.new_checkpoint


def parse_consistency_proof(text: str) -> ConsistencyProof:
    """parse_consistency_proof parses :func:`format_consistency_proof` output; raises FormatError."""
    head, sep, notes = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != CONSISTENCY_HEADER:
        raise FormatError(f"consistency proof must start with {CONSISTENCY_HEADER!r}")
    # The old checkpoint is "body\n\nsignatures\n"; one more "\n" separates the new one.
    body_end = notes.find("\n\n")
    old_end = notes.find("\n\n", body_end + 2) if body_end >= 0 else -1
    if old_end < 0:
        raise FormatError("consistency proof must hold two checkpoints")
    return ConsistencyProof(_b64_lines(lines[1:], "proof hash"), notes[: old_end + 1], notes[old_end + 2 :])


def verify_inclusion_proof_text(text: str, verifier: Verifier, entry: bytes, origin: str | None = None) -> Checkpoint:
    """verify_inclusion_proof_text checks a tlog-proof for the given entry bytes.

    Verifies the checkpoint signature, then the audit path from
    ``leaf_hash(entry)`` to the checkpoint root. Returns the checkpoint.
    """
    proof = parse_inclusion_proof(text)
    cp = verify_checkpoint(proof.checkpoint, verifier, origin)
    verify_inclusion(proof.index, cp.size, leaf_hash(entry), proof.path, cp.root)
    return cp


def verify_consistency_proof_text(
    text: str, verifier: Verifier, origin: str | None = None
) -> tuple[Checkpoint, Checkpoint]:
    """verify_consistency_proof_text checks both signatures and the consistency path."""
    proof = parse_consistency_proof(text)
    old = verify_checkpoint(proof.old_checkpoint, verifier, origin)
    new = verify_checkpoint(proof.new_checkpoint, verifier, origin)
    verify_consistency(old.size, new.size, proof.path, old.root, new.root)
    return old, new


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: verify a tlog-proof (with --leaf) or a consistency proof."""
    ap = argparse.ArgumentParser(description="Verify a Datanets ledger proof offline.")
    ap.add_argument("proof", help="a .tlog-proof or consistency proof file")
    ap.add_argument("--vkey", required=True, help="verifier key text, or a file holding it")
    ap.add_argument("--leaf", help="file with the exact entry bytes (inclusion proofs)")
    args = ap.parse_args(argv)
    try:
        vkey = args.vkey
        if "+" not in vkey:
            with open(vkey, encoding="utf-8") as f:
                vkey = f.read()
        verifier = parse_verifier_key(vkey)
        with open(args.proof, encoding="utf-8") as f:
            text = f.read()
        if text.startswith(CONSISTENCY_HEADER):
            old, new = verify_consistency_proof_text(text, verifier)
            print(f"OK: checkpoint {old.size} is consistent with checkpoint {new.size}")
            return 0
        if args.leaf is None:
            raise FormatError("--leaf ENTRY_FILE is needed to verify an inclusion proof")
        with open(args.leaf, "rb") as f:
            entry = f.read()
        if entry.endswith(b"\n"):
            entry = entry[:-1]
        cp = verify_inclusion_proof_text(text, verifier, entry)
        print(f"OK: entry is included in {cp.origin} at size {cp.size}")
        return 0
    except (ProofError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
