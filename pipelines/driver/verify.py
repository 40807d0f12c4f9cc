"""``datanet verify NAME``: the one command an auditor runs on a published Datanet.

It trusts only the verifier key it is given (``--vkey``; otherwise the
ledger's own, which proves integrity but not identity) and the last
checkpoint it saw before (the *witness* file), and checks, stopping at the
first difference, which it names:

1. the ledger: every stored hash, index entry and checkpoint signature
   (``ledger.audit``); the latest checkpoint is signed, covers every entry,
   and each published run's checkpoint still exists;
2. no rollback or fork: the latest checkpoint extends the witness's
   checkpoint (RFC 9162 consistency proof), then becomes the new witness;
3. runs: every published run (``COMMITTED.json``) has exactly one ``run``
   ledger entry, every ``run`` entry is published, and the files each lists
   match it: same paths, SHA-256 and row counts; contribution entries sit
   exactly in the runs' declared ranges;
4. rows: every shard row's ``record_hash`` recomputes from its fields and
   equals the contribution entry at its ``ledger_index``, which names that
   shard, row, run and contributor, so contribution entries and shard rows
   are one to one.
   Withdrawals (``pipelines.driver.withdrawal.checks``): each ``withdrawal``
   entry names only its own pseudonym's earlier entries and all of them,
   and has one ``republish`` entry; the files checked are the runs' files
   with every republish applied, and a contribution or copy entry a
   withdrawal covers must have no row anywhere (a served row that is
   withdrawn is named);
5. the attribution index, when there is one: every file hashes as the
   ledger's ``index`` entries say (``pipelines.downstream.attribution.committed``).

Memory stays at one ledger batch and one shard batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import tree
from ledger.audit import AuditError, audit
from ledger.log import Ledger
from ledger.storage import write_atomic
from ledger.verify import (
    ProofError,
    parse_checkpoint_text,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_note,
)
from pipelines.core import fs
from pipelines.core.config import Datanet
from pipelines.core.errors import CheckFailed
from pipelines.core.records import record_hash
from pipelines.core.registry import committed_runs
from pipelines.core.withdrawal.ledgered import withdrawn
from pipelines.driver.withdrawal.checks import WithdrawalMismatch, check_withdrawals, served_files


class VerifyError(CheckFailed):
    """The published Datanet differs from what its ledger commits to; the message names the first difference."""


@dataclass
class Verified:
    """What ``verify_datanet`` checked."""

    size: int
    runs: int
    files: int
    rows: int
    witness: str
    witnessed: str


def default_witness(dn: Datanet, vkey: str) -> Path:
    """default_witness is where this machine keeps the last checkpoint it verified for this origin and key.

    Keyed by the verifier key too, so a Datanet re-created with a new key
    (another checkout) starts a new history instead of failing; which key
    to trust is ``--vkey``'s job.
    """
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    tag = hashlib.sha256(vkey.encode()).hexdigest()[:12]
    return base / "datanets" / "witness" / f"{dn.origin.replace('/', '_')}-{tag}.note"


def _other_keys_witnessed(dn: Datanet, vkey: str) -> list[Path]:
    """_other_keys_witnessed lists this machine's default witnesses of ``dn``'s origin under keys other than ``vkey``.

    A rollback signed with a fresh key would otherwise look like a Datanet
    seen for the first time: the witness is kept per key.
    """
    own = default_witness(dn, vkey)
    return sorted(p for p in own.parent.glob(f"{dn.origin.replace('/', '_')}-*.note") if p != own)


def _check_ledger(dn: Datanet, led: Ledger, vkey: str) -> Any:
    try:
        audit(dn.ledger_dir, vkey)
    except AuditError as exc:
        raise VerifyError(f"ledger: {exc}") from None
    note = led.latest_checkpoint()
    if note is None:
        if led.size:
            raise VerifyError(f"ledger: {led.size} entries but no signed checkpoint")
        return None
    try:
        cp = verify_checkpoint(note, parse_verifier_key(vkey), dn.origin)
    except ProofError as exc:
        raise VerifyError(f"ledger: the latest checkpoint does not verify: {exc}") from None
    if cp.size != led.size:
        raise VerifyError(f"ledger: the latest checkpoint covers {cp.size} of {led.size} entries")
    return cp


def _check_witness(led: Ledger, cp: Any, vkey: str, witness: Path) -> str:
    if cp is None:
        return "no checkpoint yet"
    if not witness.exists():
        return "first seen"
    try:
        old = parse_checkpoint_text(verify_note(witness.read_text(encoding="utf-8"), parse_verifier_key(vkey)))
    except ProofError as exc:
        raise VerifyError(f"witness {witness}: its checkpoint does not verify under this key: {exc}") from None
    if old.origin != cp.origin:
        raise VerifyError(f"witness {witness}: it is for {old.origin}, not {cp.origin}")
    if old.size > cp.size:
        raise VerifyError(
            f"rollback: the ledger is at size {cp.size}, but size {old.size} was verified before (witness {witness}; "
            "delete it only if you reset this Datanet on purpose)"
        )
    try:
        proof = tree.consistency_proof(led.store.node, old.size, cp.size) if old.size else []
        if old.size == cp.size and old.root != cp.root:
            raise ProofError("same size, different root")
        if 0 < old.size < cp.size:
            verify_consistency(old.size, cp.size, proof, old.root, cp.root)
    except ProofError as exc:
        raise VerifyError(
            f"fork: the checkpoint at size {cp.size} does not extend the one at {old.size} (witness {witness}): {exc}"
        ) from None
    return f"consistent with size {old.size}"


Span = tuple[int, int, str, str]  # first index, count, run id, kind


def _run_entries(led: Ledger) -> tuple[dict[str, tuple[int, dict[str, Any]]], list[Span]]:
    """One pass over the ledger: the run entries, and runs of contribution and copy entries."""
    runs: dict[str, tuple[int, dict[str, Any]]] = {}
    spans: list[Span] = []
    for i, raw in enumerate(led.entries()):
        e = json.loads(raw)
        if e["kind"] == "run":
            if e["run"] in runs:
                raise VerifyError(f"ledger entry {i}: a second run entry for run {e['run']}")
            runs[e["run"]] = (i, e)
        elif e["kind"] in ("contribution", "copy"):
            last = spans[-1] if spans else None
            if last and (last[2], last[3]) == (e["run"], e["kind"]) and last[0] + last[1] == i:
                spans[-1] = (last[0], last[1] + 1, last[2], last[3])
            else:
                spans.append((i, 1, e["run"], e["kind"]))
    return runs, spans


def run_counts(entry: dict[str, Any]) -> dict[str, int]:
    """run_counts are a run's counts as its signed ``run`` entry states them (what ``verify`` checks the files against).

    accepted = its contribution entries, duplicates = its copy entries,
    quarantined = the rows of its quarantine files, read = their sum.
    """
    quarantined = sum(int(rows) for path, _, rows in entry["files"] if str(path).startswith("quarantine/"))
    accepted, duplicates = int(entry["contributions"]), int(entry["copies"])
    return {
        "read": accepted + duplicates + quarantined,
        "accepted": accepted,
        "duplicates": duplicates,
        "quarantined": quarantined,
    }


def signed_run_counts(led: Ledger) -> dict[str, dict[str, int]]:
    """signed_run_counts maps each run on the ledger to ``run_counts`` of its run entry."""
    return {run_id: run_counts(e) for run_id, (_, e) in _run_entries(led)[0].items()}


def _check_runs(dn: Datanet, runs: dict[str, tuple[int, dict[str, Any]]], spans: list[Span]) -> None:
    published = {r["run_id"]: r for r in committed_runs(dn)}
    for run_id in sorted(set(published) - set(runs)):
        raise VerifyError(f"run {run_id} is published but no run entry on the ledger commits to it")
    for run_id in sorted(set(runs) - set(published)):
        raise VerifyError(f"run {run_id} has a run entry (ledger entry {runs[run_id][0]}) but is not published")
    for first, n, run_id, kind in spans:
        where = f"ledger entries {first}..{first + n - 1}: {kind} entries of run {run_id}"
        if run_id not in runs:
            raise VerifyError(f"{where}, which has no run entry")
        at, e = runs[run_id]
        contrib, copies = int(e["contributions"]), int(e["copies"])
        want = (e["first"], contrib) if kind == "contribution" else (e["first"] + contrib, copies)
        if (first, n) != want or at != e["first"] + contrib + copies:
            raise VerifyError(
                f"{where} lie outside what its run entry {at} declares "
                f"({contrib} contributions from {e['first']}, then {copies} copies, then the run entry)"
            )
    for run_id, (at, e) in runs.items():
        for kind, declared in (("contribution", e["contributions"]), ("copy", e["copies"])):
            if declared and not any((s[2], s[3]) == (run_id, kind) for s in spans):
                raise VerifyError(f"run entry {at} declares {declared} {kind} entries that are not on the ledger")
        listed = published[run_id]
        names = sorted([*listed["shards"], *listed.get("duplicates", []), *listed.get("quarantine", [])])
        if names != [f[0] for f in e["files"]]:
            diff = sorted(set(names) ^ {f[0] for f in e["files"]})
            raise VerifyError(f"run {run_id}: COMMITTED.json and run entry {at} list different files: {diff[:3]}")


def _check_files(dn: Datanet, run: dict[str, Any]) -> int:
    import pyarrow.parquet as pq

    for rel, sha, rows in run["files"]:
        path = str(dn.out_dir / rel)
        if not fs.exists(path):
            raise VerifyError(f"{rel}: missing (run entry for run {run['run']} lists it)")
        if fs.sha256(path) != sha:
            raise VerifyError(f"{rel}: SHA-256 differs from the run entry of run {run['run']}: the file was changed")
        with fs.open_read(path) as f:
            if pq.ParquetFile(f).metadata.num_rows != rows:
                raise VerifyError(f"{rel}: row count differs from the run entry")
    return len(run["files"])


def _check_rows(
    dn: Datanet,
    led: Ledger,
    run: dict[str, Any],
    gone: frozenset[int] | set[int] = frozenset(),
    origin: dict[str, str] | None = None,
) -> int:
    import pyarrow.parquet as pq

    origin = origin or {}
    names = [f.name for f in dn.schema.fields]
    first, n = run["first"], run["contributions"]
    expected = ((i, raw) for i, raw in enumerate(led.entries(first, first + n), first) if i not in gone)
    seen = 0
    for rel in [f[0] for f in run["files"] if f[0].startswith("shards/")]:
        shard, last = origin.get(rel, rel), -1
        with fs.open_read(str(dn.out_dir / rel)) as f:
            row = 0
            for batch in pq.ParquetFile(f).iter_batches(batch_size=4096):
                for r in batch.to_pylist():
                    where = f"{rel} row {row}"
                    if r["ledger_index"] in gone:
                        raise VerifyError(
                            f"{where}: holds withdrawn record {r['record_hash']} (ledger entry "
                            f"{r['ledger_index']}, withdrawn): a withdrawn record is served"
                        )
                    index, raw = next(expected, (None, None))
                    if raw is None:
                        raise VerifyError(f"{where}: more shard rows than run {run['run']} has contributions")
                    if r["ledger_index"] != index:
                        raise VerifyError(f"{where}: ledger_index {r['ledger_index']}, expected {index}")
                    e = json.loads(raw)
                    h = record_hash({n: r[n] for n in names})
                    if h != r["record_hash"]:
                        raise VerifyError(
                            f"{where}: the fields hash to {h}, not the stored record_hash: the row was changed"
                        )
                    got = (e.get("record_hash"), e.get("contributor_id"), e.get("shard"), e.get("run"))
                    want = (h, r["contributor_id"], shard, run["run"])
                    at = e.get("row")
                    if got != want or not (at == row if shard == rel else isinstance(at, int) and at > last):
                        raise VerifyError(f"{where}: ledger entry {index} is {got} row {at}, the row is {want}")
                    row, seen, last = row + 1, seen + 1, int(at)
    kept = n - sum(1 for i in gone if first <= i < first + n)
    if seen != kept:
        raise VerifyError(f"run {run['run']}: {seen} shard rows for {kept} contribution entries not withdrawn")
    _check_copies(dn, led, run, gone)
    return seen


def _check_copies(dn: Datanet, led: Ledger, run: dict[str, Any], gone: frozenset[int] | set[int]) -> None:
    """Each duplicates row of the run is the next copy entry not withdrawn, in order."""
    import pyarrow.parquet as pq

    start = run["first"] + run["contributions"]
    expected = ((i, raw) for i, raw in enumerate(led.entries(start, start + run["copies"]), start) if i not in gone)
    count = 0
    for rel in [f[0] for f in run["files"] if f[0].startswith("duplicates/")]:
        with fs.open_read(str(dn.out_dir / rel)) as f:
            for row, r in enumerate(pq.read_table(f, columns=["duplicate_of", "contributor_id", "kind"]).to_pylist()):
                index, raw = next(expected, (start + run["copies"], None))
                e = json.loads(raw) if raw is not None else {}
                got = (e.get("kind"), e.get("record_hash"), e.get("contributor_id"), e.get("duplicate"))
                want = ("copy", r["duplicate_of"], r["contributor_id"], r["kind"])
                if got != want:
                    raise VerifyError(f"{rel} row {row}: ledger entry {index} is {got}, the row is {want}")
                count += 1
    kept = run["copies"] - sum(1 for i in gone if start <= i < start + run["copies"])
    if count != kept:
        raise VerifyError(f"run {run['run']}: {count} duplicates rows for {kept} copy entries not withdrawn")


def _check_index(dn: Datanet, led: Ledger) -> None:
    from pipelines.downstream.attribution.committed import IndexMismatchError, check_index, committed_index, index_dir

    if (index_dir(dn) / "INDEX.json").exists():
        try:
            check_index(dn, index_dir(dn), committed_index(led), complete=False)
        except IndexMismatchError as exc:
            raise VerifyError(f"attribution index: {exc}") from None


def _served(
    led: Ledger, runs: dict[str, tuple[int, dict[str, Any]]]
) -> tuple[dict[str, tuple[int, dict[str, Any]]], set[int], dict[str, str]]:
    """The run entries with their files as republished, the withdrawn indexes, and each new file's original path."""
    w = withdrawn(led)
    try:
        check_withdrawals(led, w)
        served, origin = served_files(runs, w)
    except WithdrawalMismatch as exc:
        raise VerifyError(str(exc)) from None
    return {r: (at, {**e, "files": served[r]}) for r, (at, e) in runs.items()}, w.indexes, origin


