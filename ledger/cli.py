"""``datanet ledger …``: key management, proofs, verification, audit and export.

Every subcommand names a Datanet; ``resolve`` (given by the caller) maps the
name to its ledger directory, key file and origin, so this module does not
depend on the pipeline's configuration code. Errors print one line and exit
with status 1 (verification failures) or 2 (usage and input errors).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import checkpoint as keys
from ledger.audit import audit
from ledger.log import Ledger
from ledger.storage import WRITER_WAIT, LedgerError
from ledger.tlog.mirror import mirror
from ledger.tlog.serve import serve
from ledger.tlog.tiles import write_tiles
from ledger.tlog.witnessing import Witness, publish_witnessed
from ledger.verify import (
    CONSISTENCY_HEADER,
    ProofError,
    parse_consistency_proof,
    parse_inclusion_proof,
    parse_verifier_key,
    parse_witness_key,
    verify_consistency_proof_text,
    verify_inclusion_proof_text,
    verify_quorum,
)


@dataclass(frozen=True)
class LedgerTarget:
    """Where one Datanet's ledger lives and how it is signed."""

    path: Path
    key_path: Path
    origin: str
    witnesses: tuple[Witness, ...] = ()  # from the Datanet's ledger.witnesses (YAML), if any
    witness_quorum: int = 0  # ledger.witness_quorum


Resolver = Callable[[str], LedgerTarget]
_SECONDS = re.compile(r"\A\d{1,6}(?:\.\d{1,3})?\Z")


def wait_seconds(text: str) -> float:
    """wait_seconds parses ``--wait``: plain decimal seconds from 0 (do not wait) to 999999."""
    if not _SECONDS.match(text):
        raise argparse.ArgumentTypeError(f"--wait takes plain decimal seconds such as 60 or 0.5, not {text!r}")
    return float(text)


def add_wait_argument(p: argparse.ArgumentParser) -> None:
    """add_wait_argument gives a writing command ``--wait SECONDS`` for the ledger's writer lock."""
    p.add_argument(
        "--wait",
        type=wait_seconds,
        default=WRITER_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for another writer of the ledger to finish (default {WRITER_WAIT:g})",
    )


def _read_vkey(value: str) -> str:
    if "+" in value:
        return value
    return Path(value).read_text(encoding="utf-8").strip()


