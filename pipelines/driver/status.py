"""``datanet status NAME``: what a Datanet holds now, and whether it verifies, without changing anything.

Lists the committed runs (counts from each run's signed ``run`` entry, the
ones ``verify`` checks the files against; a ``report.json`` that says
otherwise is flagged), shards and ledger size after each, runs
started but not committed, the ledger's size and latest checkpoint, and
the result of ``datanet verify`` run against a *copy* of this machine's
witness, so asking for the status never moves the witness.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ledger.log import Ledger
from pipelines.core.config import Datanet
from pipelines.core.registry import committed_runs, uncommitted_runs


def _report_counts(dn: Datanet, run_id: str) -> dict[str, Any]:
    path = dn.out_dir / "runs" / run_id / "report.json"
    rep = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {
        "read": rep.get("read"),
        "accepted": rep.get("accepted"),
        "duplicates": (rep.get("duplicates") or {}).get("total"),
        "quarantined": (rep.get("quarantined") or {}).get("total"),
    }


def _signed_counts(dn: Datanet) -> dict[str, dict[str, int]]:
    from pipelines.driver.verify import VerifyError, signed_run_counts

    if not (dn.ledger_dir / "STATE").exists():
        return {}
    try:
        with Ledger(dn.ledger_dir) as led:
            return signed_run_counts(led)
    except VerifyError:
        return {}


def status(dn: Datanet, vkey: str | None = None) -> dict[str, Any]:
    """status gathers runs, ledger and verification state as plain data.

    A run's counts are its signed run entry's; ``counts_from`` says
    "ledger", or "report.json (not on the ledger)" when the run has no run
    entry; ``report_differs`` lists the counts report.json gets wrong.
    """
    from pipelines.driver.verify import VerifyError, default_witness, verify_datanet

    runs = []
    signed = _signed_counts(dn)
    for r in committed_runs(dn):
        reported = _report_counts(dn, r["run_id"])
        counts = signed.get(r["run_id"])
        runs.append(
            {"seq": r["seq"], "run_id": r["run_id"], "inputs": len(r["inputs"])}
            | (counts or reported)
            | {
                "counts_from": "ledger" if counts else "report.json (not on the ledger)",
                "report_differs": sorted(k for k in reported if counts and reported[k] != counts[k]),
                "shards": len(r["shards"]),
                "ledger_size": r["ledger"]["size"],
            }
        )
    from pipelines.core.withdrawal.ledgered import list_withdrawals

    pending = [run_id for run_id, _ in uncommitted_runs(dn)]
    out: dict[str, Any] = {"datanet": dn.name, "runs": runs, "uncommitted": pending, "ledger": None, "verify": None}
    out["withdrawals"] = [
        {k: w[k] for k in ("withdrawal_index", "pseudonym", "reason", "quarantined", "republished")}
        | {"records": len(w["records"]), "copies": len(w["copies"])}
        for w in list_withdrawals(dn.ledger_dir)
    ]
    if not (dn.ledger_dir / "STATE").exists():
        return out
    with Ledger(dn.ledger_dir) as led:
        note = led.latest_checkpoint()
        out["ledger"] = {
            "size": led.size,
            "root": led.root.hex(),
            "checkpoint_size": int(note.split("\n")[1]) if note else None,
            "checkpoints": len(led.checkpoint_sizes()),
        }
    key = vkey or (dn.ledger_dir / "vkey").read_text(encoding="utf-8").strip()
    with tempfile.TemporaryDirectory() as tmp:
        witness = Path(tmp) / "witness.note"
        real = default_witness(dn, key)
        if real.exists():
            shutil.copy(real, witness)
        try:
            v = verify_datanet(dn, vkey, witness)
            out["verify"] = {"ok": True, "detail": f"{v.rows} rows, {v.files} files; checkpoint {v.witnessed}"}
        except VerifyError as exc:
            out["verify"] = {"ok": False, "detail": str(exc)}
    return out


def render(s: dict[str, Any]) -> str:
    """render shows a status for people."""
    lines = [f"Datanet {s['datanet']}"]
    if not s["runs"]:
        lines.append("  no committed run yet")
    for r in s["runs"]:
        lines.append(
            f"  run #{r['seq']} {r['run_id']}: {r['inputs']} input(s), read {r['read']}, accepted {r['accepted']}, "
            f"duplicates {r['duplicates']}, quarantined {r['quarantined']}; {r['shards']} shard(s); "
            f"ledger size {r['ledger_size']}"
        )
        if r["counts_from"] != "ledger":
            lines.append(f"    counts from {r['counts_from']}: unverified")
        if r["report_differs"]:
            lines.append(
                f"    runs/{r['run_id']}/report.json differs from the signed run entry in "
                f"{', '.join(r['report_differs'])} (the counts above are the ledger's)"
            )
    for run_id in s["uncommitted"]:
        lines.append(f"  run {run_id}: started, not committed (the next `datanet ingest` finishes or redoes it)")
    for w in s.get("withdrawals", []):
        lines.append(
            f"  withdrawal at entry {w['withdrawal_index']}: {w['pseudonym']} ({w['reason']}), "
            f"{w['records']} record(s) and {w['copies']} copy(ies) no longer served"
            + ("" if w["republished"] else "; NOT FINISHED (the next ledger writer finishes it)")
        )
    if s["ledger"]:
        led = s["ledger"]
        lines.append(
            f"  ledger: {led['size']} entries, root {led['root']}, latest checkpoint at size {led['checkpoint_size']} "
            f"({led['checkpoints']} signed)"
        )
    if s["verify"]:
        lines.append(f"  verify: {'OK' if s['verify']['ok'] else 'FAILED'}: {s['verify']['detail']}")
    return "\n".join(lines) + "\n"
