"""Deciding a withdrawal: which entries it covers, which files change, and the new files' bytes.

``plan_withdrawal`` is read-only. It runs under the ledger's writer lock,
before anything irreversible, and returns a ``WithdrawalPlan`` and the
bytes of every new file; ``pipelines.core.withdrawal.apply`` then only
carries it out. A served file (shard, duplicates, quarantine) that holds a
row of the contributor is replaced by a new file: the same rows in the same
order, minus theirs, encoded as the writer encodes (same schema and
metadata, same compression), named ``<name>.w<N>.parquet`` where ``N`` is
the ledger index of the withdrawal entry. The private contributor maps
(``contributors/``) lose the contributor's rows in place.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ledger import entries
from ledger.log import Ledger
from pipelines.core import fs
from pipelines.core.config import Datanet
from pipelines.core.registry import committed_runs, run_files
from pipelines.core.withdrawal.ledgered import withdrawn

SERVED = ("shards", "duplicates", "quarantine")
_SUFFIX = re.compile(r"(\.w\d+)?\.parquet\Z")


class WithdrawalError(RuntimeError):
    """A withdrawal cannot be planned or finished as the ledger and the files stand; the message says why."""


@dataclass
class FileChange:
    """One served file a withdrawal replaces: ``old`` by ``new`` (``rows`` rows, ``sha256``), of ``run``."""

    run: str
    kind: str
    old: str
    new: str
    rows: int
    sha256: str


@dataclass
class WithdrawalPlan:
    """Everything a withdrawal will do, decided before its first ledger append (kept as PLAN.json)."""

    pseudonym: str
    reason: str
    base: int  # the ledger size when planned: the withdrawal entry's index; the republish entry follows it
    contributions: list[int]
    copies: list[int]
    quarantined: int
    weights: list[list[int]] | None = None  # [[ledger index, weight]] of withdrawn records under basis: weighted
    files: list[FileChange] = field(default_factory=list)
    private: list[str] = field(default_factory=list)  # contributor maps rewritten in place
    record_hashes: list[str] = field(default_factory=list)
    note: str = ""  # the curator's own words (--reason TEXT): kept in the private PLAN.json only, never on the ledger

    @property
    def empty(self) -> bool:
        """empty: nothing of the contributor is served or on the ledger un-withdrawn (a repeat is a no-op)."""
        return not (self.contributions or self.copies or self.quarantined)

    def withdrawal_entry(self, datanet: str) -> dict[str, Any]:
        """withdrawal_entry is the ``withdrawal`` ledger entry this plan appends at ``base``."""
        return entries.withdrawal(
            datanet, self.pseudonym, self.contributions, self.copies, self.quarantined, self.reason, self.weights
        )

    def republish_entry(self, datanet: str) -> dict[str, Any]:
        """republish_entry is the ``republish`` ledger entry this plan appends at ``base + 1``."""
        files = sorted([f.old, f.new, f.sha256, f.rows] for f in self.files)
        return entries.republish(datanet, self.base, files)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> WithdrawalPlan:
        files = [FileChange(**f) for f in body.pop("files")]
        return cls(**body, files=files)


def new_name(old: str, base: int) -> str:
    """new_name is the path of the file that replaces ``old`` after the withdrawal at ledger index ``base``."""
    return _SUFFIX.sub(f".w{base}.parquet", old)


def encode(table: pa.Table, compression: str) -> bytes:
    """encode writes ``table`` as the split writer does (``stages.write.table_bytes``): same table, same bytes."""
    buf = io.BytesIO()
    pq.write_table(
        table.combine_chunks(),
        buf,
        compression=None if compression == "none" else compression,
        use_dictionary=True,
        write_statistics=True,
    )
    return buf.getvalue()


def without(path: str, column: str, value: str, compression: str) -> tuple[pa.Table, bytes] | None:
    """without returns the removed rows and the bytes of ``path`` minus rows whose ``column`` is ``value``.

    None when no row matches (the file is not changed).
    """
    with fs.open_read(path) as f:
        table = pq.read_table(f)
    hit = pc.fill_null(pc.equal(table[column], value), False)
    if not pc.any(hit).as_py():
        return None
    return table.filter(hit), encode(table.filter(pc.invert(hit)), compression)


def _own_entries(led: Ledger, pseud: str, done: set[int]) -> tuple[list[int], list[int]]:
    """The ledger indexes of ``pseud``'s contribution and copy entries not withdrawn yet."""
    mark = pseud.encode()
    contributions: list[int] = []
    copies: list[int] = []
    for i, raw in enumerate(led.entries()):
        if mark not in raw or i in done:
            continue
        e = json.loads(raw)
        if e.get("contributor_id") == pseud and e["kind"] in ("contribution", "copy"):
            (contributions if e["kind"] == "contribution" else copies).append(i)
    return contributions, copies


def plan_withdrawal(dn: Datanet, led: Ledger, pseud: str, reason: str) -> tuple[WithdrawalPlan, dict[str, bytes]]:
    """plan_withdrawal decides a withdrawal of ``pseud`` and returns it with the new files' bytes by path.

    Read-only. Raises WithdrawalError when the served files and the ledger
    disagree about the contributor's rows (run ``datanet verify`` first).
    """
    contributions, copies = _own_entries(led, pseud, withdrawn(led).indexes)
    plan = WithdrawalPlan(pseud, reason, led.size, contributions, copies, 0)
    data: dict[str, bytes] = {}
    removed: dict[str, list[Any]] = {k: [] for k in SERVED}
    weight = dn.config.payout.weight_field
    plan.weights = [] if weight else None
    for run in committed_runs(dn):
        for kind in SERVED:
            for rel in run.get(kind, []):
                hit = without(str(dn.out_dir / rel), "contributor_id", pseud, dn.config.output.compression)
                if hit is None:
                    continue
                gone, new_bytes = hit
                removed[kind] += gone["ledger_index"].to_pylist() if kind == "shards" else [None] * gone.num_rows
                if kind == "shards" and plan.weights is not None:
                    pairs = zip(gone["ledger_index"].to_pylist(), gone[str(weight)].to_pylist(), strict=True)
                    plan.weights += [[int(i), int(w or 0)] for i, w in pairs]
                rows = _rows(new_bytes)
                new = new_name(rel, plan.base)
                plan.files.append(
                    FileChange(run["run_id"], kind, rel, new, rows, hashlib.sha256(new_bytes).hexdigest())
                )
                data[new] = new_bytes
    _check_counts(plan, removed)
    plan.quarantined = len(removed["quarantine"])
    plan.record_hashes = [json.loads(led.entry(i))["record_hash"] for i in contributions]
    for path in run_files(dn, "contributors"):
        hit = without(str(path), "pseudonym", pseud, dn.config.output.compression)
        if hit is not None:
            rel = str(path.relative_to(dn.out_dir))
            plan.private.append(rel)
            data[rel] = hit[1]
    return plan, data


def _rows(data: bytes) -> int:
    return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)


def _check_counts(plan: WithdrawalPlan, removed: dict[str, list[Any]]) -> None:
    if sorted(removed["shards"]) != plan.contributions:
        raise WithdrawalError(
            f"{plan.pseudonym}: the served shards hold {len(removed['shards'])} of their rows, the ledger "
            f"{len(plan.contributions)} contribution entries not yet withdrawn; run `datanet verify` first"
        )
    if len(removed["duplicates"]) != len(plan.copies):
        raise WithdrawalError(
            f"{plan.pseudonym}: the duplicates files hold {len(removed['duplicates'])} of their rows, the ledger "
            f"{len(plan.copies)} copy entries not yet withdrawn; run `datanet verify` first"
        )