def cmd_keygen(t: LedgerTarget, args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else t.key_path
    if out.exists():
        print(f"error: {out} already exists; refusing to overwrite a signing key", file=sys.stderr)
        return 2
    signer = keys.generate(t.origin)
    keys.save_signer(out, signer)
    print(f"wrote signing key {out} (keep it secret)", file=sys.stderr)
    print(signer.verifier_key())
    return 0


def _signer(t: LedgerTarget) -> keys.Signer:
    """The key file's seed, named for the target's origin: a key shared by Datanets signs each under its own."""
    signer = keys.load_signer(t.key_path)
    return signer if signer.name == t.origin else keys.Signer(t.origin, signer.seed)


def cmd_vkey(t: LedgerTarget, args: argparse.Namespace) -> int:
    print(_signer(t).verifier_key())
    return 0


def cmd_prove(t: LedgerTarget, args: argparse.Namespace) -> int:
    with Ledger(t.path) as led:
        index = args.index
        if args.record is not None:
            index = led.find(args.record.lower())
            if index is None:
                print(f"error: record {args.record} is not on the ledger", file=sys.stderr)
                return 1
        sys.stdout.write(led.prove(index, args.size))
    return 0


def cmd_consistency(t: LedgerTarget, args: argparse.Namespace) -> int:
    with Ledger(t.path) as led:
        sys.stdout.write(led.consistency(args.from_size, args.to_size))
    return 0


def cmd_audit(t: LedgerTarget, args: argparse.Namespace) -> int:
    report = audit(t.path, _read_vkey(args.vkey) if args.vkey else None)
    print(
        f"OK: {report.size} entries ({report.contributions} contributions, {report.indexed} of them in the "
        f"on-disk lookup index, the rest looked up from the log), root {report.root}, {report.checkpoints} checkpoints"
    )
    return 0


def cmd_export(t: LedgerTarget, args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    with Ledger(t.path) as led:
        for entry in led.entries():
            out.write(entry + b"\n")
    return 0


def cmd_sign(t: LedgerTarget, args: argparse.Namespace) -> int:
    with Ledger(t.path, writer=True, wait=args.wait) as led:
        sys.stdout.write(led.sign(_signer(t)))
    return 0


def parse_witness_arg(text: str) -> Witness:
    """parse_witness_arg parses ``--witness NAME=URL=VKEY`` (the vkey may end in base64 ``=`` padding)."""
    name, _, rest = text.partition("=")
    plus = rest.find("+")
    cut = rest.rfind("=", 0, plus) if plus >= 0 else -1
    if not name or cut <= 0:
        raise argparse.ArgumentTypeError(f"--witness takes NAME=URL=VKEY, not {text!r}")
    witness = Witness(name, rest[:cut], rest[cut + 1 :])
    parse_witness_key(witness.vkey)
    return witness


def tiles_dir(t: LedgerTarget, args: argparse.Namespace) -> Path:
    """tiles_dir is ``--tiles DIR`` or, by default, ``tiles/`` inside the ledger directory."""
    return Path(args.tiles) if getattr(args, "tiles", None) else t.path / "tiles"


def cmd_tiles(t: LedgerTarget, args: argparse.Namespace) -> int:
    written = write_tiles(t.path, args.dir)
    print(f"wrote {len(written)} files to {args.dir}", file=sys.stderr)
    return 0


def cmd_serve(t: LedgerTarget, args: argparse.Namespace) -> int:
    out = tiles_dir(t, args)
    write_tiles(t.path, out)
    print(f"serving {out} on http://127.0.0.1:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        serve(out, args.port)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_witness(t: LedgerTarget, args: argparse.Namespace) -> int:
    witnesses = tuple(args.witness) or t.witnesses
    quorum = args.quorum if args.quorum is not None else (t.witness_quorum or len(witnesses))
    note = publish_witnessed(t.path, witnesses, quorum, tiles_dir(t, args))
    sys.stdout.write(note)
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    witnesses = [_read_vkey(w) for w in args.witness_key]
    quorum = args.quorum if args.quorum is not None else len(witnesses)
    cp = mirror(args.url, args.dir, _read_vkey(args.vkey), witnesses, quorum)
    print(f"OK: mirrored {cp.origin} at size {cp.size} into {args.dir}")
    return 0


def _check_cosignatures(note: str, args: argparse.Namespace) -> str:
    """A suffix naming the witnesses that cosigned ``note``; raises QuorumError below ``--quorum``."""
    keys = [parse_witness_key(_read_vkey(w)) for w in args.witness_key]
    quorum = args.quorum if args.quorum is not None else len(keys)
    if not quorum:
        return ""
    return f", cosigned by {', '.join(verify_quorum(note, keys, quorum))}"


def cmd_verify(args: argparse.Namespace) -> int:
    text = Path(args.proof).read_text(encoding="utf-8")
    verifier = parse_verifier_key(_read_vkey(args.vkey))
    if text.startswith(CONSISTENCY_HEADER):
        old, new = verify_consistency_proof_text(text, verifier)
        cosigned = _check_cosignatures(parse_consistency_proof(text).new_checkpoint, args)
        print(f"OK: checkpoint at size {old.size} is a prefix of checkpoint at size {new.size}{cosigned}")
        return 0
    proof = parse_inclusion_proof(text)
    if args.leaf:
        entry = Path(args.leaf).read_bytes().removesuffix(b"\n")
    elif proof.extra is not None:
        entry = proof.extra
    else:
        raise ProofError("the proof carries no entry; pass --leaf ENTRY_FILE")
    cp = verify_inclusion_proof_text(text, verifier, entry)
    body = json.loads(entry)
    if args.record and body.get("record_hash") != args.record.lower():
        raise ProofError(f"the proven entry is for record {body.get('record_hash')}, not {args.record}")
    cosigned = _check_cosignatures(proof.checkpoint, args)
    print(f"OK: entry {proof.index} is in {cp.origin} at size {cp.size}{cosigned}: {entry.decode()}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_commands registers the ``ledger`` command group on a parent parser."""
    p = sub.add_parser("ledger", help="the Merkle ledger: keys, proofs, audit, export")
    lsub = p.add_subparsers(dest="ledger_cmd", required=True)

    def named(name: str, fn: Callable[[LedgerTarget, argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = lsub.add_parser(name, help=help_, description=help_)
        sp.add_argument("datanet", help="Datanet name (datanets/NAME.yaml)")
        sp.set_defaults(ledger_fn=fn)
        return sp

    named("keygen", cmd_keygen, "create a signing key and print its verifier key").add_argument(
        "--out", help="where to write the key (default: the Datanet's ledger.key)"
    )
    named("vkey", cmd_vkey, "print the verifier key (note verifier-key format)")
    add_wait_argument(named("sign", cmd_sign, "sign a checkpoint at the current size"))
    sp = named("prove", cmd_prove, "print a c2sp.org/tlog-proof@v1 inclusion proof")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", help="record_hash of a contributed record")
    g.add_argument("--index", type=int, help="leaf index")
    sp.add_argument("--size", type=int, help="prove against the checkpoint at this size (default: latest)")
    sp = named("consistency", cmd_consistency, "print a consistency proof between two checkpoints")
    sp.add_argument("--from", dest="from_size", type=int, required=True)
    sp.add_argument("--to", dest="to_size", type=int, required=True)
    named("audit", cmd_audit, "recompute and check every stored hash and checkpoint").add_argument(
        "--vkey", help="verifier key (or a file holding it) the auditor trusts"
    )
    named("export", cmd_export, "print every entry's exact leaf bytes, one per line")
    sp = lsub.add_parser("verify", help="verify a proof offline", description="verify a proof offline")
    sp.add_argument("proof", help="a .tlog-proof file or a consistency proof file")
    sp.add_argument("--vkey", required=True, help="verifier key, or a file holding it")
    sp.add_argument("--leaf", help="file holding the exact entry bytes (default: the proof's extra data)")
    sp.add_argument("--record", help="also require the entry to be for this record_hash")
    _add_witness_keys(sp)
    sp.set_defaults(ledger_fn=None)
    _add_tlog_commands(lsub, named)


def _add_witness_keys(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--witness", dest="witness_key", action="append", default=[], help="witness vkey (or file); repeatable"
    )
    sp.add_argument("--quorum", type=int, help="witness cosignatures required (default: every --witness)")


def _add_tlog_commands(lsub: argparse._SubParsersAction[argparse.ArgumentParser], named: Callable[..., Any]) -> None:
    """The tlog-tiles and tlog-witness commands: tiles, serve, witness, mirror (docs/witness.md)."""
    named("tiles", cmd_tiles, "write the ledger as a C2SP tlog-tiles tree").add_argument("dir")
    sp = named("serve", cmd_serve, "update and serve the tiles tree read-only on 127.0.0.1")
    sp.add_argument("--port", type=int, default=8080)
    sp.add_argument("--tiles", help="tiles directory (default: tiles/ in the ledger directory)")
    sp = named("witness", cmd_witness, "get the latest checkpoint cosigned by witnesses and publish it")
    sp.add_argument("--witness", type=parse_witness_arg, action="append", default=[], metavar="NAME=URL=VKEY")
    sp.add_argument("--quorum", type=int, help="cosignatures needed (default: the Datanet's, else all)")
    sp.add_argument("--tiles", help="tiles directory to update (default: tiles/ in the ledger directory)")
    sp = lsub.add_parser("mirror", help="mirror and check a served ledger", description="mirror and check a log")
    sp.add_argument("url", help="the log's tiles URL prefix")
    sp.add_argument("dir", help="local mirror directory")
    sp.add_argument("--vkey", required=True, help="the log's verifier key, or a file holding it")
    _add_witness_keys(sp)
    sp.set_defaults(ledger_fn=None, ledger_plain_fn=cmd_mirror)


def run(args: argparse.Namespace, resolve: Resolver) -> int:
    """run executes a parsed ``ledger`` command; returns the exit status."""
    try:
        plain: Callable[[argparse.Namespace], int] | None = getattr(args, "ledger_plain_fn", None)
        if plain is not None:
            return plain(args)
        if args.ledger_fn is None:
            return cmd_verify(args)
        fn: Callable[[LedgerTarget, argparse.Namespace], int] = args.ledger_fn
        return fn(resolve(args.datanet), args)
    except ProofError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except LedgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
