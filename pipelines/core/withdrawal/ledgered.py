"""What a Datanet's ledger says is withdrawn: its ``withdrawal`` and ``republish`` entries, read-only.

``withdrawn(led)`` reads every entry once (a byte test skips other kinds
before parsing) and returns the withdrawn contribution and copy indexes,
with the record hash each names, so that ``usage``, ``verify``, ``status``
and ``datanet withdrawals`` ask one function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledger.log import Ledger

_MARKS = (b'"kind":"withdrawal"', b'"kind":"republish"')  # canonical JSON: only ever the kind key


@dataclass
class Withdrawn:
    """The withdrawals on a ledger.

    ``contributions`` and ``copies`` map each withdrawn entry's ledger index
    to its record hash; ``by`` maps the same indexes to the index of the
    ``withdrawal`` entry that covers them; ``entries`` and ``republished``
    are the ``withdrawal`` and ``republish`` entries as ``(index, entry)``.
    """

    contributions: dict[int, str] = field(default_factory=dict)
    copies: dict[int, str] = field(default_factory=dict)
    by: dict[int, int] = field(default_factory=dict)
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    republished: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def indexes(self) -> set[int]:
        """indexes are every withdrawn contribution and copy entry's ledger index."""
        return set(self.contributions) | set(self.copies)

    @property
    def pseudonyms(self) -> set[str]:
        """pseudonyms are the contributors with at least one withdrawal."""
        return {str(e["pseudonym"]) for _, e in self.entries}

    def weights(self) -> dict[int, int]:
        """weights are the payout weights withdrawal entries kept, by contribution index (``basis: weighted``)."""
        return {int(i): int(w) for _, e in self.entries for i, w in e.get("weights") or []}

    def record_hashes(self) -> set[str]:
        """record_hashes are the hashes of withdrawn contributions (records no longer served)."""
        return set(self.contributions.values())


def withdrawn(led: Ledger, upto: int | None = None) -> Withdrawn:
    """withdrawn reads the first ``upto`` entries (default all) and returns what they withdraw.

    An index a withdrawal names that is not an entry of the right kind is
    still listed (with an empty hash): ``datanet verify`` names it.
    """
    out = Withdrawn()
    end = led.size if upto is None else min(upto, led.size)
    for i, raw in enumerate(led.entries(0, end)):
        if not any(m in raw for m in _MARKS):
            continue
        e = json.loads(raw)
        if e["kind"] == "republish":
            out.republished.append((i, e))
            continue
        out.entries.append((i, e))
        for name, target in (("contributions", out.contributions), ("copies", out.copies)):
            for j in e[name]:
                target[int(j)] = _record_hash(led, int(j), end)
                out.by[int(j)] = i
    return out


def _record_hash(led: Ledger, index: int, end: int) -> str:
    if not 0 <= index < end:
        return ""
    return str(json.loads(led.entry(index)).get("record_hash", ""))


def withdrawn_of(dn_ledger_dir: Any) -> Withdrawn:
    """withdrawn_of opens a ledger folder read-only and returns ``withdrawn`` of it (empty if there is none)."""
    from pathlib import Path

    path = Path(dn_ledger_dir)
    if not (path / "STATE").exists():
        return Withdrawn()
    with Ledger(path) as led:
        return withdrawn(led)


def list_withdrawals(ledger_dir: Any, since: int = 0) -> list[dict[str, Any]]:
    """list_withdrawals lists the withdrawal entries in ``ledger_dir`` from index ``since`` on, with what each removed.

    Each names its ledger index, pseudonym, reason, the withdrawn records
    (``[ledger_index, record_hash]`` of each contribution: what a training
    job that copied shards must purge) and copies, and whether it was
    republished (finished).
    """
    w = withdrawn_of(ledger_dir)
    done = {int(e["withdrawal"]) for _, e in w.republished}
    out = []
    for at, e in w.entries:
        if at < since:
            continue
        out.append(
            {
                "withdrawal_index": at,
                "pseudonym": e["pseudonym"],
                "reason": e["reason"],
                "records": [[i, w.contributions[i]] for i in e["contributions"]],
                "copies": [[i, w.copies[i]] for i in e["copies"]],
                "quarantined": e["quarantined"],
                "republished": at in done,
            }
        )
    return out
