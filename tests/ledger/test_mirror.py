"""Serving tiles read-only, mirroring them with every check, and the ``datanet ledger`` tlog commands."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from ledger import cli
from ledger.checkpoint import Signer, save_signer
from ledger.tlog import serve
from ledger.tlog.mirror import MirrorError, MirrorForkError, MirrorRollbackError, TileMismatchError, mirror
from ledger.tlog.tiles import write_tiles
from ledger.verify import SignatureError

from .tlog_fixtures import cosigner, grow, http, running, witness_at


@pytest.fixture
def served(tmp_path: Path, signer: Signer):  # type: ignore[no-untyped-def]
    grow(tmp_path / "log", signer, [300])
    write_tiles(tmp_path / "log", tmp_path / "tiles")
    with running(serve.make_server(tmp_path / "tiles")) as url:
        yield url


def test_the_server_answers_only_tlog_paths(served: str, tmp_path: Path) -> None:
    status, body, ctype = http(served + "/checkpoint")
    assert (status, ctype) == (200, "text/plain; charset=utf-8") and body == (
        tmp_path / "tiles/checkpoint"
    ).read_bytes()
    status, body, ctype = http(served + "/tile/0/001.p/44")
    assert (status, ctype, len(body)) == (200, "application/octet-stream", 44 * 32)
    assert http(served + "/tile/entries/000")[0] == 200
    (tmp_path / "secret").write_text("x")
    for path in ("/tile/0/002", "/tile/../../secret", "/tile/0/../../secret", "/%2e%2e/secret", "/", "/tile/0/1",
                 "/tile/0/001.p/256", "/tile/64/000", "/tile/0/001.p/044"):  # fmt: skip
        assert http(served + path)[0] == 404, path
    assert http(served + "/checkpoint", b"x", "POST")[0] == 405


def test_mirror_grows_and_checks_consistency(served: str, tmp_path: Path, signer: Signer) -> None:
    vkey, out = signer.verifier_key(), tmp_path / "mirror"
    assert mirror(served, out, vkey).size == 300
    assert (out / "tile/entries/001.p/44").read_bytes() == (tmp_path / "tiles/tile/entries/001.p/44").read_bytes()
    grow(tmp_path / "log", signer, [700])
    write_tiles(tmp_path / "log", tmp_path / "tiles")
    assert mirror(served, out, vkey).size == 700
    assert mirror(served, out, vkey).size == 700  # nothing new: still fine
    assert (out / "checkpoint").read_bytes() == (tmp_path / "tiles/checkpoint").read_bytes()


def test_mirror_rejects_a_tampered_tile_or_bundle(served: str, tmp_path: Path, signer: Signer) -> None:
    for path in ("tile/0/001.p/44", "tile/entries/000", "tile/1/000.p/1"):
        f = tmp_path / "tiles" / path
        good = f.read_bytes()
        f.write_bytes(good[:20] + bytes([good[20] ^ 1]) + good[21:])
        with pytest.raises(TileMismatchError):
            mirror(served, tmp_path / "m", signer.verifier_key())
        assert not (tmp_path / "m" / "checkpoint").exists()
        f.write_bytes(good)
    assert mirror(served, tmp_path / "m", signer.verifier_key()).size == 300


def test_mirror_rejects_rollback_fork_and_bad_signatures(
    served: str, tmp_path: Path, signer: Signer, other_signer: Signer
) -> None:
    mirror(served, tmp_path / "m", signer.verifier_key())
    with pytest.raises(SignatureError):
        mirror(served, tmp_path / "m2", other_signer.verifier_key())
    grow(tmp_path / "small", signer, [200])
    write_tiles(tmp_path / "small", tmp_path / "small-tiles")
    with running(serve.make_server(tmp_path / "small-tiles")) as url, pytest.raises(MirrorRollbackError):
        mirror(url, tmp_path / "m", signer.verifier_key())
    grow(tmp_path / "fork", signer, [300], start=5000)  # same key, same size, other entries
    write_tiles(tmp_path / "fork", tmp_path / "fork-tiles")
    with running(serve.make_server(tmp_path / "fork-tiles")) as url, pytest.raises(MirrorForkError):
        mirror(url, tmp_path / "m", signer.verifier_key())
    grow(tmp_path / "fork", signer, [400])  # the fork grows: its tiles cannot give its root on top of ours
    write_tiles(tmp_path / "fork", tmp_path / "fork-tiles")
    with running(serve.make_server(tmp_path / "fork-tiles")) as url, pytest.raises(TileMismatchError, match="fork"):
        mirror(url, tmp_path / "m", signer.verifier_key())
    assert mirror(served, tmp_path / "m", signer.verifier_key()).size == 300  # the mirror is intact
    with pytest.raises(MirrorError, match=r"unreachable|HTTP"):
        mirror("http://127.0.0.1:9/", tmp_path / "m3", signer.verifier_key(), timeout=2)


def _cli(tmp_path: Path, signer: Signer, *argv: str) -> int:
    ap = argparse.ArgumentParser()
    cli.add_commands(ap.add_subparsers(dest="cmd"))
    key = tmp_path / "ledger.key"
    if not key.exists():
        save_signer(key, signer)
    target = cli.LedgerTarget(tmp_path / "log", key, signer.name)
    return cli.run(ap.parse_args(["ledger", *argv]), lambda name: target)


def test_cli_tiles_witness_and_mirror(tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.tlog.witness_server import Witness as Service
    from ledger.verify import parse_verifier_key

    grow(tmp_path / "log", signer, [20])
    assert _cli(tmp_path, signer, "tiles", "tiny", str(tmp_path / "t")) == 0
    w = cosigner("w1.test")
    with witness_at(Service(w, {signer.name: [parse_verifier_key(signer.verifier_key())]}, tmp_path / "s")) as u:
        spec = f"w1={u}={w.vkey()}"
        assert cli.parse_witness_arg(spec).vkey == w.vkey()
        assert _cli(tmp_path, signer, "witness", "tiny", "--witness", spec, "--tiles", str(tmp_path / "t")) == 0
        assert capsys.readouterr().out.count("\u2014 ") == 2
    with running(serve.make_server(tmp_path / "t")) as url:
        argv = ["mirror", url, str(tmp_path / "m"), "--vkey", signer.verifier_key(), "--witness", w.vkey()]
        assert _cli(tmp_path, signer, *argv) == 0
        assert "OK: mirrored datanets.test/ledger at size 20" in capsys.readouterr().out
        shutil.rmtree(tmp_path / "m")
        assert _cli(tmp_path, signer, *argv, "--witness", cosigner("w2.test").vkey()) == 1
        assert "1 of the required 2" in capsys.readouterr().err
    assert _cli(tmp_path, signer, "witness", "tiny", "--witness", f"w1=http://127.0.0.1:9={w.vkey()}") == 1
    assert "w1: unreachable" in capsys.readouterr().err
