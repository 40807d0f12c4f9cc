"""Carrying out a withdrawal, crash-safe at every step, and finishing one that stopped.

A withdrawal is planned (``plan``) under the ledger's writer lock, then:

1. ``stage``: every new file is written as ``<new path>.staged`` (private
   maps as ``<path>.staged``), then ``withdrawals/<N>/PLAN.json`` (0600),
   the plan itself. Nothing is irreversible yet: a withdrawal that stops
   here is discarded by the next writer, and nothing of it was published.
2. the ``withdrawal`` entry is appended at index ``N`` (= the ledger size
   when planned) and a checkpoint signed: from now on the withdrawal
   happens, and every ledger writer (``pipelines.core.appender.writing``,
   an ingest) finishes it before appending anything of its own;
3. the staged files take their new names (SHA-256 checked against the plan);
4. the ``republish`` entry (the new files' paths, SHA-256 and rows) is
   appended at ``N + 1`` and a checkpoint signed;
5. each affected run's ``COMMITTED.json`` lists the new files instead of the old;
6. the old files are deleted, the contributor maps lose the contributor's
   rows, the attribution index (derived, rebuilt by ``datanet index``) is
   deleted, and ``DONE.json`` is written last.

Every step checks what an interrupted attempt already did and does only the
rest, so finishing after SIGKILL at any crash point (``withdraw-staged``,
``withdraw-signed``, ``withdraw-placed``, ``withdraw-republished``,
``withdraw-swapped``, ``withdraw-done``) gives the uninterrupted result.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ledger.entries import encode_entry
from ledger.log import Ledger
from ledger.storage import write_atomic
from pipelines.core import fs
from pipelines.core.config import Datanet
from pipelines.core.errors import crash_point
from pipelines.core.withdrawal.plan import WithdrawalError, WithdrawalPlan

Progress = Callable[[str], None]
STAGED = ".staged"


class Writer(Protocol):
    """What a withdrawal needs of ``pipelines.core.appender.LedgerWriter``."""

    @property
    def ledger(self) -> Ledger: ...

    def append_signed(self, entries: Iterable[Mapping[str, Any]]) -> str: ...

    def sign(self) -> str: ...


def withdrawals_dir(dn: Datanet) -> Path:
    """withdrawals_dir holds one private folder per withdrawal (``<N>/PLAN.json``, ``<N>/DONE.json``)."""
    return dn.out_dir / "withdrawals"


def plan_path(dn: Datanet, base: int) -> Path:
    return withdrawals_dir(dn) / f"{base:012d}" / "PLAN.json"


def pending(dn: Datanet) -> list[WithdrawalPlan]:
    """pending lists the staged withdrawals that have no DONE.json, in ledger order."""
    out = []
    for path in sorted(withdrawals_dir(dn).glob("*/PLAN.json")):
        if not (path.parent / "DONE.json").exists():
            out.append(WithdrawalPlan.from_json(json.loads(path.read_text(encoding="utf-8"))))
    return out


def _write_json(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent.parent, 0o700)
    write_atomic(path, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())
    os.chmod(path, 0o600)


def stage(dn: Datanet, plan: WithdrawalPlan, data: dict[str, bytes]) -> None:
    """stage writes every new file under its staged name, then PLAN.json (the plan is complete once it exists)."""
    for rel, body in sorted(data.items()):
        private = rel in plan.private or rel.startswith("quarantine/")
        fs.write_bytes(str(dn.out_dir / rel) + STAGED, body, private=private)
        fs.fsync_local(str(dn.out_dir / rel) + STAGED)
    _write_json(plan_path(dn, plan.base), plan.to_json())
    crash_point("withdraw-staged")


def begun(led: Ledger, dn: Datanet, plan: WithdrawalPlan) -> bool:
    """begun says whether the plan's withdrawal entry is on the ledger (it can then only be finished)."""
    return led.size > plan.base and led.entry(plan.base) == encode_entry(plan.withdrawal_entry(dn.name))


def _append_once(w: Writer, at: int, entry: dict[str, Any]) -> None:
    led = w.ledger
    if led.size == at:
        w.append_signed([entry])
        return
    if led.size < at or led.entry(at) != encode_entry(entry):
        raise WithdrawalError(f"ledger entry {at} is not the {entry['kind']} entry this withdrawal appends")
    if max(led.checkpoint_sizes(), default=0) < at + 1:
        w.sign()


def _place(dn: Datanet, plan: WithdrawalPlan) -> None:
    for f in plan.files:
        new, staged = dn.out_dir / f.new, str(dn.out_dir / f.new) + STAGED
        if os.path.exists(staged):
            os.replace(staged, new)
        if not new.exists() or fs.sha256(str(new)) != f.sha256:
            raise WithdrawalError(f"{f.new}: missing or not the bytes the withdrawal planned")
        fs.fsync_local(str(new))


def _swap_committed(dn: Datanet, plan: WithdrawalPlan) -> None:
    renames = {f.old: f.new for f in plan.files}
    for run_id in sorted({f.run for f in plan.files}):
        path = dn.out_dir / "runs" / run_id / "COMMITTED.json"
        body = json.loads(path.read_text(encoding="utf-8"))
        for kind in ("shards", "duplicates", "quarantine"):
            if kind in body:
                body[kind] = [renames.get(p, p) for p in body[kind]]
        write_atomic(path, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())


def _clean_up(dn: Datanet, plan: WithdrawalPlan) -> None:
    for f in plan.files:
        (dn.out_dir / f.old).unlink(missing_ok=True)
    for rel in plan.private:
        staged = str(dn.out_dir / rel) + STAGED
        if os.path.exists(staged):
            os.replace(staged, dn.out_dir / rel)
    shutil.rmtree(dn.out_dir / "attribution", ignore_errors=True)  # derived; rebuilt from what is served


def carry_out(dn: Datanet, w: Writer, plan: WithdrawalPlan, progress: Progress) -> None:
    """carry_out runs steps 2-6 of a staged plan, skipping what an interrupted attempt already did."""
    _append_once(w, plan.base, plan.withdrawal_entry(dn.name))
    crash_point("withdraw-signed")
    _place(dn, plan)
    crash_point("withdraw-placed")
    _append_once(w, plan.base + 1, plan.republish_entry(dn.name))
    crash_point("withdraw-republished")
    _swap_committed(dn, plan)
    crash_point("withdraw-swapped")
    _clean_up(dn, plan)
    _write_json(plan_path(dn, plan.base).parent / "DONE.json", {"ledger_size": w.ledger.size})
    progress(f"  withdrawal at ledger entry {plan.base}: {len(plan.files)} file(s) republished")
    crash_point("withdraw-done")


def discard(dn: Datanet, plan: WithdrawalPlan) -> None:
    """discard removes a staged withdrawal that never reached the ledger (nothing of it was published)."""
    for rel in [*(f.new for f in plan.files), *plan.private]:
        Path(str(dn.out_dir / rel) + STAGED).unlink(missing_ok=True)
    shutil.rmtree(plan_path(dn, plan.base).parent, ignore_errors=True)


def finish_started(dn: Datanet, w: Writer, progress: Progress) -> int:
    """finish_started finishes every stopped withdrawal whose entry is on the ledger and discards the others.

    Call it holding the writer lock, before appending anything else; returns
    how many it finished.
    """
    finished = 0
    for plan in pending(dn):
        if begun(w.ledger, dn, plan):
            progress(f"  finishing the withdrawal at ledger entry {plan.base}, which was interrupted")
            carry_out(dn, w, plan, progress)
            finished += 1
        else:
            discard(dn, plan)
    return finished
