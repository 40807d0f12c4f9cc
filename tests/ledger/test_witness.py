"""cosignature/v1 and the tlog-witness add-checkpoint answers, as the C2SP specs name them."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import tree
from ledger.checkpoint import Signer
from ledger.log import Ledger
from ledger.tlog import cosignature
from ledger.tlog.witness import SIZE_TYPE, add_checkpoint
from ledger.tlog.witness_server import Witness, load_state
from ledger.tlog.witnessing import request_body
from ledger.verify import SignatureError, parse_verifier_key, verify_cosignature

from .tlog_fixtures import cosigner, grow, http, witness_at

BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_cosignature_bytes_follow_the_spec_independently_of_our_code() -> None:
    w = cosigner("witness.example.com/w1")
    assert cosignature.cosignature_message(BODY, 1679315147) == (b"cosignature/v1\ntime 1679315147\n" + BODY.encode())
    line = cosignature.cosign(w, BODY, 1679315147)
    assert line.startswith("\u2014 witness.example.com/w1 ") and line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    pub = w.public_key
    assert blob[:4] == hashlib.sha256(b"witness.example.com/w1\n\x04" + pub).digest()[:4]
    assert blob[4:12] == (1679315147).to_bytes(8, "big") and len(blob) == 76
    want = Ed25519PrivateKey.from_private_bytes(w.seed).sign(b"cosignature/v1\ntime 1679315147\n" + BODY.encode())
    assert blob[12:] == want
    raw = base64.b64encode(b"\x04" + pub).decode()
    assert w.vkey() == f"witness.example.com/w1+{blob[:4].hex()}+{raw}"


def test_cosignature_round_trip_and_tampering() -> None:
    w = cosigner("w1.test")
    note = BODY + "\n\u2014 example.com/behind-the-sofa AAAA\n"
    signed = note + cosignature.cosign(w, BODY, 7)
    key = cosignature.parse_witness_key(w.vkey())
    assert verify_cosignature(signed, key) == 7
    assert cosignature.verify_quorum(signed, [key, cosigner("w2.test").witness_key()], 1) == ["w1.test"]
    with pytest.raises(cosignature.QuorumError, match="1 of the required 2"):
        cosignature.verify_quorum(signed, [key, cosigner("w2.test").witness_key()], 2)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(signed.replace("20852163", "20852164"), key)
    assert cosignature.parse_cosigner(w.encode()) == w
    with pytest.raises(cosignature.SigningKeyError):
        cosignature.parse_cosigner(Signer("w1.test", w.seed).encode())  # a note key (0x01) is not a witness key
    with pytest.raises(cosignature.SigningKeyError):
        cosignature.cosign(w, BODY, 0)  # tlog-witness forbids a zero timestamp


@pytest.fixture
def two_ledgers(tmp_path: Path, signer: Signer) -> tuple[Path, Path]:
    """The log at sizes 5 then 17, and a fork signed by the same key with other entries at 17."""
    grow(tmp_path / "log", signer, [5, 17])
    grow(tmp_path / "fork", signer, [5])
    grow(tmp_path / "fork", signer, [17], start=1000)
    return tmp_path / "log", tmp_path / "fork"


def _req(path: Path, old: int, size: int, proof_from: int | None = None) -> bytes:
    with Ledger(path) as led:
        frm = old if proof_from is None else proof_from
        proof = tree.consistency_proof(led.store.node, frm, size) if 0 < frm < size else []
        return request_body(old, proof, led.checkpoint(size))


def test_add_checkpoint_answers_every_status(two_ledgers: tuple[Path, Path], signer: Signer) -> None:
    log, fork = two_ledgers
    logs = {signer.name: [parse_verifier_key(signer.verifier_key())]}
    w, now = cosigner("w.test"), 1700000000

    def ask(state: dict, body: bytes) -> tuple[int, bytes, str, dict]:
        d = add_checkpoint(state, body, logs, w, now)
        return d.status, d.body, d.content_type, dict(d.state)

    status, body, _, s5 = ask({}, _req(log, 0, 5))
    assert status == 200 and body.decode().startswith("\u2014 w.test ")
    assert s5[signer.name].size == 5
    # 404: unknown origin
    assert ask({}, _req(log, 0, 5).replace(signer.name.encode(), b"other.test/log"))[0] == 404
    # 403: no trusted signature (another key), and a trusted key id whose signature fails
    other = Signer(signer.name, hashlib.sha256(b"x").digest()).sign_note(f"{signer.name}\n5\n{'A' * 43}=\n")
    assert ask({}, b"old 0\n\n" + other.encode())[0] == 403
    assert ask({}, _req(log, 0, 5).replace(b"\n5\n", b"\n6\n"))[0] == 403
    # 400: old size larger than the checkpoint, and malformed bodies
    assert ask(s5, _req(log, 17, 5))[0] == 400
    too_long = b"old 0\n" + b"AAAA\n" * 64 + b"\n"
    for bad in (b"", b"old 01\n\n", b"old 0\nnot base64!\n\n", b"new 0\n\n", too_long):
        assert ask(s5, bad + _req(log, 0, 5).split(b"\n\n", 1)[1])[0] == 400
    # 409: old size is not the size last cosigned; the body is that size
    status, body, ctype, same = ask(s5, _req(log, 0, 17))
    assert (status, body, ctype, same) == (409, b"5\n", SIZE_TYPE, s5)
    # 422: a proof that does not verify, a proof from size 0, a fork at the same size
    assert ask(s5, _req(log, 5, 17, proof_from=4).replace(b"old 4", b"old 5"))[0] == 422
    assert ask({}, _req(log, 5, 17).replace(b"old 5", b"old 0"))[0] == 422
    status, _, _, s17 = ask(s5, _req(log, 5, 17))
    assert status == 200 and s17[signer.name].size == 17
    assert ask(s17, _req(fork, 17, 17))[0] == 422  # same size, another root (tlog-witness rev. 95978ca)
    assert ask(s17, _req(log, 17, 17))[0] == 200  # the same checkpoint again is fine
    status, _, _, split = ask(s5, _req(fork, 5, 17))  # the fork extends size 5, so a fresh witness takes it ...
    assert status == 200 and ask(split, _req(log, 17, 17))[0] == 422  # ... and then refuses the other view


def test_the_witness_server_persists_before_answering_and_survives_restart(
    two_ledgers: tuple[Path, Path], signer: Signer, tmp_path: Path
) -> None:
    log, _ = two_ledgers
    logs = {signer.name: [parse_verifier_key(signer.verifier_key())]}
    state = tmp_path / "state"
    with witness_at(Witness(cosigner("w.test"), logs, state)) as url:
        status, body, _ = http(url + "/add-checkpoint", _req(log, 0, 5), "POST")
        assert status == 200 and load_state(state)[signer.name].size == 5
        assert http(url + "/add-checkpoint", _req(log, 0, 5), "GET")[0] == 404
        origin_hash = hashlib.sha256(signer.name.encode()).hexdigest()
        status, note, _ = http(f"{url}/{origin_hash}/checkpoint")
        assert status == 200 and note.decode().endswith(body.decode())
    # A new process on the same state directory remembers size 5.
    key = tmp_path / "w.key"
    cosignature.save_cosigner(key, cosigner("w.test"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger.tlog.cli_witness", "serve", "--key", str(key), "--port", "0",
         "--state", str(state), "--log", f"{signer.name}={signer.verifier_key()}"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ")[1].strip()
        assert http(url + "/add-checkpoint", _req(log, 0, 17), "POST")[:2] == (409, b"5\n")
        status, body, _ = http(url + "/add-checkpoint", _req(log, 5, 17), "POST")
        assert status == 200 and load_state(state)[signer.name].size == 17
    finally:
        proc.terminate()
        proc.wait(timeout=10)
