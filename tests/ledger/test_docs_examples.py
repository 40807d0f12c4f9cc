"""The proofs printed in docs/ledger.md are real: our parser and verifier accept them, and so does a Go
verifier built only on golang.org/x/mod/sumdb (where Go and Debian's golang-golang-x-mod-dev are installed).
Both reject a copy with one changed byte."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.verify import (
    ProofError,
    parse_consistency_proof,
    parse_inclusion_proof,
    parse_verifier_key,
    verify_consistency_proof_text,
    verify_inclusion_proof_text,
)

REPO = Path(__file__).resolve().parents[2]
GO_DIR = REPO / "tests" / "ledger" / "go"
GOPATH = Path("/usr/share/gocode")


def _example(name: str) -> str:
    doc = (REPO / "docs" / "ledger.md").read_text(encoding="utf-8")
    m = re.search(rf"<!-- example: {name} -->\n```\n(.*?)```", doc, re.S)
    assert m, f"docs/ledger.md has no '{name}' example"
    return m.group(1)


def _tamper(text: str) -> str:
    """Change one character of the first proof hash (a base64 line after the header lines)."""
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if n > 0 and line.endswith("=") and " " not in line)
    lines[i] = ("A" if lines[i][0] != "A" else "B") + lines[i][1:]
    return "\n".join(lines)


def test_the_consistency_example_parses_with_its_blank_line_and_verifies() -> None:
    text, verifier = _example("consistency"), parse_verifier_key(_example("vkey").strip())
    proof = parse_consistency_proof(text)
    assert proof.old_checkpoint.split("\n")[1] == "2" and proof.new_checkpoint.split("\n")[1] == "3"
    old, new = verify_consistency_proof_text(text, verifier)
    assert (old.size, new.size) == (2, 3)
    with pytest.raises(ProofError):
        verify_consistency_proof_text(_tamper(text), verifier)


def test_the_inclusion_example_verifies_from_its_extra_bytes() -> None:
    text, verifier = _example("inclusion"), parse_verifier_key(_example("vkey").strip())
    proof = parse_inclusion_proof(text)
    assert proof.extra is not None and b'"kind":"contribution"' in proof.extra
    assert verify_inclusion_proof_text(text, verifier, proof.extra).size == 3
    with pytest.raises(ProofError):
        verify_inclusion_proof_text(text, verifier, proof.extra.replace(b'"row":1', b'"row":2'))


@pytest.mark.skipif(
    shutil.which("go") is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir(),
    reason="needs Debian's golang-go and golang-golang-x-mod-dev",
)
@pytest.mark.parametrize("name", ["inclusion", "consistency"])
def test_a_go_verifier_on_sumdb_alone_accepts_the_examples_and_rejects_a_tampered_one(
    name: str, tmp_path: Path
) -> None:
    (tmp_path / "vkey").write_text(_example("vkey"))
    (tmp_path / "good").write_text(_example(name))
    (tmp_path / "bad").write_text(_tamper(_example(name)))
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(tmp_path / "cache")}
    exe = tmp_path / "verify"
    subprocess.run(["go", "build", "-o", str(exe), "main.go"], cwd=GO_DIR, env=env, check=True, timeout=600)
    good = subprocess.run([exe, tmp_path / "vkey", tmp_path / "good"], capture_output=True, text=True)
    bad = subprocess.run([exe, tmp_path / "vkey", tmp_path / "bad"], capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout.startswith("OK"), good.stdout
    assert bad.returncode == 1 and bad.stdout.startswith("FAILED"), bad.stdout
