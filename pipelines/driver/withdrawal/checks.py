"""What ``datanet verify`` checks of withdrawals, in small named steps.

* ``check_withdrawals``: each ``withdrawal`` entry names only earlier
  ``contribution``/``copy`` entries of its own pseudonym, none named twice;
  it covers every such entry of that pseudonym before it; each has exactly
  one ``republish`` entry after it, and every ``republish`` entry follows
  the withdrawal it names.
* ``served_files``: each run's files as its ``run`` entry lists them, with
  every ``republish`` entry's replacements applied in ledger order: what
  must be published now, byte for byte; and the original path of each
  replacement file (contribution entries name the original shard).

The row checks themselves (no served row is withdrawn, every contribution
not withdrawn has exactly one row) are in ``pipelines.driver.verify``.
"""

from __future__ import annotations

import json
from typing import Any

from ledger.log import Ledger
from pipelines.core.errors import CheckFailed
from pipelines.core.withdrawal.ledgered import Withdrawn


class WithdrawalMismatch(CheckFailed):
    """A withdrawal or republish entry is inconsistent with the ledger or the published files."""


def _check_named(led: Ledger, at: int, e: dict[str, Any], seen: dict[int, int]) -> None:
    for field, kind in (("contributions", "contribution"), ("copies", "copy")):
        for j in e[field]:
            target = json.loads(led.entry(j)) if 0 <= j < at else {}
            if target.get("kind") != kind or target.get("contributor_id") != e["pseudonym"]:
                raise WithdrawalMismatch(
                    f"withdrawal entry {at} lists ledger entry {j} as a {kind} of {e['pseudonym']}, which it is not"
                )
            if j in seen:
                raise WithdrawalMismatch(f"withdrawal entries {seen[j]} and {at} both list ledger entry {j}")
            seen[j] = at


def _check_complete(led: Ledger, w: Withdrawn) -> None:
    last: dict[str, int] = {}
    for at, e in w.entries:
        last[str(e["pseudonym"])] = at
    marks = {p: p.encode() for p in last}
    for i, raw in enumerate(led.entries(0, max(last.values(), default=0))):
        who = next((p for p, m in marks.items() if m in raw), None)
        if who is None or i in w.by:
            continue
        e = json.loads(raw)
        if e["kind"] in ("contribution", "copy") and e.get("contributor_id") == who and i < last[who]:
            raise WithdrawalMismatch(f"{e['kind']} entry {i} of withdrawn {who} is covered by no withdrawal entry")


def _check_republished(w: Withdrawn) -> None:
    entries = dict(w.entries)
    count: dict[int, int] = {}
    for at, r in w.republished:
        of = int(r["withdrawal"])
        if of not in entries or of >= at:
            raise WithdrawalMismatch(f"republish entry {at} names ledger entry {of}, which is no earlier withdrawal")
        count[of] = count.get(of, 0) + 1
    for at in entries:
        if count.get(at, 0) != 1:
            what = "is not finished (no republish entry yet)" if not count.get(at) else "has more than one republish"
            raise WithdrawalMismatch(
                f"withdrawal entry {at} {what}; any ledger writer finishes a stopped withdrawal "
                f"(e.g. `datanet withdraw NAME --pseudonym {entries[at]['pseudonym']}`)"
            )


def check_withdrawals(led: Ledger, w: Withdrawn) -> None:
    """check_withdrawals raises WithdrawalMismatch naming the first withdrawal or republish entry that is wrong."""
    seen: dict[int, int] = {}
    for at, e in w.entries:
        _check_named(led, at, e, seen)
    _check_complete(led, w)
    _check_republished(w)


def served_files(
    runs: dict[str, tuple[int, dict[str, Any]]], w: Withdrawn
) -> tuple[dict[str, list[list[Any]]], dict[str, str]]:
    """served_files returns each run's files after every republish entry, and each new file's original path.

    Raises WithdrawalMismatch when a republish entry replaces a file no run serves at that point.
    """
    files = {run_id: [list(f) for f in e["files"]] for run_id, (_, e) in runs.items()}
    where = {f[0]: run_id for run_id, fs_ in files.items() for f in fs_}
    origin: dict[str, str] = {}
    for at, r in w.republished:
        for old, new, sha, rows in r["files"]:
            run_id = where.pop(old, None)
            if run_id is None:
                raise WithdrawalMismatch(f"republish entry {at} replaces {old}, which no run serves at that point")
            files[run_id] = sorted([new, sha, rows] if f[0] == old else f for f in files[run_id])
            where[new] = run_id
            origin[new] = origin.pop(old, old)
    return files, origin
