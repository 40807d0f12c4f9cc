"""``datanet quarantine`` and ``datanet keys``: what a curator looks at before and after a run.

``quarantine`` lists a run's quarantined lines with the offending values and
did-you-mean hints (``pipelines.downstream.quarantine``), on the curator's
console only; ``keys`` exports and imports the curator's keys as one file
(``pipelines.core.keys``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.core.config import load_datanet


def cmd_quarantine(args: argparse.Namespace) -> int:
    """cmd_quarantine prints a run's quarantined lines with values and hints (to the curator's console only)."""
    from pipelines.downstream.quarantine import explain, listing

    dn = load_datanet(args.datanet)
    run, rows, counts = listing(dn, args.run, args.reason, args.limit, args.dry_run)
    if args.json:
        for row in rows:
            print(json.dumps({k: v for k, v in row.items() if k != "payload"} | {"explained": explain(row, [])}))
        return 0
    fields = [f.name for f in dn.schema.fields]
    needed = tuple(f.name for f in dn.schema.fields if f.required or f.name in dn.schema.text_fields)
    print(
        f"run {run}{' (dry run)' if args.dry_run else ''}: {sum(counts.values())} quarantined: "
        + ", ".join(f"{k} {v}" for k, v in counts.most_common())
    )
    for row in rows:
        print("  " + explain(row, fields, needed))
    shown = counts[args.reason] if args.reason else sum(counts.values())
    if len(rows) < shown:
        print(f"  … {shown - len(rows)} more (--limit N, --reason X)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """cmd_keys exports or imports the curator's keys (signing key, dedup salt, contributor key) as one 0600 file."""
    from pipelines.core.keys import export_keys, import_keys

    dn = load_datanet(args.datanet)
    if args.export:
        held = export_keys(dn, Path(args.export))
        print(f"{dn.name}: {', '.join(held)} written to {args.export} (mode 0600; a secret: keep it offline)")
        return 0
    written = import_keys(dn, Path(args.import_))
    if written:
        print(f"{dn.name}: restored {', '.join(written)} (mode 0600)")
    else:
        print(f"{dn.name}: the keys in {args.import_} are already in place; nothing written")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_commands registers ``quarantine`` and ``keys`` on the ``datanet`` parser."""
    p = sub.add_parser(
        "quarantine", help="a run's quarantined lines: file, line, reason, the offending value, did-you-mean hints"
    )
    p.add_argument("datanet")
    p.add_argument("--run", help="run id (default: the newest run that quarantined anything)")
    p.add_argument("--reason", help="only this reason (e.g. unknown_field, validation_failed)")
    p.add_argument("--limit", type=int, default=20, help="lines to show (default 20)")
    p.add_argument("--dry-run", action="store_true", help="the last `datanet ingest --dry-run` instead")
    p.add_argument("--json", action="store_true", help="one JSON object per line (without the raw payload)")
    p.set_defaults(fn=cmd_quarantine)
    p = sub.add_parser(
        "keys", help="back up or restore the curator's keys (signing key, dedup salt, contributor key) as one file"
    )
    p.add_argument("datanet")
    way = p.add_mutually_exclusive_group(required=True)
    way.add_argument("--export", metavar="FILE", help="write the keys to a new file (mode 0600)")
    way.add_argument("--import", dest="import_", metavar="FILE", help="restore missing key files from an export")
    p.set_defaults(fn=cmd_keys)
