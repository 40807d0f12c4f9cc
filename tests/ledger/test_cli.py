"""``datanet ledger …`` end to end on a small ledger, and the copyable stdlib verifier."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.checkpoint import Signer, save_signer
from ledger.log import Ledger
from pipelines.cli.main import main
from pipelines.core.config import load_datanet

from .conftest import make_entries

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_project(project: Path, signer: Signer) -> Path:
    dn = load_datanet("tiny")
    save_signer(dn.key_path, Signer(dn.origin, signer.seed))
    with Ledger(dn.ledger_dir, writer=True, create=True) as led:
        led.append(make_entries(10))
        led.sign(Signer(dn.origin, signer.seed))
        led.append(make_entries(7, 10))
        led.sign(Signer(dn.origin, signer.seed))
    return project


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_prove_verify_consistency_audit_export(ledger_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, vkey, _ = _run(capsys, "ledger", "vkey", "tiny")
    assert code == 0 and vkey.startswith("datanets.local/tiny+")
    (ledger_project / "vkey.txt").write_text(vkey)

    record = make_entries(1, 12)[0]["record_hash"]
    code, proof, _ = _run(capsys, "ledger", "prove", "tiny", "--record", record)
    assert code == 0 and proof.startswith("c2sp.org/tlog-proof@v1\nextra ")
    (ledger_project / "p.tlog-proof").write_text(proof)
    code, out, _ = _run(capsys, "ledger", "verify", "p.tlog-proof", "--vkey", "vkey.txt", "--record", record)
    assert code == 0 and "OK: entry 12 is in datanets.local/tiny at size 17" in out

    code, _, err = _run(capsys, "ledger", "verify", "p.tlog-proof", "--vkey", "vkey.txt", "--record", "0" * 64)
    assert code == 1 and "not " in err
    (ledger_project / "bad.tlog-proof").write_text(proof.replace("index 12", "index 11"))
    code, _, err = _run(capsys, "ledger", "verify", "bad.tlog-proof", "--vkey", "vkey.txt")
    assert code == 1 and "FAILED" in err

    code, cons, _ = _run(capsys, "ledger", "consistency", "tiny", "--from", "10", "--to", "17")
    (ledger_project / "c.proof").write_text(cons)
    code, out, _ = _run(capsys, "ledger", "verify", "c.proof", "--vkey", vkey.strip())
    assert code == 0 and "size 10 is a prefix of checkpoint at size 17" in out

    code, out, _ = _run(capsys, "ledger", "audit", "tiny", "--vkey", "vkey.txt")
    assert code == 0 and out.startswith("OK: 17 entries")

    code, out, _ = _run(capsys, "ledger", "export", "tiny")
    with Ledger(load_datanet("tiny").ledger_dir) as led:
        assert out.encode() == b"".join(e + b"\n" for e in led.entries())


def test_audit_failure_names_the_file(ledger_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hashes = ledger_project / "out" / "tiny" / "ledger" / "tree.hashes"
    data = bytearray(hashes.read_bytes())
    data[100] ^= 1
    hashes.write_bytes(bytes(data))
    code, _, err = _run(capsys, "ledger", "audit", "tiny")
    assert code == 1 and "tree.hashes" in err


def test_keygen_refuses_to_overwrite(ledger_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "ledger", "keygen", "tiny")
    assert code == 2 and "refusing to overwrite" in err
    code, out, _ = _run(capsys, "ledger", "keygen", "tiny", "--out", "new.key")
    assert code == 0 and out.startswith("datanets.local/tiny+") and (ledger_project / "new.key").exists()


def test_unknown_datanet_is_a_clear_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "ledger", "audit", "nope")
    assert code == 2 and "no such Datanet declaration" in err and "tiny" in err


def test_verifier_imports_only_the_standard_library() -> None:
    tree = ast.parse((REPO / "ledger" / "verify.py").read_text())
    top = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    assert top - set(sys.stdlib_module_names) == {"cryptography"}  # imported lazily, for signatures only


def test_copied_verifier_checks_a_proof_on_its_own(
    ledger_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, vkey, _ = _run(capsys, "ledger", "vkey", "tiny")
    _, proof, _ = _run(capsys, "ledger", "prove", "tiny", "--index", "3")
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    shutil.copy(REPO / "ledger" / "verify.py", auditor / "verify.py")
    (auditor / "p.tlog-proof").write_text(proof)
    with Ledger(load_datanet("tiny").ledger_dir) as led:
        (auditor / "entry.json").write_bytes(led.entry(3) + b"\n")
    run = subprocess.run(
        [sys.executable, "-I", "verify.py", "p.tlog-proof", "--vkey", vkey.strip(), "--leaf", "entry.json"],
        cwd=auditor,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and run.stdout.startswith("OK:"), run.stderr
    (auditor / "entry.json").write_bytes(b"{}")
    run = subprocess.run(
        [sys.executable, "-I", "verify.py", "p.tlog-proof", "--vkey", vkey.strip(), "--leaf", "entry.json"],
        cwd=auditor,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "FAILED" in run.stderr
