"""``datanet pii preview``: what the PII stage would do to a sample; thin over ``pipelines.driver.preview``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.core.config import load_datanet


def _integer(text: str, flag: str, least: int | None = None) -> int:
    """An integer option, checked here so a bad value is one ``error:`` line (exit 2), not argparse's usage."""
    from pipelines.driver.preview import PreviewError

    try:
        value = int(text)
    except ValueError:
        raise PreviewError(f"{flag} takes an integer, got {text!r}") from None
    if least is not None and value < least:
        raise PreviewError(f"{flag} must be at least {least}, got {value}")
    return value


def cmd_preview(args: argparse.Namespace) -> int:
    """cmd_preview prints (or writes 0600 to ``--out``) a sample's fields before and after the PII stage."""
    from pipelines.driver.preview import check_out, preview, render_json, render_text, write_private

    n, seed = _integer(args.sample, "--sample", 1), _integer(args.seed, "--seed")
    dn = load_datanet(args.datanet)
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(dn, out)
    if sys.stderr.isatty():
        print(f"reading {dn.name} and building the PII engines (a few seconds)…", file=sys.stderr)
    result = preview(dn, n, seed)
    text = (render_json if args.json else render_text)(result, args.all)
    if out is None:
        sys.stdout.write(text)
        return 0
    write_private(out, text)
    print(f"wrote the preview of {result.sampled} record(s) to {out} (mode 0600: it holds personal data)")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_commands registers the ``pii`` group (``pii preview``) on the ``datanet`` parser."""
    p = sub.add_parser("pii", help="see what the PII stage does to your data before you ingest it")
    psub = p.add_subparsers(dest="pii_cmd", required=True)
    p = psub.add_parser(
        "preview",
        help="a sample's scrubbed fields before and after, with entity counts (prints personal data; writes nothing)",
    )
    p.add_argument("datanet")
    p.add_argument("--sample", default="20", metavar="N", help="records to sample (default 20)")
    p.add_argument("--seed", default="0", metavar="S", help="sampling seed; the same seed gives the same sample")
    p.add_argument("--out", metavar="FILE", help="write to a new file, mode 0600, instead of stdout (never overwrites)")
    p.add_argument("--json", action="store_true", help="JSON list of {file, line, field, before, after, pii}")
    p.add_argument("--all", action="store_true", help="also show records the PII stage leaves unchanged")
    p.set_defaults(fn=cmd_preview)
