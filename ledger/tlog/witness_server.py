"""A C2SP tlog-witness HTTP server around ``ledger.tlog.witness.add_checkpoint``.

State lives in a directory, one file per log: ``<sha256(origin) hex>.json``
holding the origin, size, base64 root and the cosigned checkpoint. A new
checkpoint is written there atomically (temp file, fsync, rename, fsync
directory) before 200 is sent; one lock around decide-persist-answer keeps
the check of the old size and the update atomic (the race tlog-witness warns
about). A restarted witness reads the same directory and carries on.

Endpoints: ``POST /add-checkpoint``, and the monitoring
``GET /<sha256(origin) hex>/checkpoint`` (the latest cosigned checkpoint).
The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ledger.storage import LedgerError, write_atomic
from ledger.tlog.cosignature import Cosigner
from ledger.tlog.witness import Decision, LogState, WitnessState, add_checkpoint
from ledger.verify import Verifier, b64decode

MAX_BODY = 1 << 16


class WitnessStateError(LedgerError):
    """A witness state file is unreadable or malformed."""


def origin_hash(origin: str) -> str:
    """origin_hash is the lowercase hex SHA-256 of an origin (the monitoring path element and file name)."""
    return hashlib.sha256(origin.encode()).hexdigest()


def load_state(state_dir: Path) -> dict[str, LogState]:
    """load_state reads every ``*.json`` log state in ``state_dir`` (an absent dir is an empty state)."""
    out: dict[str, LogState] = {}
    for p in sorted(state_dir.glob("*.json")) if state_dir.exists() else []:
        try:
            body = json.loads(p.read_bytes())
            out[str(body["origin"])] = LogState(int(body["size"]), b64decode(body["root"]), str(body["checkpoint"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise WitnessStateError(f"{p}: not a witness state file ({exc})") from None
    return out


def save_log_state(state_dir: Path, origin: str, log: LogState) -> None:
    """save_log_state durably replaces the state file of one log."""
    state_dir.mkdir(parents=True, exist_ok=True)
    root = base64.b64encode(log.root).decode()
    body = {"origin": origin, "size": log.size, "root": root, "checkpoint": log.checkpoint}
    write_atomic(state_dir / f"{origin_hash(origin)}.json", json.dumps(body, sort_keys=True).encode() + b"\n")


@dataclass
class Witness:
    """A running witness: its keys, trusted logs and persisted state."""

    cosigner: Cosigner | Sequence[Cosigner]
    logs: Mapping[str, Sequence[Verifier]]
    state_dir: Path
    state: WitnessState = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.state = load_state(self.state_dir)

    def submit(self, body: bytes, now: int | None = None) -> Decision:
        """submit decides a request, persists any new log state, then returns the answer."""
        with self.lock:
            decision = add_checkpoint(self.state, body, self.logs, self.cosigner, now or int(time.time()))
            if decision.status == 200:
                for origin, log in decision.state.items():
                    if self.state.get(origin) != log:
                        save_log_state(self.state_dir, origin, log)
                self.state = decision.state
            return decision

    def monitored(self, hashed_origin: str) -> str | None:
        """monitored returns the latest cosigned checkpoint of the log with this origin hash."""
        with self.lock:
            found = [log.checkpoint for o, log in self.state.items() if origin_hash(o) == hashed_origin]
        return found[0] if found else None


def _handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class WitnessHandler(BaseHTTPRequestHandler):
        server_version = "datanets-witness/1"
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/add-checkpoint":
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
            elif not 0 < length <= MAX_BODY:
                self._send(400, b"missing or oversized body\n", "text/plain; charset=utf-8")
            else:
                d = witness.submit(self.rfile.read(length))
                self._send(d.status, d.body, d.content_type)

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            note = witness.monitored(parts[0]) if len(parts) == 2 and parts[1] == "checkpoint" else None
            if note is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
            else:
                self._send(200, note.encode(), "text/plain; charset=utf-8")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return WitnessHandler


def make_server(witness: Witness, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """make_server binds (but does not start) a witness server; port 0 picks a free port."""
    return ThreadingHTTPServer((host, port), _handler(witness))


def start(witness: Witness, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """start serves a witness on 127.0.0.1 from a daemon thread; returns the server and its base URL."""
    server = make_server(witness, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, bound = server.server_address[:2]
    return server, f"http://{host!s}:{bound}"
