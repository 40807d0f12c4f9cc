"""Attributing a model's output to Datanet records, and putting the attribution on the ledger.

``attribute_text`` queries the index and applies ``spans.attribute_spans``;
it writes nothing. ``record_attribution`` does that under the ledger's
writer lock and appends one ``attribution`` entry (canonical JSON like every
entry) before signing a checkpoint::

    {"kind": "attribution", "datanet": ..., "model": ..., "output_sha256": ...,
     "inference_id": ..., "fee_minor": ..., "currency": ...,      (only when given)
     "rule": "datanets-attribution/1 chars min_span=8 ...",
     "weights": [[ledger_index, bp], ...], "unattributed_bp": ..., "indexed_runs": ..., "v": 1}

The entry holds no output text: the output's SHA-256 lets whoever has the
output check it is the one attributed. Guarantees: weights are the
contribution entries' ledger indexes, sorted, and sum to 10,000 with
``unattributed_bp``; the same (model, output, inference id) twice appends
nothing and returns the first entry; nothing is appended while an ingest run
is unfinished, for an empty or blank output, or for a model id ``payout``
would refuse; the index is used only if every file matches the ledger's
``index`` entries (``committed.require_committed``), else
IndexMismatchError names the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ledger import entries
from ledger.log import Ledger
from ledger.storage import WRITER_WAIT
from pipelines.core.appender import LedgerWriter, writing
from pipelines.core.config import Datanet
from pipelines.core.errors import BadInput
from pipelines.downstream.attribution.committed import commit_missing, is_current, require_committed, update_index
from pipelines.downstream.attribution.index import (
    GRAM,
    IndexError_,
    LoadedIndex,
    index_dir,
    open_index,
    words,
)
from pipelines.downstream.attribution.spans import Rule, Span, attribute_spans
from pipelines.downstream.payout.ids import check_id, check_model
from pipelines.downstream.payout.money import check_currency, check_minor


class AttributionError(BadInput):
    """An attribution cannot be made (empty output, bad model id or fee, no index)."""


def output_sha256(text: str) -> str:
    """output_sha256 is the SHA-256 of the output's UTF-8 bytes, as the entry names it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_index(
    dn: Datanet, progress: Any = None, writer: LedgerWriter | None = None, wait: float = WRITER_WAIT
) -> Path:
    """ensure_index brings the index, on the ledger, up to every committed run (no-op when current); returns its folder.

    With ``writer``, a ledger the caller holds open, new ``index`` entries are
    appended to it for the caller to sign; without, the writer lock is taken
    only when a run is missing (waiting up to ``wait`` seconds) and a
    checkpoint is signed.
    """
    folder = index_dir(dn)
    if is_current(dn, folder):
        return folder
    if writer is not None:
        commit_missing(dn, writer, progress)
    else:
        update_index(dn, progress, wait)
    return folder


def attribute_text(dn: Datanet, text: str, rule: Rule | None = None, folder: Path | None = None) -> dict[str, Any]:
    """attribute_text finds the records ``text`` reproduces and their weights; nothing is written.

    Returns ``{"output_sha256", "chars", "words", "rule", "records": [...], "unattributed_bp"}``;
    each record has ``ledger_index``, ``record_hash``, ``bp``, ``words`` matched and ``spans``
    (``start``/``end`` character offsets into ``text``, and ``words``). Raises
    IndexMismatchError, naming the file, if the index differs from the ledger's ``index`` entries.
    """
    folder = folder or index_dir(dn)
    require_committed(dn, folder)
    try:
        idx = open_index(folder)
    except IndexError_ as exc:
        raise AttributionError(str(exc)) from None
    return attribute_with(idx, text, rule or Rule())


def attribute_with(idx: LoadedIndex, text: str, rule: Rule) -> dict[str, Any]:
    """attribute_with is ``attribute_text`` on an opened index (what a long-running service keeps)."""
    ws = words(text)
    spans = maximal_spans(idx, idx.token_ids([w for _, _, w in ws]), rule)
    records, unattributed = attribute_spans(text, ws, spans, rule)
    return {
        "output_sha256": output_sha256(text),
        "chars": len(text),
        "words": len(ws),
        "rule": rule.name,
        "indexed_runs": len(idx.manifest["runs"]),
        "records": [
            {
                "ledger_index": a.ledger_index,
                "record_hash": a.record_hash,
                "bp": a.bp,
                "words": a.words,
                "spans": a.spans,
            }
            for a in records
        ],
        "unattributed_bp": unattributed,
    }


def seeded_regions(hit: list[bool] | Any, gram: int) -> list[tuple[int, int]]:
    """seeded_regions turns per-position seed hits into ``[start, end)`` word ranges to query.

    A region runs from the first to the last of consecutive hit positions,
    plus the ``gram - 1`` words the last seed covers. Every span of ``gram``
    or more words starts at a hit position, and every position inside it up
    to its last ``gram`` words is a hit too, so no span crosses a region's
    end, and spans of separate regions never overlap.
    """
    out: list[tuple[int, int]] = []
    start = None
    for i, h in enumerate([*list(hit), False]):
        if h and start is None:
            start = i
        elif not h and start is not None:
            out.append((start, i - 1 + gram))
            start = None
    return out


