"""A contributor leaves: ``withdraw`` (``datanet withdraw``; ``core.withdrawal.ledgered.list_withdrawals`` lists them).

``withdraw`` takes the ledger's writer lock (``pipelines.core.appender.writing``,
which first finishes any withdrawal that stopped), plans the withdrawal
(``pipelines.core.withdrawal.plan``: every decision, every new file's bytes
and SHA-256), then carries it out (``pipelines.core.withdrawal.apply``). A
contributor with nothing left to withdraw is a no-op: withdrawing twice
appends nothing. If the Datanet had an attribution index, it is rebuilt
from what is served now, on the ledger (``datanet index``).
"""

from __future__ import annotations

from typing import Any

from ledger.entries import WITHDRAWAL_REASONS
from ledger.pseudonym import is_pseudonym
from ledger.storage import WRITER_WAIT
from pipelines.core.appender import Progress, writing
from pipelines.core.config import Datanet
from pipelines.core.errors import BadInput
from pipelines.core.withdrawal.apply import carry_out, stage
from pipelines.core.withdrawal.plan import plan_withdrawal


def _quiet(_: str) -> None:
    pass


def reason_code(text: str | None) -> tuple[str, str]:
    """reason_code maps ``--reason TEXT`` to the code the ledger records and the note kept privately.

    TEXT that is a code (``consent_withdrawn``, ``erasure_request``,
    ``court_order``, ``curator_decision``, ``other``; ``-`` for ``_``
    accepted) is that code; any other text is ``other``, and the text stays
    in the curator's private PLAN.json only.
    """
    if not text:
        return "consent_withdrawn", ""
    code = text.strip().lower().replace("-", "_")
    return (code, "") if code in WITHDRAWAL_REASONS else ("other", text)


def resolve(dn: Datanet, contributor_id: str | None, pseudonym: str | None) -> str:
    """resolve is the pseudonym to withdraw: the given one, or the one the contributor key gives ``contributor_id``."""
    from pipelines.downstream.contributors import pseudonym_and_opening

    if (contributor_id is None) == (pseudonym is None):
        raise BadInput("give a contributor ID or --pseudonym, not both and not neither")
    if pseudonym is not None:
        if not is_pseudonym(pseudonym):
            raise BadInput(f"--pseudonym {pseudonym!r} is not a pseudonym (cid1_ and 32 hex digits)")
        return pseudonym
    assert contributor_id is not None
    return pseudonym_and_opening(dn, contributor_id)[0]


def withdraw(
    dn: Datanet,
    pseudonym: str,
    reason: str = "consent_withdrawn",
    note: str = "",
    progress: Progress | None = None,
    wait: float = WRITER_WAIT,
) -> dict[str, Any]:
    """withdraw withdraws every record of ``pseudonym`` not withdrawn yet; returns what it did.

    Guarantees: on return the ledger holds a ``withdrawal`` entry (the
    contributor's contribution and copy indexes, ``reason``) and a
    ``republish`` entry (the new files' SHA-256), each under a signed
    checkpoint, and no served file holds a row of theirs. Interrupted at any
    point after the first append, the next ledger writer finishes it;
    before, nothing was published and it is discarded.
    """
    say = progress or _quiet
    had_index = (dn.out_dir / "attribution" / "INDEX.json").exists()
    with writing(dn, wait, say) as w:
        plan, data = plan_withdrawal(dn, w.ledger, pseudonym, reason)
        if plan.empty:
            say(f"nothing of {pseudonym} is left to withdraw from {dn.name}")
            return {"datanet": dn.name, "pseudonym": pseudonym, "withdrawn": False, "ledger_size": w.ledger.size}
        plan.note = note
        say(
            f"withdrawing {pseudonym}: {len(plan.contributions)} contribution(s), {len(plan.copies)} copy(ies), "
            f"{plan.quarantined} quarantine row(s); {len(plan.files)} file(s) to republish"
        )
        stage(dn, plan, data)
        carry_out(dn, w, plan, say)
        size, note_signed = w.ledger.size, w.ledger.latest_checkpoint()
    if had_index:
        from pipelines.downstream.attribution.committed import update_index

        update_index(dn, say, wait)
    _redraw_reports(dn, sorted({f.run for f in plan.files}), say)
    return {
        "datanet": dn.name,
        "pseudonym": pseudonym,
        "withdrawn": True,
        "withdrawal_index": plan.base,
        "republish_index": plan.base + 1,
        "reason": plan.reason,
        "contributions": len(plan.contributions),
        "copies": len(plan.copies),
        "quarantined": plan.quarantined,
        "files": [[f.old, f.new] for f in plan.files],
        "ledger_size": size,
        "checkpoint": note_signed,
    }


def _redraw_reports(dn: Datanet, run_ids: list[str], say: Progress) -> None:
    """Redraw affected runs' report.html from what is served; drop their GX Data Docs (they may quote rows)."""
    import shutil

    from pipelines.driver.report import write_report

    for run_id in run_ids:
        shutil.rmtree(dn.out_dir / "runs" / run_id / "data_docs", ignore_errors=True)
        try:
            write_report(dn, run_id, with_data_docs=False)
        except Exception as exc:  # the withdrawal is done; a report that cannot be drawn does not undo it
            say(f"  could not redraw runs/{run_id}/report.html: {type(exc).__name__}: {exc}")
