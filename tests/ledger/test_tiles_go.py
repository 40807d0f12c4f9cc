"""An independent check in Go: golang.org/x/mod/sumdb/tlog reads our served tiles, proves every entry
and agrees with our root; cosignature/v1 lines verify with a few lines of crypto/ed25519 written from the spec."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.checkpoint import Signer
from ledger.tlog import serve
from ledger.tlog.tiles import write_tiles
from ledger.tlog.witness_server import Witness as Service
from ledger.tlog.witnessing import Witness, publish_witnessed
from ledger.verify import parse_verifier_key

from .tlog_fixtures import cosigner, grow, running, witness_at

GO_DIR = Path(__file__).resolve().parent / "go" / "tilecheck"
GOPATH = Path("/usr/share/gocode")

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir(),
    reason="needs Debian's golang-go and golang-golang-x-mod-dev",
)


@pytest.fixture(scope="module")
def tilecheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(out / "cache")}
    subprocess.run(["go", "build", "-o", str(out / "tilecheck"), "."], cwd=GO_DIR, env=env, check=True, timeout=600)
    return out / "tilecheck"


def test_go_sumdb_reads_our_tiles_and_cosignatures(tilecheck: Path, tmp_path: Path, signer: Signer) -> None:
    grow(tmp_path / "log", signer, [300, 700])  # 700 entries: full and partial tiles at levels 0 and 1
    w1, w2 = cosigner("w1.test"), cosigner("w2.test")
    logs = {signer.name: [parse_verifier_key(signer.verifier_key())]}
    with witness_at(Service(w1, logs, tmp_path / "s1")) as u1, witness_at(Service(w2, logs, tmp_path / "s2")) as u2:
        publish_witnessed(tmp_path / "log", [Witness("a", u1, w1.vkey()), Witness("b", u2, w2.vkey())], 2)
    write_tiles(tmp_path / "log", tmp_path / "tiles")
    with running(serve.make_server(tmp_path / "tiles")) as url:
        run = subprocess.run(
            [tilecheck, url, signer.verifier_key(), w1.vkey(), w2.vkey()], capture_output=True, text=True
        )
        assert run.returncode == 0 and run.stdout.startswith("OK:"), run.stdout + run.stderr
        assert "700 entries proven, 2 cosignatures" in run.stdout
        bad = subprocess.run(
            [tilecheck, url, signer.verifier_key(), cosigner("w3.test").vkey()], capture_output=True, text=True
        )
        assert bad.returncode == 1 and "no cosignature by w3.test" in bad.stdout
        tile = tmp_path / "tiles" / "tile/0/001"
        tile.write_bytes(tile.read_bytes()[:-1] + b"\0")
        bad = subprocess.run([tilecheck, url, signer.verifier_key()], capture_output=True, text=True)
        assert bad.returncode == 1 and bad.stdout.startswith("FAILED"), bad.stdout
