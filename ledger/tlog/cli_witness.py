"""``datanet witness …``: run an independent C2SP tlog-witness for Datanets ledgers.

* ``witness keygen NAME --out FILE``   make a witness key; prints its vkey (type 0x04)
* ``witness vkey --key FILE``          print the vkey of a witness key
* ``witness serve --key FILE --log ORIGIN=VKEY [--log ...] [--state DIR] [--port N]``

``add_witness_commands(sub)`` registers the group on a parent parser and
``run_witness(args)`` runs a parsed command; ``python -m ledger.tlog.cli_witness``
runs them standalone. Errors print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ledger.storage import LedgerError
from ledger.tlog.cosignature import generate_cosigner, load_cosigner, save_cosigner
from ledger.tlog.witness_server import Witness, make_server
from ledger.verify import ProofError, Verifier, parse_verifier_key


def parse_log_arg(text: str) -> tuple[str, Verifier]:
    """parse_log_arg parses ``--log ORIGIN=VKEY`` (the vkey text, or a file holding it)."""
    origin, sep, vkey = text.partition("=")
    if not sep or not origin or not vkey:
        raise argparse.ArgumentTypeError(f"--log takes ORIGIN=VKEY, not {text!r}")
    if "+" not in vkey:
        vkey = Path(vkey).read_text(encoding="utf-8").strip()
    try:
        return origin, parse_verifier_key(vkey)
    except ProofError as exc:
        raise argparse.ArgumentTypeError(f"--log {origin}: {exc}") from None


def add_witness_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_witness_commands registers the ``witness`` command group on a parent parser."""
    p = sub.add_parser("witness", help="run a tlog-witness that cosigns Datanets ledgers")
    wsub = p.add_subparsers(dest="witness_cmd", required=True)
    sp = wsub.add_parser("keygen", help="create a witness key and print its vkey")
    sp.add_argument("name", help="witness name, a schema-less URL such as witness.example.org/w1")
    sp.add_argument("--out", required=True, help="key file to create (never overwritten)")
    sp = wsub.add_parser("vkey", help="print the vkey of a witness key")
    sp.add_argument("--key", required=True)
    sp = wsub.add_parser("serve", help="answer POST /add-checkpoint on 127.0.0.1")
    sp.add_argument("--key", required=True, help="the witness's signing key file")
    sp.add_argument("--log", type=parse_log_arg, action="append", required=True, metavar="ORIGIN=VKEY")
    sp.add_argument("--state", default="witness-state", help="state directory (default: ./witness-state)")
    sp.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")


def _serve(args: argparse.Namespace) -> int:
    logs: dict[str, list[Verifier]] = {}
    for origin, verifier in args.log:
        logs.setdefault(origin, []).append(verifier)
    cosigner = load_cosigner(Path(args.key))
    witness = Witness(cosigner, logs, Path(args.state))
    with make_server(witness, args.port, args.host) as server:
        host, port = server.server_address[:2]
        print(f"witness {cosigner.name} on http://{host!s}:{port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def run_witness(args: argparse.Namespace) -> int:
    """run_witness executes a parsed ``witness`` command; returns the exit status."""
    try:
        if args.witness_cmd == "keygen":
            cosigner = generate_cosigner(args.name)
            save_cosigner(Path(args.out), cosigner)
            print(cosigner.vkey())
            return 0
        if args.witness_cmd == "vkey":
            print(load_cosigner(Path(args.key)).vkey())
            return 0
        return _serve(args)
    except (LedgerError, ProofError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """main runs ``python -m ledger.tlog.cli_witness {keygen,vkey,serve} ...``."""
    ap = argparse.ArgumentParser(prog="python -m ledger.tlog.cli_witness")
    sub = ap.add_subparsers(dest="group", required=True)
    add_witness_commands(sub)
    args = ap.parse_args(["witness", *(sys.argv[1:] if argv is None else argv)])
    return run_witness(args)


if __name__ == "__main__":
    sys.exit(main())
