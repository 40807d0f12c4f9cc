"""Offline verification of RFC 9162 Merkle proofs, checkpoints and tlog-proofs.

This module imports only the Python standard library so that an auditor can
copy this one file and check a Datanets ledger without trusting our code.
Ed25519 signature checking uses the ``cryptography`` package when it is
installed; everything else (hashing, inclusion and consistency proofs, the
checkpoint and proof text formats) is pure standard library.

Usage as a script::

    python verify.py PROOF.tlog-proof --vkey VKEY [--leaf ENTRY_FILE]
        [--witness WITNESS_VKEY ... --quorum K]

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
COSIGNATURE_TYPE = b"\x04"
COSIGNATURE_HEADER = "cosignature/v1"


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


class QuorumError(SignatureError):
    """Fewer than the required number of witness cosignatures verify."""


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


def _parse_vkey(text: str, sig_type: bytes, what: str) -> tuple[str, bytes, bytes]:
    """Split a ``<name>+<hex id>+<base64(type || key)>`` vkey of an Ed25519 key of ``sig_type``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise FormatError(f"{what} must be <name>+<hex id>+<base64 key>")
    name, hex_id, b64 = parts
    try:
        kid = bytes.fromhex(hex_id)
        raw = b64decode(b64)
    except ValueError as exc:
        raise FormatError(f"{what} is not hex/base64: {exc}") from None
    if len(kid) != 4 or len(raw) != 33 or raw[:1] != sig_type:
        raise FormatError(f"{what} is not an Ed25519 key of signature type 0x{sig_type.hex()}")
    return name, kid, raw[1:]


def parse_verifier_key(text: str) -> Verifier:
    """parse_verifier_key parses a Go sumdb note verifier key; raises FormatError."""
    name, kid, public_key = _parse_vkey(text, ED25519_TYPE, "verifier key")
    if key_id(name, public_key) != kid:
        raise FormatError("verifier key id does not match its name and public key")
    return Verifier(name, kid, public_key)


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


# --- Witness cosignatures (C2SP tlog-cosignature, cosignature/v1, Ed25519) --


@dataclass(frozen=True)
class WitnessKey:
    """An Ed25519 cosigner (witness) key: vkey ``<name>+<hex id>+<base64(0x04 || pubkey)>``."""

    name: str
    key_id: bytes
    public_key: bytes


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """cosigner_key_id returns SHA-256(name || "\\n" || 0x04 || public key)[:4] (tlog-cosignature)."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + public_key).digest()[:4]


def parse_witness_key(text: str) -> WitnessKey:
    """parse_witness_key parses a cosigner vkey with signature type 0x04; raises FormatError."""
    name, kid, public_key = _parse_vkey(text, COSIGNATURE_TYPE, "witness key")
    if cosigner_key_id(name, public_key) != kid:
        raise FormatError("witness key id does not match its name and public key")
    return WitnessKey(name, kid, public_key)


def cosignature_message(body: str, timestamp: int) -> bytes:
    """cosignature_message returns the signed message ``cosignature/v1\\ntime <t>\\n`` + checkpoint body."""
    if not 0 <= timestamp < 2**63:
        raise FormatError(f"cosignature timestamp {timestamp} is out of range")
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


def verify_cosignature(note: str, key: WitnessKey) -> int:
    """verify_cosignature returns the timestamp of ``key``'s valid cosignature on ``note``.

    Lines of other names or key IDs are ignored; a matching line that does
    not verify rejects the note. Raises SignatureError or FormatError.
    """
    text, sigs = split_note(note)
    for line in sigs:
        fields = line[2:].split(" ")
        if len(fields) != 2 or fields[0] != key.name:
            continue
        try:
            blob = b64decode(fields[1])
        except ValueError:
            raise FormatError("cosignature is not base64") from None
        if blob[:4] != key.key_id:
            continue
        if len(blob) != 4 + 8 + 64:
            raise FormatError(f"cosignature by {key.name} is {len(blob)} bytes, want 76")
        timestamp = int.from_bytes(blob[4:12], "big")
        if not _ed25519_ok(key.public_key, blob[12:], cosignature_message(text, timestamp)):
            raise SignatureError(f"cosignature by {key.name} does not verify")
        return timestamp
    raise SignatureError(f"note carries no cosignature by {key.name}")


def verify_quorum(note: str, keys: Sequence[WitnessKey], quorum: int) -> list[str]:
    """verify_quorum returns the names of the witnesses (of ``keys``) whose cosignature verifies.

    Raises QuorumError unless at least ``quorum`` distinct keys cosigned.
    """
    good: list[str] = []
    problems: list[str] = []
    for key in dict.fromkeys(keys):
        try:
            verify_cosignature(note, key)
            good.append(key.name)
        except ProofError as exc:
            problems.append(str(exc))
    if len(good) < quorum:
        detail = "; ".join(problems) or "no witness keys given"
        raise QuorumError(f"{len(good)} of the required {quorum} witness cosignatures verify ({detail})")
    return good


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


def _read_key_arg(value: str) -> str:
    """A key given on the command line, or the path of a file holding it."""
    if "+" in value:
        return value
    with open(value, encoding="utf-8") as f:
        return f.read().strip()


def _inclusion_entry(proof: InclusionProof, leaf: str | None) -> bytes:
    """The entry to hash: ``--leaf`` if given, else the entry carried in the proof."""
    if leaf is None:
        if proof.extra is None:
            raise FormatError("the proof carries no entry; pass --leaf ENTRY_FILE")
        return proof.extra
    with open(leaf, "rb") as f:
        entry = f.read()
    return entry[:-1] if entry.endswith(b"\n") else entry


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: verify a tlog-proof or a consistency proof, and optionally witness cosignatures.

    With ``--witness VKEY`` (repeatable) the (newest) checkpoint must also
    carry at least ``--quorum K`` valid cosignature/v1 lines from those
    witnesses (K defaults to the number of witnesses given).
    """
    ap = argparse.ArgumentParser(description="Verify a Datanets ledger proof offline.")
    ap.add_argument("proof", help="a .tlog-proof or consistency proof file")
    ap.add_argument("--vkey", required=True, help="verifier key text, or a file holding it")
    ap.add_argument("--leaf", help="file with the exact entry bytes (default: the entry carried in the proof)")
    ap.add_argument("--witness", action="append", default=[], help="witness vkey (or file); repeatable")
    ap.add_argument("--quorum", type=int, help="witness cosignatures required (default: all --witness keys)")
    args = ap.parse_args(argv)
    try:
        verifier = parse_verifier_key(_read_key_arg(args.vkey))
        witnesses = [parse_witness_key(_read_key_arg(w)) for w in args.witness]
        quorum = len(witnesses) if args.quorum is None else args.quorum
        with open(args.proof, encoding="utf-8") as f:
            text = f.read()
        if text.startswith(CONSISTENCY_HEADER):
            old, new = verify_consistency_proof_text(text, verifier)
            note = parse_consistency_proof(text).new_checkpoint
            message = f"OK: checkpoint {old.size} is consistent with checkpoint {new.size}"
        else:
            proof = parse_inclusion_proof(text)
            cp = verify_inclusion_proof_text(text, verifier, _inclusion_entry(proof, args.leaf))
            note = proof.checkpoint
            message = f"OK: entry {proof.index} is included in {cp.origin} at size {cp.size}"
        if quorum > 0:
            names = verify_quorum(note, witnesses, quorum)
            message += f", cosigned by {len(names)} witness(es): {', '.join(names)}"
        print(message)
        return 0
    except (ProofError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
