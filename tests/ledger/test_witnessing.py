"""The log side: two witnesses on 127.0.0.1, quorum, a witness down, retry, and offline quorum checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import verify
from ledger.checkpoint import Signer
from ledger.log import Ledger
from ledger.tlog.witness_server import Witness as WitnessService
from ledger.tlog.witnessing import WITNESS_SIZES, Witness, WitnessQuorumError, publish_witnessed
from ledger.verify import format_inclusion_proof, parse_inclusion_proof, parse_verifier_key, verify_quorum

from .tlog_fixtures import cosigner, free_port, grow, witness_at

W1, W2 = cosigner("w1.test"), cosigner("w2.test")


def _service(signer: Signer, key: object, state: Path) -> WitnessService:
    return WitnessService(key, {signer.name: [parse_verifier_key(signer.verifier_key())]}, state)  # type: ignore[arg-type]


def test_quorum_reached_publishes_the_cosigned_checkpoint(tmp_path: Path, signer: Signer) -> None:
    grow(tmp_path / "log", signer, [5])
    with (
        witness_at(_service(signer, W1, tmp_path / "s1")) as u1,
        witness_at(_service(signer, W2, tmp_path / "s2")) as u2,
    ):
        ws = [Witness("w1", u1, W1.vkey()), Witness("w2", u2, W2.vkey())]
        note = publish_witnessed(tmp_path / "log", ws, 2, tmp_path / "tiles")
        assert verify_quorum(note, [W1.witness_key(), W2.witness_key()], 2) == ["w1.test", "w2.test"]
        assert (tmp_path / "log" / "published-checkpoint").read_text() == note
        assert (tmp_path / "tiles" / "checkpoint").read_text() == note
        grow(tmp_path / "log", signer, [17])
        (tmp_path / "log" / WITNESS_SIZES).unlink()  # forgotten sizes: each witness answers 409 5, we retry
        note = publish_witnessed(tmp_path / "log", ws, 2, tmp_path / "tiles")
        assert note.split("\n")[1] == "17" and (tmp_path / "tiles" / "checkpoint").read_text() == note


def test_a_witness_down_blocks_publication_until_it_is_back(tmp_path: Path, signer: Signer) -> None:
    grow(tmp_path / "log", signer, [5])
    with Ledger(tmp_path / "log") as led:
        before = (led.size, led.root, led.latest_checkpoint())
    port = free_port()
    with witness_at(_service(signer, W1, tmp_path / "s1")) as u1:
        ws = [Witness("w1", u1, W1.vkey()), Witness("w2", f"http://127.0.0.1:{port}", W2.vkey())]
        with pytest.raises(WitnessQuorumError) as err:
            publish_witnessed(tmp_path / "log", ws, 2)
        assert err.value.failures.keys() == {"w2"} and "unreachable" in err.value.failures["w2"]
        assert "1 of the required 2" in str(err.value) and "\n" not in str(err.value)
        assert not (tmp_path / "log" / "published-checkpoint").exists()
        with Ledger(tmp_path / "log") as led:
            assert (led.size, led.root, led.latest_checkpoint()) == before
        with witness_at(_service(signer, W2, tmp_path / "s2"), port):
            note = publish_witnessed(tmp_path / "log", ws, 2)  # w1 already cosigned 5: old 5, same size
        assert len(verify_quorum(note, [W1.witness_key(), W2.witness_key()], 2)) == 2


def test_a_wrong_witness_key_does_not_count(tmp_path: Path, signer: Signer) -> None:
    grow(tmp_path / "log", signer, [3])
    with witness_at(_service(signer, W1, tmp_path / "s1")) as u1:
        with pytest.raises(WitnessQuorumError, match="no valid cosignature"):
            publish_witnessed(tmp_path / "log", [Witness("w1", u1, W2.vkey())], 1)


def test_the_standalone_verifier_checks_the_quorum(
    tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    grow(tmp_path / "log", signer, [5])
    with witness_at(_service(signer, W1, tmp_path / "s1")) as u1:
        note = publish_witnessed(tmp_path / "log", [Witness("w1", u1, W1.vkey())], 1)
    with Ledger(tmp_path / "log") as led:
        proof = parse_inclusion_proof(led.prove(2))
    cosigned = format_inclusion_proof(proof.__class__(proof.index, proof.path, note, proof.extra))
    (tmp_path / "p").write_text(cosigned)
    args = [str(tmp_path / "p"), "--vkey", signer.verifier_key()]
    assert verify.main(args) == 0  # no --leaf: the entry carried in the proof is used
    assert verify.main([*args, "--witness", W1.vkey(), "--quorum", "1"]) == 0
    assert "cosigned by 1 witness(es): w1.test" in capsys.readouterr().out
    assert verify.main([*args, "--witness", W1.vkey(), "--witness", W2.vkey()]) == 1
    assert "1 of the required 2" in capsys.readouterr().err
    (tmp_path / "q").write_text(format_inclusion_proof(proof.__class__(proof.index, proof.path, note, None)))
    assert verify.main([str(tmp_path / "q"), "--vkey", signer.verifier_key()]) == 1
    assert "carries no entry" in capsys.readouterr().err
