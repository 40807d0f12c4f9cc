"""What a run came to: its report, its console summary, and whether the guard rails let it commit.

``build_report`` sums the split manifests (counts only) and adds, per
quarantine reason, a few examples (file, line, detail: never record
content) read from the run's quarantine files. ``refusal`` is the guard rail
checked after the pipeline and before the first ledger append: a run that
accepts nothing and quarantines something, or whose quarantined share of the records read is over
``validation.max_quarantine_share``, is refused (``RunRefused``) unless the
curator accepts it on purpose (``--accept-quarantine``). ``summary`` renders
a report for the console, pointing at ``datanet quarantine`` for details.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.core.config import Datanet
from pipelines.core.layouts import SplitManifest
from pipelines.driver.commit import AccountingError, files_of

EXAMPLES = 3  # examples per quarantine reason in a report


class RunRefused(RuntimeError):
    """The guard rails refused a run before its first ledger append; nothing of it was published."""


def quarantine_examples(out_dir: Path, manifests: list[SplitManifest], per: int = EXAMPLES) -> dict[str, Any]:
    """quarantine_examples returns up to ``per`` (file, line, detail) per reason, in split and file order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rel in files_of(manifests, "quarantine"):
        table = pq.read_table(out_dir / rel, columns=["file", "line", "reason", "detail"])
        for row in table.to_pylist():
            seen = out.setdefault(str(row["reason"]), [])
            if len(seen) < per:
                seen.append({"file": row["file"], "line": row["line"], "detail": row["detail"]})
    return dict(sorted(out.items()))


def build_report(
    dn: Datanet,
    done: dict[str, Any],
    shards: list[str],
    ledger: dict[str, Any],
    timings: dict[str, Any],
    examples: bool = True,
) -> dict[str, Any]:
    """build_report sums the split manifests into the run report; raises AccountingError if counts do not add up.

    With ``examples`` it also reads the quarantine files for a few examples per reason.
    """
    ms = done["splits"]
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    for m in ms:
        kinds.update(m["duplicate_kinds"])
        reasons.update(m["quarantine_reasons"])
        stages.update(m["quarantine_stages"])
        pii.update(m["pii"])
    read, accepted = sum(m["read"] for m in ms), sum(m["accepted"] for m in ms)
    dups, quarantined = sum(m["duplicates"] for m in ms), sum(m["quarantined"] for m in ms)
    if read != accepted + dups + quarantined:
        raise AccountingError(f"read {read} != accepted {accepted} + duplicates {dups} + quarantined {quarantined}")
    found = quarantine_examples(dn.out_dir, ms) if quarantined and examples else {}
    return {
        "datanet": dn.name,
        "run_id": done["run_id"],
        "seq": done["seq"],
        "inputs": sorted(done["inputs"]),
        "read": read,
        "accepted": accepted,
        "duplicates": {"total": dups, **dict(sorted(kinds.items()))},
        "quarantined": {
            "total": quarantined,
            "by_stage": dict(sorted(stages.items())),
            "by_reason": dict(sorted(reasons.items())),
            "examples": found,
        },
        "blank_lines_skipped": sum(m["blank"] for m in ms),
        "pii": {"records_with_pii": sum(m["records_with_pii"] for m in ms), "entities": dict(sorted(pii.items()))},
        "splits": len(ms),
        "shards": shards,
        "ledger": ledger,
        "validation": {"table": done["table_checks"]},
        "timings": timings,
    }


def refusal(report: dict[str, Any], max_share: float) -> str | None:
    """refusal says why the guard rails refuse a run (None: it may commit).

    Refused: a run that read records but accepts none and quarantined some,
    or whose quarantined share of the records read is over ``max_share``. A
    run whose every record duplicates published ones is not refused: its
    ``copy`` entries credit the new holders. The message names the top
    reasons, each with a file:line example and its detail.
    """
    read, accepted, q = report["read"], report["accepted"], report["quarantined"]
    if read == 0:
        return None
    share = q["total"] / read
    if (accepted > 0 or q["total"] == 0) and share <= max_share:
        return None
    why = (
        f"it accepts no record of the {read} read"
        if accepted == 0
        else f"{q['total']} of {read} records read ({share:.0%}) were quarantined, over "
        f"validation.max_quarantine_share {max_share:g}"
    )
    return "\n".join([f"run {report['run_id']} of {report['datanet']} refused before the ledger: {why}", *_top(q)])


def _top(q: dict[str, Any], n: int = 3) -> list[str]:
    lines = []
    for reason, count in sorted(q["by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))[:n]:
        ex = (q.get("examples") or {}).get(reason) or []
        where = f"; e.g. {ex[0]['file']}:{ex[0]['line']}: {ex[0]['detail']}" if ex else ""
        lines.append(f"  {reason} {count}{where}")
    return lines


def summary(report: dict[str, Any]) -> str:
    """summary renders a report as a few readable lines (counts, reasons, file:line examples; never content)."""
    if report.get("run_id") is None:
        return f"{report['datanet']}: nothing new (0 records read)"
    q, d, t = report["quarantined"], report["duplicates"], report["timings"]
    rate = report["read"] / t["total_s"] if t["total_s"] else 0.0
    mb_s = t["input_bytes"] / 1e6 / t["total_s"] if t["total_s"] else 0.0
    dry = bool(report.get("dry_run"))
    where = "--dry-run" if dry else f"--run {report['run_id']}"
    led = report["ledger"]
    lines = [
        f"Datanet {report['datanet']} run {report['run_id']}" + (" (DRY RUN)" if dry else ""),
        f"  read         {report['read']:>8}",
        f"  accepted     {report['accepted']:>8}",
        f"  duplicates   {d['total']:>8}  " + ", ".join(f"{k} {v}" for k, v in d.items() if k != "total"),
        f"  quarantined  {q['total']:>8}",
        *(["    " + line.strip() for line in _top(q, n=len(q["by_reason"]))] if q["total"] else []),
        *([f"    details: datanet quarantine {report['datanet']} {where}"] if q["total"] else []),
        f"  check        read = accepted + duplicates + quarantined "
        f"({report['read']} = {report['accepted']} + {d['total']} + {q['total']})",
        "  PII removed  " + (", ".join(f"{k} {v}" for k, v in report["pii"]["entities"].items()) or "none"),
        f"  ledger       nothing appended (size stays {led['size']})"
        if dry
        else f"  ledger       size {led['size']}, root {led['root']}",
        f"  time         {t['total_s']:.1f}s ({rate:.0f} records/s, {mb_s:.2f} MB/s)",
    ]
    for check in report.get("validation", {}).get("table", []):
        lines.append(f"  table check  {check['expectation']}: {'ok' if check['success'] else 'FAILED'}")
    if report.get("report_html"):
        lines.append(f"  report       {report['report_html']}")
    if dry:
        if report.get("refused"):
            lines.append(
                "  guard rails  a real run would be refused: " + report["refused"].split(": ", 1)[-1].split("\n")[0]
            )
        lines.append(
            f"DRY RUN: nothing was published (no shards, no ledger entries, no witness update); "
            f"what the run would write is in {report['outputs']}"
        )
    return "\n".join(lines)
