"""Helpers for the tlog-tiles, witness and mirror tests: ledgers, witnesses and HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

from ledger.checkpoint import Signer
from ledger.log import Ledger
from ledger.tlog import witness_server
from ledger.tlog.cosignature import Cosigner

from .conftest import make_entries


def cosigner(name: str) -> Cosigner:
    """A deterministic test witness key."""
    return Cosigner(name, hashlib.sha256(name.encode()).digest())


def grow(path: Path, signer: Signer, sizes: list[int], start: int = 0) -> None:
    """Append entries to reach each size in turn, signing a checkpoint at each."""
    with Ledger(path, writer=True, create=True) as led:
        for size in sizes:
            led.append(make_entries(size - led.size, led.size + start))
            led.sign(signer)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(server: ThreadingHTTPServer) -> Iterator[str]:
    """Serve from a thread; yield the base URL; shut down and close the socket afterwards."""
    import threading

    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        t.join()


@contextmanager
def witness_at(w: witness_server.Witness, port: int = 0) -> Iterator[str]:
    with running(witness_server.make_server(w, port)) as url:
        yield url


def http(url: str, data: bytes | None = None, method: str = "GET") -> tuple[int, bytes, str]:
    """(status, body, content type) of one request."""
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")
