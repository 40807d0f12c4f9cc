"""Witnessed publishing end to end: a Datanet naming two witnesses on 127.0.0.1 publishes only at quorum.

Ingest and ``usage record`` publish a checkpoint cosigned by both; with one
witness down the write is committed but not published, the command fails in
one line, and ``datanet ledger witness NAME`` publishes it once the witness
is back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger import checkpoint as ckpt
from ledger.log import Ledger
from ledger.tlog.witness_server import Witness as WitnessService
from ledger.verify import parse_verifier_key, verify_quorum
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.driver.run import ingest

from ..ledger.tlog_fixtures import cosigner, free_port, witness_at

W1, W2 = cosigner("w1.datanets.test"), cosigner("w2.datanets.test")


def _published_size(project: Path) -> int:
    note = (project / "out" / "tiny" / "ledger" / "published-checkpoint").read_text()
    assert len(verify_quorum(note, [W1.witness_key(), W2.witness_key()], 2)) == 2
    return int(note.split("\n")[1])


@pytest.mark.slow
def test_ingest_and_usage_publish_at_quorum_and_a_witness_down_is_retried(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dn = load_datanet("tiny")
    signer = ckpt.generate(dn.origin)
    dn.key_path.parent.mkdir(parents=True, exist_ok=True)
    ckpt.save_signer(dn.key_path, signer)
    logs = {signer.name: [parse_verifier_key(signer.verifier_key())]}
    port2 = free_port()
    with witness_at(WitnessService(W1, logs, project / "w1")) as u1:
        with witness_at(WitnessService(W2, logs, project / "w2"), port2) as u2:
            ws = [{"name": "w1", "url": u1, "vkey": W1.vkey()}, {"name": "w2", "url": u2, "vkey": W2.vkey()}]
            decl = project / "datanets" / "tiny.yaml"
            decl.write_text(decl.read_text() + "ledger: " + json.dumps({"witnesses": ws, "witness_quorum": 2}) + "\n")
            ingest(load_datanet("tiny"), progress=lambda m: None)
            with Ledger(dn.ledger_dir) as led:
                assert _published_size(project) == led.size
            assert main(["usage", "record", "tiny", "--model", "m1", "--training-run", "t1", "--all"]) == 0
            with Ledger(dn.ledger_dir) as led:
                assert _published_size(project) == led.size
            published = led.size
        # w2 is down: the usage is committed, the checkpoint is not published
        capsys.readouterr()
        assert main(["usage", "record", "tiny", "--model", "m1", "--training-run", "t2", "--all"]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "1 of the required 2 witnesses cosigned" in err and "w2: " in err, err
        assert "datanet ledger witness" in err
        with Ledger(dn.ledger_dir) as led:
            assert led.size > published and _published_size(project) == published
            grown = led.size
        with witness_at(WitnessService(W2, logs, project / "w2"), port2):  # back, with the state it persisted
            assert main(["ledger", "witness", "tiny"]) == 0
        assert _published_size(project) == grown
    capsys.readouterr()
    assert main(["verify", "tiny", "--witness", str(project / "w.note")]) == 0
    assert "published checkpoint (size " in capsys.readouterr().out
    published = dn.ledger_dir / "published-checkpoint"
    note = published.read_text()
    published.write_text(note.rstrip("\n").rsplit("\n", 1)[0] + "\n")  # drop one cosignature line
    assert main(["verify", "tiny", "--witness", str(project / "w.note")]) == 1
    assert "FAILED" in capsys.readouterr().err
    assert main(["verify", "tiny", "--witness", str(project / "w.note"), "--cosigner", W1.vkey()]) == 0
