"""Tamper evidence: any changed byte of any stored file fails the audit, naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledger.audit import AuditError, audit
from ledger.checkpoint import Signer
from ledger.log import Ledger
from ledger.verify import ProofError, parse_verifier_key, verify_inclusion_proof_text


def _stored_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name != "LOCK")


def test_audit_passes_untouched(small_ledger: Path, signer: Signer) -> None:
    report = audit(small_ledger, signer.verifier_key())
    assert (report.size, report.checkpoints, report.indexed) == (23, 3, 23)


def test_every_single_byte_change_in_every_file_fails_audit(small_ledger: Path, tmp_path: Path, signer: Signer) -> None:
    vkey = signer.verifier_key()
    files = _stored_files(small_ledger)
    assert {p.name for p in files} >= {"entries.jsonl", "entries.idx", "tree.hashes", "STATE", "vkey", "checkpoint"}
    work = tmp_path / "work"
    checked = 0
    for f in files:
        rel = f.relative_to(small_ledger)
        data = f.read_bytes()
        for pos in range(len(data)):
            for delta in (0x01, 0x80):
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(small_ledger, work)
                changed = bytearray(data)
                changed[pos] ^= delta
                (work / rel).write_bytes(bytes(changed))
                with pytest.raises(AuditError) as err:
                    audit(work, vkey)
                named = str(rel) if rel.parent != Path(".") else rel.name
                assert rel.name in str(err.value) or named in str(err.value) or "STATE" in str(err.value), (
                    f"{rel}@{pos}: {err.value}"
                )
                checked += 1
    assert checked > 5000


def test_entry_change_names_the_entry(small_ledger: Path, signer: Signer) -> None:
    data = (small_ledger / "entries.jsonl").read_bytes()
    lines = data.split(b"\n")
    lines[7] = lines[7].replace(b'"c0"', b'"c9"')
    (small_ledger / "entries.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(AuditError, match=r"tree\.hashes: hash #"):
        audit(small_ledger, signer.verifier_key())


def test_truncated_or_extended_files_fail(small_ledger: Path, signer: Signer) -> None:
    for name in ("entries.jsonl", "entries.idx", "tree.hashes"):
        original = (small_ledger / name).read_bytes()
        for bad in (original[:-1], original + b"\0"):
            (small_ledger / name).write_bytes(bad)
            with pytest.raises(AuditError, match=name):
                audit(small_ledger, signer.verifier_key())
        (small_ledger / name).write_bytes(original)
    audit(small_ledger, signer.verifier_key())


def test_audit_with_another_trusted_key_fails(small_ledger: Path, other_signer: Signer) -> None:
    with pytest.raises(AuditError, match="vkey"):
        audit(small_ledger, other_signer.verifier_key())


def test_proof_for_one_checkpoint_does_not_verify_against_another(small_ledger: Path, signer: Signer) -> None:
    verifier = parse_verifier_key(signer.verifier_key())
    with Ledger(small_ledger) as led:
        entry = led.entry(3)
        at_17, at_23 = led.prove(3, 17), led.prove(3, 23)
        verify_inclusion_proof_text(at_17, verifier, entry)
        verify_inclusion_proof_text(at_23, verifier, entry)
        header_17, _, _ = at_17.partition("\n\n")
        _, _, cp_23 = at_23.partition("\n\n")
        with pytest.raises(ProofError):
            verify_inclusion_proof_text(header_17 + "\n\n" + cp_23, verifier, entry)
        with pytest.raises(ProofError):
            verify_inclusion_proof_text(at_17, verifier, led.entry(4))
