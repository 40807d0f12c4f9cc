"""Checking payouts: recompute a statement from the ledger, and contributors' receipts.

``verify_statement`` audits the ledger (so a changed usage or contribution
entry is caught), finds the ``payout`` entry of the statement's model and
period, checks the statement's hash against it, checks the statement's
policy against the Datanet's, recomputes the statement from the same ledger
prefix and names the first field or line that disagrees.

A receipt is one JSON file a contributor can check offline with
``verify_receipt`` (standard library plus ``cryptography``): the whole
statement, the signed checkpoint, and a c2sp.org/tlog-proof for the payout
entry and for every contribution and usage entry the contributor's line
rests on (under ``basis: attribution``, the attribution entries that weigh
the line's records instead of usage entries).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ledger.audit import AuditError, audit
from ledger.entries import canonical_json
from ledger.log import Ledger
from ledger.pseudonym import is_pseudonym, proves
from ledger.verify import ProofError, parse_inclusion_proof, parse_verifier_key, verify_inclusion_proof_text
from pipelines.core.config import Datanet
from pipelines.core.errors import CheckFailed
from pipelines.downstream.payout.statement import (
    CSV_COLUMNS,
    LINE_COLUMNS,
    compute_statement,
    find_payout,
    statement_hash,
)

RECEIPT_FORMAT = "datanets-payout-receipt/1"


class StatementMismatch(CheckFailed):
    """A statement, receipt or the ledger behind it does not check out; the message says what differs."""


def _first_difference(path: str, got: Any, want: Any) -> str | None:
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if k not in got or k not in want:
                return f"{path}.{k}: present in only one of statement and recomputation"
            if (d := _first_difference(f"{path}.{k}", got[k], want[k])) is not None:
                return d
        return None
    if isinstance(got, list) and isinstance(want, list) and path.endswith("lines"):
        for g, w in zip(got, want, strict=False):
            if (d := _first_difference(f"line for {w.get('payee')}", g, w)) is not None:
                return d
        return None if len(got) == len(want) else f"{path}: {len(got)} lines, recomputed {len(want)}"
    return None if got == want else f"{path}: statement has {got!r}, recomputed {want!r}"


def verify_lines(folder: Path, statement: dict[str, Any]) -> None:
    """verify_lines checks ``lines.parquet`` and ``lines.csv`` beside a statement say exactly what it says."""
    import csv

    import pyarrow.parquet as pq

    want = [{c: line.get(c) for c in LINE_COLUMNS} for line in statement["lines"]]
    for name in ("lines.parquet", "lines.csv"):
        if not (folder / name).exists():
            raise StatementMismatch(f"{folder / name}: missing")
    got = pq.read_table(folder / "lines.parquet").to_pylist()
    if (d := _first_difference("lines.parquet lines", got, want)) is not None:
        raise StatementMismatch(d)
    with open(folder / "lines.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    text = [[str(w[c]) if w[c] is not None else "" for c in CSV_COLUMNS] for w in want]
    if rows[:1] != [CSV_COLUMNS] or rows[1:] != text:
        bad = next((i for i, (g, w) in enumerate(zip(rows[1:], text, strict=False), 2) if g != w), len(rows) + 1)
        raise StatementMismatch(f"{folder / 'lines.csv'}: line {bad} differs from statement.json")


def verify_statement(
    dn: Datanet, statement: dict[str, Any], vkey: str | None = None, folder: Path | None = None
) -> dict[str, Any]:
    """verify_statement recomputes ``statement`` from the ledger and policy; raises StatementMismatch.

    With ``folder`` (where the statement was read from), its ``lines.parquet``
    and ``lines.csv`` must match it too.
    """
    if folder is not None:
        verify_lines(folder, statement)
    try:
        audit(dn.ledger_dir, vkey)
    except AuditError as exc:
        raise StatementMismatch(f"ledger: {exc}") from None
    model, period = str(statement.get("model")), str(statement.get("period"))
    found = find_payout(dn, model, period)
    if found is None:
        raise StatementMismatch(f"no payout entry for model {model} period {period} is on the ledger")
    index, entry = found
    digest = statement_hash(statement)
    if digest != entry["statement_hash"]:
        raise StatementMismatch(
            f"statement hash {digest} is not the one in payout entry {index} "
            f"({entry['statement_hash']}): the statement was changed"
        )
    policy = dn.config.payout.for_model(model).model_dump(mode="json")
    if (d := _first_difference("policy", statement.get("policy"), policy)) is not None:
        raise StatementMismatch(f"the Datanet's payout policy differs from the statement's: {d}")
    again = compute_statement(
        dn, model, period, int(entry["revenue_minor"]), str(entry["currency"]), int(entry["ledger_size"])
    )
    if (d := _first_difference("statement", statement, again)) is not None:
        raise StatementMismatch(d)
    return {"payout_index": index, "statement_hash": digest, "lines": len(statement["lines"])}


def make_receipt(dn: Datanet, statement: dict[str, Any], contributor: str) -> dict[str, Any]:
    """make_receipt bundles a contributor's line with proofs against the latest checkpoint.

    ``contributor`` is the contributor's own ID (or their pseudonym). The
    receipt names the pseudonym and carries the contributor's *opening*, with
    which ``verify_receipt`` checks offline that the pseudonym is theirs.
    """
    from pipelines.downstream.contributors import own_id, pseudonym_and_opening

    if is_pseudonym(contributor):
        cid = own_id(dn, contributor)
        pseud, opening = (contributor, None) if cid is None else pseudonym_and_opening(dn, cid)
    else:
        pseud, opening = pseudonym_and_opening(dn, contributor)
    contributor = pseud
    line = next((x for x in statement["lines"] if x["kind"] == "contributor" and x["payee"] == contributor), None)
    if line is None:
        raise StatementMismatch(f"{contributor} has no line in this statement")
    found = find_payout(dn, statement["model"], statement["period"])
    if found is None:
        raise StatementMismatch("the statement's payout entry is not on the ledger")
    with Ledger(dn.ledger_dir) as led:
        size = max(led.checkpoint_sizes())
        indexes = [found[0], *line["contribution_indexes"], *line["usage_indexes"], *line.get("copy_indexes", [])]
        proofs = {str(i): led.prove(i, size) for i in indexes}
        checkpoint = led.checkpoint(size)
    return {
        "format": RECEIPT_FORMAT,
        "contributor": contributor,
        "opening": opening,
        "statement": statement,
        "payout_index": found[0],
        "checkpoint": checkpoint,
        "vkey": (dn.ledger_dir / "vkey").read_text().strip(),
        "proofs": proofs,
    }


def _entry(receipt: dict[str, Any], index: int, verifier: Any, checkpoint: str) -> dict[str, Any]:
    text = receipt["proofs"].get(str(index))
    if text is None:
        raise StatementMismatch(f"the receipt has no proof for ledger entry {index}")
    proof = parse_inclusion_proof(text)
    if proof.index != index or proof.checkpoint != checkpoint or proof.extra is None:
        raise StatementMismatch(f"the proof for entry {index} is for another entry or checkpoint")
    verify_inclusion_proof_text(text, verifier, proof.extra)
    value: dict[str, Any] = json.loads(proof.extra)
    return value


def verify_receipt(receipt: dict[str, Any], vkey: str, contributor: str) -> dict[str, Any]:
    """verify_receipt checks a receipt offline for ``contributor``; raises StatementMismatch or ProofError.

    ``contributor`` is the contributor's own ID, which the receipt's opening
    must prove is the pseudonym it names (``ledger.pseudonym.proves``), or
    the pseudonym itself. Then: every proof verifies under ``vkey`` against the receipt's signed
    checkpoint; the proven payout entry holds the hash of the included
    statement; the contributor's line exists, and every entry it rests on is
    proven: contributions of records the line credits and usage of those
    records by the statement's model.
    """
    own = contributor
    if not is_pseudonym(contributor):
        if not proves(contributor, str(receipt.get("opening") or ""), str(receipt.get("contributor"))):
            raise StatementMismatch(f"this receipt's opening does not prove it is for {contributor}")
        contributor = str(receipt["contributor"])
    if receipt.get("format") != RECEIPT_FORMAT or receipt.get("contributor") != contributor:
        raise StatementMismatch(f"this is not a receipt for {own}")
    verifier = parse_verifier_key(vkey)
    statement, checkpoint = receipt["statement"], receipt["checkpoint"]
    payout = _entry(receipt, int(receipt["payout_index"]), verifier, checkpoint)
    digest = hashlib.sha256(canonical_json(statement)).hexdigest()
    if payout.get("kind") != "payout" or payout.get("statement_hash") != digest:
        raise StatementMismatch("the proven payout entry does not hold this statement's hash")
    if (payout.get("model"), payout.get("period")) != (statement["model"], statement["period"]):
        raise StatementMismatch("the proven payout entry is for another model or period")
    line = next((x for x in statement["lines"] if x["kind"] == "contributor" and x["payee"] == contributor), None)
    if line is None:
        raise StatementMismatch(f"{contributor} has no line in the statement")
    held = set()
    for i in line.get("copy_indexes", []):
        e = _entry(receipt, int(i), verifier, checkpoint)
        if e.get("kind") != "copy" or e.get("contributor_id") != contributor:
            raise StatementMismatch(f"entry {i} is not a copy entry of {contributor}")
        held.add(e["record_hash"])
    if held and statement["policy"]["duplicates"] != "split":
        raise StatementMismatch("the line credits copies, but the statement's policy does not split credit")
    records = set()
    for i in line["contribution_indexes"]:
        e = _entry(receipt, int(i), verifier, checkpoint)
        if e.get("kind") != "contribution":
            raise StatementMismatch(f"entry {i} is not a contribution")
        if e.get("contributor_id") != contributor and e["record_hash"] not in held:
            raise StatementMismatch(
                f"entry {i} was contributed by {e.get('contributor_id')}, no proven copy credits {contributor}"
            )
        records.add(e["record_hash"])
    cited = {int(i) for i in line["contribution_indexes"]}
    by_attribution = statement["policy"].get("basis") == "attribution"
    for i in line["usage_indexes"]:
        e = _entry(receipt, int(i), verifier, checkpoint)
        if by_attribution:
            weighs = {int(w[0]) for w in e.get("weights") or [] if int(w[1]) > 0}
            if e.get("kind") != "attribution" or e.get("model") != statement["model"] or not weighs & cited:
                raise StatementMismatch(
                    f"entry {i} is not an attribution by model {statement['model']} of a credited record"
                )
        elif e.get("kind") != "usage" or e.get("model") != statement["model"] or e.get("record_hash") not in records:
            raise StatementMismatch(f"entry {i} is not usage of a credited record by model {statement['model']}")
    return {
        "contributor": own,
        "pseudonym": contributor,
        "amount_minor": line["amount_minor"],
        "currency": statement["currency"],
        "records_used": line["records_used"],
        "entries_proven": 1
        + len(line["contribution_indexes"])
        + len(line["usage_indexes"])
        + len(line.get("copy_indexes", [])),
    }


__all__ = ["ProofError", "StatementMismatch", "make_receipt", "verify_receipt", "verify_statement"]
