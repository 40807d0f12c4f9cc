"""``datanet attribute`` and ``datanet index``: a thin layer over ``pipelines.downstream.attribution``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from ledger.cli import add_wait_argument
from pipelines.core.config import load_datanet


def _output_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return str(args.text)
    if args.output == "-":
        return sys.stdin.read()
    try:
        return Path(args.output).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{args.output}: cannot read the output ({exc})") from None


def render(result: dict[str, Any], text: str) -> str:
    """render is the human-readable attribution: records, their contributors and weights, the spans quoted."""
    led = result.get("ledger")
    lines = [f"output sha256 {result['output_sha256']}: {result['words']} words, {result['chars']} characters"]
    for r in result["records"]:
        who = r.get("contributor_id", "")
        lines.append(
            f"  {r['bp'] / 100:6.2f} %  ledger entry {r['ledger_index']}  record {r['record_hash'][:16]}…  {who}"
        )
        for s in r["spans"]:
            quote = " ".join(text[s["start"] : s["end"]].split())
            quote = quote if len(quote) <= 90 else quote[:60] + " … " + quote[-25:]
            lines.append(f"             [{s['start']}:{s['end']}] {s['words']} words: “{quote}”")
    lines.append(f"  {result['unattributed_bp'] / 100:6.2f} %  unattributed (novel or common text)")
    if led:
        what = "appended" if led["appended"] else "already on the ledger"
        lines.append(f"  attribution entry {led['index']} {what}; ledger size {led['ledger_size']}, checkpoint signed")
    return "\n".join(lines)


def _positive(flag: str, text: str) -> int:
    """A whole number of at least 1 written as plain digits (no ``1_0``, sign or spaces); ValueError naming ``flag``."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{flag} takes a whole number of at least 1, not {text!r}")
    return int(text)


def cmd_attribute(args: argparse.Namespace) -> int:
    from pipelines.downstream.attribution.attribute import (
        attribute_text,
        check_output,
        ensure_index,
        record_attribution,
    )
    from pipelines.downstream.attribution.spans import Rule
    from pipelines.downstream.payout.money import to_minor

    dn = load_datanet(args.datanet)
    rule = Rule(min_span=_positive("--min-span", args.min_span))
    text = check_output(_output_text(args))
    if args.dry_run:
        ensure_index(dn, lambda m: print(m, file=sys.stderr), wait=args.wait)
        result = attribute_text(dn, text, rule)
    else:
        if (args.fee is None) != (args.currency is None):
            raise ValueError("--fee and --currency go together")
        fee = to_minor(args.fee, args.currency, "fee") if args.fee is not None else None
        currency = args.currency if args.fee is not None else None
        result = record_attribution(dn, args.model, text, args.inference_id, fee, currency, rule, wait=args.wait)
        for warning in result["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(result, indent=1, sort_keys=True) if args.json else render(result, text))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from ledger.log import Ledger
    from pipelines.downstream.attribution.committed import (
        IndexMismatchError,
        check_index,
        committed_index,
        update_index,
    )
    from pipelines.downstream.attribution.index import index_dir, rebuild_index

    dn = load_datanet(args.datanet)
    folder = index_dir(dn)
    try:
        if args.check and (folder / "INDEX.json").exists():  # before an update could rewrite anything
            with Ledger(dn.ledger_dir) as led:
                check_index(dn, folder, committed_index(led), complete=False)
        out = update_index(dn, lambda m: print(m, file=sys.stderr), args.wait)
        if not args.check:
            print(json.dumps(out, indent=1))
            return 0
        with Ledger(dn.ledger_dir) as led:
            entries = committed_index(led)
        files = check_index(dn, folder, entries)
        with tempfile.TemporaryDirectory() as tmp:
            rebuild_index(dn, Path(tmp) / "index")
            check_index(dn, Path(tmp) / "index", entries)
    except IndexMismatchError as exc:
        print(f"FAILED: {dn.name}: attribution index: {exc}", file=sys.stderr)
        return 1
    print(
        f"OK: {dn.name}: the index's {files} files in {len(entries)} runs match their index ledger entries, "
        "and a rebuild from the committed shards gives the same bytes"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_commands registers ``attribute`` and ``index`` on the ``datanet`` parser."""
    p = sub.add_parser(
        "attribute",
        help="which records a model output reproduces, with weights; appends a signed attribution ledger entry",
    )
    p.add_argument("datanet")
    p.add_argument("--model", required=True, help="the model that produced the output")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--output", help="file holding the output text ('-' for stdin)")
    src.add_argument("--text", help="the output text itself")
    p.add_argument("--inference-id", help="the inference's id (the same output twice with one id is one entry)")
    p.add_argument("--fee", help="this inference's fee, e.g. 0.05 (with --currency)")
    p.add_argument("--currency", help="ISO 4217 code of --fee")
    p.add_argument("--min-span", default="8", help="fewest matched words that attribute a record (default 8)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="attribute only; append no attribution entry (a run missing from the index is still indexed)",
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    add_wait_argument(p)
    p.set_defaults(fn=cmd_attribute)
    p = sub.add_parser(
        "index", help="bring the attribution index up to date, on the ledger (--check: hash its files, rebuild)"
    )
    p.add_argument("datanet")
    p.add_argument(
        "--check",
        action="store_true",
        help="hash every index file against the ledger's index entries, and rebuild from the shards to compare",
    )
    add_wait_argument(p)
    p.set_defaults(fn=cmd_index)