def verify_datanet(dn: Datanet, vkey: str | None = None, witness: Path | None = None) -> Verified:
    """verify_datanet runs every check in order; raises VerifyError naming the first difference."""
    if not (dn.ledger_dir / "STATE").exists():
        raise VerifyError(f"{dn.ledger_dir}: no ledger")
    with Ledger(dn.ledger_dir) as led:
        key = vkey or (dn.ledger_dir / "vkey").read_text(encoding="utf-8").strip()
        if vkey is None and witness is None and not default_witness(dn, key).exists():
            others = _other_keys_witnessed(dn, key)
            if others:
                raise VerifyError(
                    f"{dn.origin} was verified on this machine under another key ({others[0]}), and the key in "
                    f"{dn.ledger_dir / 'vkey'} is new here: a rollback signed with a new key looks exactly like this. "
                    "If you re-created this Datanet on purpose, trust its key explicitly with --vkey"
                )
        witness = witness or default_witness(dn, key)
        cp = _check_ledger(dn, led, key)
        signed = set(led.checkpoint_sizes())
        for r in committed_runs(dn):
            size = int(r["ledger"]["size"])
            if size not in signed:
                raise VerifyError(f"run {r['run_id']}: the checkpoint it was published at (size {size}) is missing")
        witnessed = _check_witness(led, cp, key, witness)
        runs, spans = _run_entries(led)
        runs, gone, origin = _served(led, runs)
        _check_runs(dn, runs, spans)
        files = rows = 0
        for _, e in sorted(runs.values(), key=lambda x: int(x[0])):
            files += _check_files(dn, e)
            rows += _check_rows(dn, led, e, gone, origin)
        _check_index(dn, led)
        if cp is not None:
            witness.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(witness, led.latest_checkpoint().encode())  # type: ignore[union-attr]
        return Verified(led.size, len(runs), files, rows, str(witness), witnessed)