def maximal_spans(idx: LoadedIndex, ids: list[int], rule: Rule, prefilter: bool = True) -> list[Span]:
    """maximal_spans asks infini-gram's ``attribute`` for the maximal spans of ``ids``, region by region.

    With ``prefilter`` only ``seeded_regions`` are queried (the engine starts
    threads per position and shard, so novel text costs nothing this way);
    without, the whole output is. Both give the same spans when ``rule.seed``
    is at least the index's ``GRAM`` (a test checks it).
    """
    if len(ids) < rule.seed:
        return []
    regions = seeded_regions(idx.seeded(ids), GRAM) if prefilter and rule.seed >= GRAM else [(0, len(ids))]
    spans: list[Span] = []
    for lo, hi in regions:
        found = idx.engine.attribute(
            input_ids=ids[lo:hi], delim_ids=[], min_len=rule.seed, max_cnt=rule.max_records, enforce_bow=False
        )
        if "error" in found:
            raise AttributionError(f"index query failed: {found['error']}")
        spans += [
            Span(lo + s["l"], lo + s["r"], frozenset(idx.doc(d["s"], d["ptr"]) for d in s["docs"]))
            for s in found["spans"]
        ]
    return spans


def attribution_entry(
    dn: Datanet,
    model: str,
    result: dict[str, Any],
    inference_id: str | None = None,
    fee_minor: int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """attribution_entry builds the ledger entry for one attributed output (``ledger.entries.attribution``)."""
    weights = [[r["ledger_index"], r["bp"]] for r in result["records"] if r["bp"] > 0]
    fee = (fee_minor, currency) if fee_minor is not None and currency is not None else None
    return entries.attribution(
        dn.name,
        model,
        result["output_sha256"],
        result["rule"],
        weights,
        result["unattributed_bp"],
        result["indexed_runs"],
        inference_id,
        fee,
    )


def _entry(led: Ledger, index: int) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(next(iter(led.entries(index, index + 1))))
    return value


def find_attribution(
    dn: Datanet, led: Ledger, model: str, sha: str, inference_id: str | None
) -> tuple[int, dict[str, Any]] | None:
    """find_attribution returns (ledger index, entry) of the attribution of (model, output, inference id), if any."""
    from pipelines.downstream.read import ledger_table

    t = ledger_table(dn, led.size)
    for row in t.filter(t["kind"].to_numpy(zero_copy_only=False) == "attribution").to_pylist():
        if (row["model"], row["output_sha256"], row["inference_id"]) == (model, sha, inference_id):
            return int(row["ledger_index"]), _entry(led, int(row["ledger_index"]))
    return None


def record_attribution(
    dn: Datanet,
    model: str,
    text: str,
    inference_id: str | None = None,
    fee_minor: int | None = None,
    currency: str | None = None,
    rule: Rule | None = None,
    progress: Any = None,
    wait: float = WRITER_WAIT,
) -> dict[str, Any]:
    """record_attribution attributes ``text`` and appends its ``attribution`` entry, once; returns the result.

    The result is ``attribute_text``'s, with each record's ``contributor_id``,
    ``ledger``: ``{"index", "appended", "ledger_size", "checkpoint"}`` and
    ``warnings`` (one line each: a model no payout policy pays by
    attribution). Refuses (AttributionError) an empty or blank ``text``.
    Waits up to ``wait`` seconds for the ledger's writer lock.
    """
    check_output(text)
    check_model(model)
    if inference_id is not None:
        check_id("inference id", inference_id)
    if (fee_minor is None) != (currency is None):
        raise AttributionError("a fee needs a currency, and a currency a fee")
    if fee_minor is not None and currency is not None:
        check_minor(fee_minor)
        check_currency(currency)
    with writing(dn, wait, progress) as w:
        led = w.ledger
        sha = output_sha256(text)
        existing = find_attribution(dn, led, model, sha, inference_id)
        ensure_index(dn, progress, w)
        result = attribute_text(dn, text, rule)
        _refuse_withdrawn(led, result)
        if existing is not None:
            index, entry = existing
            note, appended = w.sign(), False
        else:
            entry = attribution_entry(dn, model, result, inference_id, fee_minor, currency)
            note, appended = w.append_signed([entry]), True
            index = led.size - 1
        size = led.size
        for r in result["records"]:
            r["contributor_id"] = _entry(led, r["ledger_index"])["contributor_id"]
    result["entry"] = entry
    result["ledger"] = {"index": index, "appended": appended, "ledger_size": size, "checkpoint": note}
    result["warnings"] = unpaid_warnings(dn, model)
    return result


def _refuse_withdrawn(led: Ledger, result: dict[str, Any]) -> None:
    """Never credit a withdrawn record: the index is rebuilt from served shards, so this only fires on a stale one."""
    from pipelines.core.withdrawal.ledgered import withdrawn

    gone = withdrawn(led).indexes & {int(r["ledger_index"]) for r in result["records"]}
    if gone:
        raise AttributionError(
            f"the attribution index credits withdrawn ledger entry {min(gone)}; nothing was recorded: "
            "delete the index folder and run `datanet index` to rebuild it from what is served"
        )


def check_output(text: str) -> str:
    """check_output refuses (AttributionError) an output that is empty or only whitespace: it would credit nobody."""
    if not text.strip():
        raise AttributionError("the output is empty (or only whitespace): nothing to attribute, no ledger entry made")
    return text


def unpaid_warnings(dn: Datanet, model: str) -> list[str]:
    """unpaid_warnings says, in one line, when no payout of ``model`` would ever count its attribution entries."""
    if dn.config.payout.for_model(model).basis == "attribution":
        return []
    return [
        f"model {model} is not paid by attribution in {dn.name} (payout.basis is {dn.config.payout.basis} and "
        "payout.attribution_models does not list it): its attribution entries will never be paid"
    ]
