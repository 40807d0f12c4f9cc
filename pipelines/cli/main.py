"""The ``datanet`` command line: a thin layer over the library.

Commands: ``ingest NAME``, ``check NAME``, ``new NAME``, ``ledger …``, and the
downstream ``read``, ``sql``, ``usage …`` and ``payout …`` (``pipelines.cli.payable``), and
``attribute`` / ``index`` (``pipelines.cli.attribution``), ``pii preview`` (``pipelines.cli.pii``) and
``withdraw`` / ``withdrawals`` (``pipelines.cli.withdraw``).
Every error is one line naming the file (and key or line) at fault, with
exit status 2 for bad input and 1 for failures; never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ledger import cli as ledger_cli
from ledger.storage import LedgerError
from ledger.tlog import cli_witness
from ledger.verify import ProofError
from pipelines.cli import attribution as cli_attribution
from pipelines.cli import curator as cli_curator
from pipelines.cli import payable as cli_payable
from pipelines.cli import pii as cli_pii
from pipelines.cli import withdraw as cli_withdraw
from pipelines.core.config import load_datanet, parse_datanet
from pipelines.core.errors import BadInput, CheckFailed

NEW_DATANET = """\
name: {name}
description: "What this Datanet collects, in one line."
owner: "you@example.org"
licence: CC-BY-4.0
schema: schemas/{name}.yaml
sources:
  - path: contributions/{name}/*.jsonl
    format: jsonl
"""

NEW_SCHEMA = """\
name: {name}
fields:
  - name: text
    type: string
    text: true
"""


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipelines.driver.options import RunOptions
    from pipelines.driver.run import RunRefused, ingest, summary

    dn = load_datanet(args.datanet)
    overrides = dict(args.option or [])
    if args.runner:
        overrides["runner"] = args.runner
    live = "off" if args.quiet else "auto"
    opts = RunOptions(
        overrides,
        live=live,
        verbose=args.verbose,
        html=not args.dry_run,
        wait=args.wait,
        dry_run=args.dry_run,
        accept_quarantine=args.accept_quarantine,
    )
    try:
        report = ingest(dn, opts)
    except RunRefused as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else summary(report))
    return 0


def bench_arguments(ap: argparse.ArgumentParser) -> None:
    """bench_arguments declares ``datanet bench``'s options (the benchmark code itself loads only when run)."""
    ap.add_argument("--size-mb", type=float, default=10.0, help="corpus size in MB (10 and 100 are documented)")
    ap.add_argument("--sample", type=int, default=1000, help="texts given to stock Presidio and our 1-process run")
    ap.add_argument("--ledger-entries", type=int, default=100_000)
    ap.add_argument(
        "--split",
        choices=("tuned", "heldout", "all"),
        default="heldout",
        help="real text for the PII precision rows: what the context rules were tuned on, or held out",
    )
    ap.add_argument("--dir", default="bench-out", help="where corpora and results go")
    ap.add_argument("--out", help="JSON result file (default DIR/bench-<size>mb.json)")


def cmd_bench(args: argparse.Namespace) -> int:
    """cmd_bench runs ``python -m benchmarks.run`` from the source checkout (benchmarks are not installed).

    It runs in a child process, so the runtime package never imports the
    benchmarks (no import cycle) and relative ``--dir``/``--out`` stay
    relative to the caller's working directory.
    """
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "benchmarks" / "run.py").is_file():
        print("datanet bench runs from a source checkout: benchmarks/ is not installed", file=sys.stderr)
        return 2
    argv = ["--size-mb", str(args.size_mb), "--sample", str(args.sample)]
    argv += ["--ledger-entries", str(args.ledger_entries), "--split", args.split, "--dir", args.dir]
    argv += ["--out", args.out] if args.out else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}
    return subprocess.call([sys.executable, "-m", "benchmarks.run", *argv], env=env)


def cmd_check(args: argparse.Namespace) -> int:
    from pipelines.driver.checks import check_runnable, key_warnings, schema_warnings

    dn = load_datanet(args.datanet)
    check_runnable(dn, deep=True)
    for warning in [*key_warnings(dn), *schema_warnings(dn)]:
        print(f"warning: {warning}", file=sys.stderr)
    files = sum(len(dn.source_files(i)) for i in range(len(dn.config.sources)))
    print(
        f"OK: {dn.path} is valid ({len(dn.config.sources)} source(s), {files} file(s), "
        f"schema {dn.schema.name} with {len(dn.schema.fields)} field(s))"
    )
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    root = Path.cwd()
    decl, schema = root / "datanets" / f"{args.name}.yaml", root / "schemas" / f"{args.name}.yaml"
    for p in (decl, schema):
        if p.exists():
            print(f"error: {p} already exists", file=sys.stderr)
            return 2
    decl.parent.mkdir(exist_ok=True)
    schema.parent.mkdir(exist_ok=True)
    decl.write_text(NEW_DATANET.format(name=args.name), encoding="utf-8")
    schema.write_text(NEW_SCHEMA.format(name=args.name), encoding="utf-8")
    parse_datanet(decl, root)
    print(f"created {decl} and {schema}; put contributions under contributions/{args.name}/")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """cmd_verify checks every published shard row, file and run against the signed ledger (pipelines.driver.verify)."""
    from pipelines.driver.verify import VerifyError, verify_datanet

    dn = load_datanet(args.datanet)
    vkey = cli_payable.read_vkey(args.vkey)
    try:
        out = verify_datanet(dn, vkey, Path(args.witness) if args.witness else None)
    except VerifyError as exc:
        print(f"FAILED: {dn.name}: {exc}", file=sys.stderr)
        return 1
    key = "the given verifier key" if vkey else "the ledger's own vkey (integrity, not identity: pass --vkey)"
    print(
        f"OK: {dn.name}: {out.rows} shard rows in {out.runs} run(s) and {out.files} file(s) match the ledger "
        f"({out.size} entries, signed under {key}); checkpoint {out.witnessed}; witness {out.witness}"
    )
    cosigners = [cli_payable.read_vkey(k) or "" for k in args.cosigner] or [w.vkey for w in dn.config.ledger.witnesses]
    if cosigners:
        from ledger.tlog.witnessing import check_published

        quorum = args.quorum if args.quorum is not None else (dn.config.ledger.quorum if not args.cosigner else 0)
        quorum = quorum or len(cosigners)
        log_vkey = vkey or (dn.ledger_dir / "vkey").read_text().strip()
        size, names = check_published(dn.ledger_dir, log_vkey, cosigners, quorum)
        print(
            f"OK: {dn.name}: published checkpoint (size {size}) cosigned by {len(names)} of {quorum} required: "
            + ", ".join(names)
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """cmd_status prints runs, ledger and whether verify passes (the witness is not moved); 1 if it does not."""
    from pipelines.driver.status import render, status

    s = status(load_datanet(args.datanet))
    print(json.dumps(s, indent=1) if args.json else render(s), end="" if not args.json else "\n")
    return 0 if s["verify"] is None or s["verify"]["ok"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    """cmd_report (re)builds a run's report.html (default: the latest run) and prints its path; --open shows it."""
    from pipelines.core.registry import committed_runs
    from pipelines.driver.report import write_report

    dn = load_datanet(args.datanet)
    runs = [r["run_id"] for r in committed_runs(dn)]
    if not runs or (args.run and args.run not in runs):
        print(f"error: {dn.name} has no committed run {args.run or ''}".rstrip(), file=sys.stderr)
        return 2
    path = write_report(dn, args.run or runs[-1])
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0


def cmd_contributor(args: argparse.Namespace) -> int:
    """cmd_contributor prints a contributor's pseudonym and opening, or the ID behind a pseudonym (curator only)."""
    import duckdb

    from ledger.pseudonym import is_pseudonym
    from pipelines.core.registry import shard_paths
    from pipelines.core.withdrawal.ledgered import withdrawn_of
    from pipelines.downstream.contributors import own_id, pseudonym_and_opening

    dn = load_datanet(args.datanet)
    gone = withdrawn_of(dn.ledger_dir).pseudonyms
    if (args.who if is_pseudonym(args.who) else pseudonym_and_opening(dn, args.who)[0]) in gone:
        print(f"{args.who}: withdrawn from {dn.name}; its map entry and opening were destroyed", file=sys.stderr)
        return 1
    if is_pseudonym(args.who):
        cid = own_id(dn, args.who)
        if cid is None:
            print(f"error: no committed run of {dn.name} has pseudonym {args.who}", file=sys.stderr)
            return 1
        pseud, opening = pseudonym_and_opening(dn, cid)
    else:
        cid, (pseud, opening) = args.who, pseudonym_and_opening(dn, args.who)
    shards = [str(p) for p in shard_paths(dn)]
    n = 0
    if shards:
        con = duckdb.connect()
        found = con.execute(f"select count(*) from read_parquet({shards}) where contributor_id = ?", [pseud]).fetchone()
        n = int(found[0]) if found else 0
    print(json.dumps({"contributor_id": cid, "pseudonym": pseud, "opening": opening, "records": n}, indent=1))
    return 0


def resolve_ledger(name: str) -> ledger_cli.LedgerTarget:
    """resolve_ledger maps a Datanet name to its ledger folder, key and origin."""
    from pipelines.core.appender import witnesses

    dn = load_datanet(name)
    quorum = dn.config.ledger.quorum
    return ledger_cli.LedgerTarget(dn.ledger_dir, dn.key_path, dn.origin, tuple(witnesses(dn)), quorum)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="datanet", description="Curate Datanets with verifiable provenance.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ingest", help="run the ingest pipeline of a Datanet (incremental)")
    p.add_argument("datanet")
    p.add_argument("--runner", help="Beam runner (default: the declaration's, DirectRunner)")
    p.add_argument(
        "--option",
        action="append",
        type=_parse_option,
        metavar="KEY=VALUE",
        help="Beam pipeline option, e.g. direct_num_workers=2 (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the full JSON report")
    p.add_argument("--quiet", action="store_true", help="no live progress (bars on a terminal, else a line every 10 s)")
    p.add_argument("--verbose", action="store_true", help="show Beam's and the workers' own log lines")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="run the pipeline into OUT/dry-run and report it; publish nothing, append nothing to the ledger",
    )
    p.add_argument(
        "--accept-quarantine",
        action="store_true",
        help="commit a run the guard rails refuse (nothing accepted, or over validation.max_quarantine_share)",
    )
    ledger_cli.add_wait_argument(p)
    p.set_defaults(fn=cmd_ingest)
    p = sub.add_parser(
        "check",
        help="check a declaration without reading data: keys, types, PII entities, spaCy model, expectations, runner",
    )
    p.add_argument("datanet")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser(
        "verify",
        help="auditor: check every shard row, file and run against the signed ledger, and no rollback since last time",
    )
    p.add_argument("datanet")
    p.add_argument("--vkey", help="the verifier key you trust (text or file); default: the ledger's own")
    p.add_argument(
        "--witness", help="file keeping the last verified checkpoint (default: ~/.local/state/datanets/witness/)"
    )
    p.add_argument(
        "--cosigner",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness key you trust (text or file; repeatable); default: the YAML's ledger.witnesses",
    )
    p.add_argument("--quorum", type=int, help="cosignatures required (default: ledger.witness_quorum, or all)")
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("status", help="runs, sizes, ledger, latest checkpoint, and whether verify passes")
    p.add_argument("datanet")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("report", help="build a run's report.html (plots, no record text) and GX Data Docs")
    p.add_argument("datanet")
    p.add_argument("--run", help="run id (default: the latest committed run)")
    p.add_argument("--open", action="store_true", help="open it in a browser")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser(
        "contributor",
        help="curator only: a contributor's pseudonym and opening (to hand them), or the ID behind a pseudonym",
    )
    p.add_argument("datanet")
    p.add_argument("who", help="a contributor's own ID, or a pseudonym (cid1_...)")
    p.set_defaults(fn=cmd_contributor)
    cli_curator.add_commands(sub)
    p = sub.add_parser("new", help="scaffold datanets/NAME.yaml and schemas/NAME.yaml")
    p.add_argument("name")
    p.set_defaults(fn=cmd_new)
    p = sub.add_parser("bench", help="benchmark every stage against stock Presidio, datatrove and pymerkle")
    bench_arguments(p)
    p.set_defaults(fn=cmd_bench)
    ledger_cli.add_commands(sub)
    cli_payable.add_commands(sub)
    cli_attribution.add_commands(sub)
    cli_pii.add_commands(sub)
    cli_withdraw.add_commands(sub)
    cli_witness.add_witness_commands(sub)
    return ap


def quiet_logs() -> None:
    """quiet_logs keeps library chatter (Beam, GX, Presidio) off the console; our progress is printed."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("apache_beam", "great_expectations", "presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_logs()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.cmd != "payout":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:  # argparse leaves a leading option (payout --help) outside the REMAINDER
        args.rest = [*unknown, *args.rest]
    if getattr(args, "verbose", False):
        logging.getLogger().setLevel(logging.INFO)
        for name in ("apache_beam", "great_expectations", "presidio-analyzer", "presidio-anonymizer"):
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        if args.cmd == "ledger":
            return ledger_cli.run(args, resolve_ledger)
        if args.cmd == "witness":
            return cli_witness.run_witness(args)
        return int(args.fn(args))
    except (ValueError, ProofError, LedgerError, RuntimeError, OSError) as exc:
        line, status = failure(exc)
        print(line, file=sys.stderr)
        return status


def failure(exc: Exception) -> tuple[str, int]:
    """failure is the one line and exit status for an error a command raised on purpose (``pipelines.core.errors``)."""
    if isinstance(exc, CheckFailed | ProofError):
        return f"FAILED: {exc}", 1
    if isinstance(exc, BadInput | ValueError):  # other ValueErrors: a library refused the input (EntryError…)
        return f"error: {exc}", 2
    return f"error: {type(exc).__name__}: {exc}", 1


_EXIT_STATUS: list[int] = []


def run() -> NoReturn:
    """run is the ``datanet`` console entry: ``main``, then an exit that skips native teardown.

    Guarantee: the exit status is ``main``'s; non-daemon threads are joined and every
    exit handler runs (Python does both before any handler registered here), and the
    standard streams and logging are flushed. What is skipped is the interpreter's
    module teardown and the C++ static destructors after it: there, Arrow's and
    DuckDB's native thread pools can be torn down while a worker is still alive, and
    the process aborts with SIGABRT ("terminate called without an active exception",
    apache/arrow#34314) after a command has done all its work. Every file this
    package writes is closed (or is an unbuffered descriptor) before ``main`` returns.
    """
    atexit.register(_exit_now)  # registered before main: runs after the handlers main's imports register
    try:
        status = main()
    except SystemExit as exc:  # argparse: 2 for a usage error, 0 for --help
        status = exc.code if isinstance(exc.code, int) else 0
    _EXIT_STATUS.append(status)
    sys.exit(status)


def _exit_now() -> None:
    if not _EXIT_STATUS:  # an uncaught exception: leave the interpreter's own exit alone
        return
    logging.shutdown()  # registered before us, so it would run after us
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(_EXIT_STATUS[-1])


if __name__ == "__main__":
    run()
