"""``datanet attribute`` and ``datanet index``: attribution commands, a thin layer over ``pipelines.attribution``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipelines.config import load_datanet


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


def cmd_attribute(args: argparse.Namespace) -> int:
    from pipelines.attribution.attribute import attribute_text, ensure_index, record_attribution
    from pipelines.attribution.spans import Rule
    from pipelines.payout.money import to_minor

    dn = load_datanet(args.datanet)
    text = _output_text(args)
    rule = Rule(min_span=args.min_span)
    if args.dry_run:
        ensure_index(dn, lambda m: print(m, file=sys.stderr))
        result = attribute_text(dn, text, rule)
    else:
        if (args.fee is None) != (args.currency is None):
            raise ValueError("--fee and --currency go together")
        fee = to_minor(args.fee, args.currency) if args.fee is not None else None
        result = record_attribution(
            dn, args.model, text, args.inference_id, fee, args.currency if args.fee is not None else None, rule
        )
    print(json.dumps(result, indent=1, sort_keys=True) if args.json else render(result, text))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from pipelines.attribution.index import index_dir, rebuild_index, update_index

    dn = load_datanet(args.datanet)
    out = update_index(dn, progress=lambda m: print(m, file=sys.stderr))
    if not args.check:
        print(json.dumps(out, indent=1))
        return 0
    mine = json.loads((index_dir(dn) / "INDEX.json").read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        rebuild_index(dn, Path(tmp) / "index")
        again = json.loads((Path(tmp) / "index" / "INDEX.json").read_bytes())
    if mine != again:
        print("FAILED: the index rebuilt from the shards differs from the incremental one", file=sys.stderr)
        return 1
    print(f"OK: the index rebuilt from the committed shards is identical ({len(mine['runs'])} runs, file hashes)")
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
    p.add_argument("--min-span", type=int, default=8, help="fewest matched words that attribute a record (default 8)")
    p.add_argument("--dry-run", action="store_true", help="attribute only; append nothing")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(fn=cmd_attribute)
    p = sub.add_parser("index", help="bring the attribution index up to date (--check: rebuild and compare)")
    p.add_argument("datanet")
    p.add_argument("--check", action="store_true", help="also rebuild from the shards and compare byte hashes")
    p.set_defaults(fn=cmd_index)
