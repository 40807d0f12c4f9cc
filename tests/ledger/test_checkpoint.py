"""Keys, signed notes and checkpoints in the Go note / C2SP formats."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ledger import checkpoint as keys
from ledger.log import CheckpointError, Ledger
from ledger.verify import (
    FormatError,
    SignatureError,
    key_id,
    parse_checkpoint_text,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency_proof_text,
    verify_note,
)

from .conftest import make_entries


def test_key_strings_round_trip_and_match_the_note_spec(signer: keys.Signer, tmp_path: Path) -> None:
    secret = signer.encode()
    assert secret.startswith("PRIVATE+KEY+datanets.test/ledger+")
    assert keys.parse_signer(secret) == signer
    name, hex_id, b64 = signer.verifier_key().split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and len(raw) == 33 and bytes.fromhex(hex_id) == key_id(name, raw[1:])
    assert parse_verifier_key(signer.verifier_key()).public_key == raw[1:]
    keys.save_signer(tmp_path / "k", signer)
    assert keys.load_signer(tmp_path / "k") == signer
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        keys.save_signer(tmp_path / "k", signer)


@pytest.mark.parametrize("bad", ["", "PRIVATE+KEY+x", "PRIVATE+KEY+x+00000000+AAAA", "nope+1234+abcd"])
def test_malformed_keys_are_rejected(bad: str) -> None:
    with pytest.raises(FormatError):
        keys.parse_signer(bad)


def test_signatures_are_deterministic_and_verify(signer: keys.Signer) -> None:
    text = keys.checkpoint_text("datanets.test/ledger", 5, b"\x07" * 32)
    note = signer.sign_note(text)
    assert note == signer.sign_note(text)
    assert note.startswith(text + "\n\u2014 datanets.test/ledger ")
    verifier = parse_verifier_key(signer.verifier_key())
    cp = verify_checkpoint(note, verifier)
    assert (cp.origin, cp.size, cp.root) == ("datanets.test/ledger", 5, b"\x07" * 32)


def test_notes_from_unknown_or_wrong_keys_are_rejected(signer: keys.Signer, other_signer: keys.Signer) -> None:
    note = other_signer.sign_note(keys.checkpoint_text("datanets.test/ledger", 1, b"\0" * 32))
    with pytest.raises(SignatureError):
        verify_note(note, parse_verifier_key(signer.verifier_key()))
    good = signer.sign_note("hello\n")
    tampered = good.replace("hello", "hellO")
    with pytest.raises(SignatureError):
        verify_note(tampered, parse_verifier_key(signer.verifier_key()))


def test_checkpoint_body_is_strict() -> None:
    with pytest.raises(FormatError):
        parse_checkpoint_text("origin\n007\nAAAA\n")
    with pytest.raises(FormatError):
        parse_checkpoint_text("origin\n7\n" + base64.b64encode(b"short").decode() + "\n")


def test_every_checkpoint_is_kept_and_consistency_proofs_verify(small_ledger: Path, signer: keys.Signer) -> None:
    with Ledger(small_ledger) as led:
        assert led.checkpoint_sizes() == [5, 17, 23]
        verifier = parse_verifier_key(signer.verifier_key())
        old, new = verify_consistency_proof_text(led.consistency(5, 23), verifier)
        assert (old.size, new.size) == (5, 23)
        with pytest.raises(CheckpointError):
            led.checkpoint(6)


def test_signing_twice_at_one_size_returns_the_same_checkpoint(small_ledger: Path, signer: keys.Signer) -> None:
    with Ledger(small_ledger, writer=True) as led:
        assert led.sign(signer) == led.checkpoint(23)


def test_ledger_refuses_another_key(small_ledger: Path, other_signer: keys.Signer) -> None:
    with Ledger(small_ledger, writer=True) as led:
        led.append(make_entries(1, 100))
        with pytest.raises(CheckpointError, match="another key"):
            led.sign(other_signer)


def test_ledger_refuses_to_sign_over_an_inconsistent_checkpoint(small_ledger: Path, signer: keys.Signer) -> None:
    # Forge a checkpoint at size 17 with another root, signed by the right key.
    forged = signer.sign_note(keys.checkpoint_text(signer.name, 17, b"\x01" * 32))
    (small_ledger / "checkpoint").write_text(forged)
    with Ledger(small_ledger, writer=True) as led:
        with pytest.raises(CheckpointError, match="not a prefix"):
            led.sign(signer)
