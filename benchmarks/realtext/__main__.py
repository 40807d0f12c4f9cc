"""python -m benchmarks.realtext: the real-text PII benchmark, printed as Markdown, optionally saved as JSON.

python -m benchmarks.realtext [--split heldout|tuned|all] [--limit-words 20000] [--stanzas 1500]
                                   [--diffs 10] [--hits a,b,c] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.realtext.corpus import SPLITS
from benchmarks.realtext.measure import SEED, measure
from benchmarks.realtext.report import render


def parser() -> argparse.ArgumentParser:
    """parser declares the options; ``--split`` defaults to ``heldout``, text the context rules were not tuned on."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.realtext", description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=SPLITS, default="heldout", help="text the context rules were tuned on, or not")
    ap.add_argument("--limit-words", type=int, default=20_000, help="words per PII-free corpus kind")
    ap.add_argument("--stanzas", type=int, default=1500, help="labelled copyright stanzas")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--diffs", type=int, default=10, help="before/after excerpts to draw")
    ap.add_argument("--hits", default="", help="columns whose every false hit is printed, e.g. 'c' or 'a,b,c'")
    ap.add_argument("--json", help="write every result, with the audit lists, to this file")
    return ap


def main(argv: list[str] | None = None) -> int:
    """main parses the options, measures, prints the report and writes the JSON if asked."""
    from pipelines.cli.main import quiet_logs

    quiet_logs()
    args = parser().parse_args(argv)
    result = measure(args.limit_words, args.stanzas, args.seed, args.split, diffs=args.diffs)
    print(render(result, tuple(k for k in args.hits.split(",") if k)))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
