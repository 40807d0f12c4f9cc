"""What went wrong, for the curator: quarantined lines with their values and did-you-mean hints.

``quarantine_rows`` reads a run's quarantine files (committed, refused, or
a dry run's); ``explain`` is the pure rule that turns one row into a line a
person can act on: the stored ``detail`` (never record content, so it can
sit in reports), plus what only the curator may see: the offending value
from the row's raw ``payload`` and, for unknown or missing fields and keys,
the schema name it most likely meant. Nothing here is written anywhere; it
is printed by ``datanet quarantine`` on the curator's own console.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.core.config import Datanet
from pipelines.core.errors import BadInput

VALUE_CHARS = 80
_FIELD = re.compile(r"^(?:required )?field (\w+) ")
_EXPECTATION = re.compile(r"(expect_\w+)\((\w+)\)")


class QuarantineError(BadInput):
    """No such run, or a run without quarantine files."""


def run_folders(dn: Datanet, dry_run: bool = False) -> list[Path]:
    """run_folders are the runs with quarantine files, oldest first (a dry run's scratch with ``dry_run``)."""
    base = (dn.out_dir / "dry-run" if dry_run else dn.out_dir) / "quarantine"
    folders = [p for p in base.glob("*") if p.is_dir() and any(p.glob("*.parquet"))]
    return sorted(folders, key=lambda p: (p.stat().st_mtime, p.name))


def pick_run(dn: Datanet, run: str | None, dry_run: bool = False) -> Path:
    """pick_run is the quarantine folder of ``run``, or of the newest run that has one."""
    folders = run_folders(dn, dry_run)
    if run is not None:
        match = [p for p in folders if p.name == run]
        if not match:
            known = ", ".join(p.name for p in folders) or "none"
            raise QuarantineError(f"{dn.name}: run {run!r} has no quarantine files (runs with some: {known})")
        return match[0]
    if not folders:
        what = "dry run" if dry_run else "run"
        raise QuarantineError(f"{dn.name}: no {what} has quarantined anything")
    return folders[-1]


def quarantine_rows(folder: Path) -> Iterator[dict[str, Any]]:
    """quarantine_rows yields a run's quarantine rows in split and file order."""
    for path in sorted(folder.glob("*.parquet")):
        yield from pq.read_table(path).to_pylist()


def _payload(row: dict[str, Any]) -> Any:
    raw = row.get("payload") or b""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _meant(name: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def hints(row: dict[str, Any], fields: list[str], needed: tuple[str, ...] = ()) -> list[str]:
    """hints are the curator-only additions to a row's detail: values and the names it probably meant.

    ``fields`` are the schema's field names; ``needed`` those a record must
    have (required and text fields), named when a line lacks them.
    """
    reason, detail, obj = row["reason"], str(row["detail"] or ""), _payload(row)
    keys = sorted(obj) if isinstance(obj, dict) else []
    known = [*fields, "contributor_id", "submitted_at"]
    out: list[str] = []
    if reason == "unknown_field":
        unknown, lacking = [k for k in keys if k not in known], [f for f in needed if f not in keys]
        for name in unknown:
            meant = _meant(name, [f for f in known if f not in keys])
            if meant is None and len(unknown) == len(lacking) == 1:
                meant = lacking[0]
            out.append(f"{name!r}: did you mean {meant!r}?" if meant else f"{name!r} is not in the schema")
        if lacking:
            out.append("the line has no " + ", ".join(repr(f) for f in lacking))
    elif reason in ("missing_field", "missing_contributor_id"):
        wanted = "contributor_id" if reason == "missing_contributor_id" else (_FIELD.match(detail) or [None, ""])[1]
        meant = _meant(str(wanted), [k for k in keys if k not in known])
        out.append(f"the line has {meant!r}: did you mean {wanted!r}?" if meant else f"the line's keys: {keys}")
    elif (m := _FIELD.match(detail)) and isinstance(obj, dict) and m[1] in obj:
        out.append(f"value: {_shown(obj[m[1]])}")
    elif reason == "validation_failed" and isinstance(obj, dict):
        for _, column in _EXPECTATION.findall(detail):
            value = obj.get(column)
            size = f" ({len(value)} chars)" if isinstance(value, str) else ""
            out.append(f"{column} = {_shown(value)}{size}")
    elif obj is None and row.get("payload"):
        out.append(f"line starts: {_shown(bytes(row['payload'][:VALUE_CHARS]))}")
    return out


def explain(row: dict[str, Any], fields: list[str], needed: tuple[str, ...] = ()) -> str:
    """explain is one quarantined row as ``file:line  reason  detail — hints``."""
    extra = hints(row, fields, needed)
    head = f"{row['file']}:{row['line']}  {row['reason']}  {row['detail']}"
    return head + (" — " + "; ".join(extra) if extra else "")


def listing(
    dn: Datanet, run: str | None = None, reason: str | None = None, limit: int = 20, dry_run: bool = False
) -> tuple[str, list[dict[str, Any]], Counter[str]]:
    """listing returns (run id, up to ``limit`` rows of ``reason`` (any), counts per reason of the whole run)."""
    folder = pick_run(dn, run, dry_run)
    counts: Counter[str] = Counter()
    shown: list[dict[str, Any]] = []
    for row in quarantine_rows(folder):
        counts[row["reason"]] += 1
        if (reason is None or row["reason"] == reason) and len(shown) < limit:
            shown.append(row)
    if reason is not None and reason not in counts:
        known = ", ".join(sorted(counts))
        raise QuarantineError(f"{dn.name}: run {folder.name} quarantined nothing as {reason!r} (its reasons: {known})")
    return folder.name, shown, counts
