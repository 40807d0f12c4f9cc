"""Ledger entries: RFC 8785 canonical JSON objects, one per Merkle leaf.

An entry is a JSON object with a ``kind`` and the fields that kind requires.
Its leaf bytes are the RFC 8785 (JSON Canonicalization Scheme) encoding:
keys sorted, no insignificant whitespace, UTF-8. Entries hold only strings,
integers (within +/-(2**53 - 1)), booleans, null, lists and objects, and never
wall-clock time, so the same inputs give byte-identical entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

ENTRY_VERSION = 1
MAX_SAFE_INT = 2**53 - 1
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "contribution": ("datanet", "record_hash", "contributor_id", "shard", "row", "run"),
    "usage": ("datanet", "record_hash", "model", "training_run"),
    "payout": ("datanet", "model", "period", "statement_hash"),
    "copy": ("datanet", "record_hash", "contributor_id", "run", "duplicate"),
    "run": ("datanet", "run", "seq", "first", "contributions", "copies", "files"),
    "attribution": ("datanet", "model", "output_sha256", "rule", "weights", "unattributed_bp"),
    "index": ("datanet", "run", "shard", "files", "docs", "tokens", "vocab_size", "vocab_sha256"),
    "withdrawal": ("datanet", "pseudonym", "contributions", "copies", "quarantined", "reason", "opening"),
    "republish": ("datanet", "withdrawal", "files"),
}
HASH_FIELDS = ("record_hash", "statement_hash", "output_sha256", "vocab_sha256")
# The columns tabular readers (``datanet sql``'s ``ledger`` view) give every entry, in this order, with their
# types: "str", "int" or "pairs" (a list of [int, int]); a kind without a field leaves it null.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "str"),
    ("datanet", "str"),
    ("record_hash", "str"),
    ("contributor_id", "str"),
    ("shard", "str"),
    ("row", "int"),
    ("run", "str"),
    ("model", "str"),
    ("training_run", "str"),
    ("period", "str"),
    ("statement_hash", "str"),
    ("revenue_minor", "int"),
    ("currency", "str"),
    ("ledger_size", "int"),
    ("output_sha256", "str"),
    ("inference_id", "str"),
    ("fee_minor", "int"),
    ("weights", "pairs"),
    ("unattributed_bp", "int"),
    ("pseudonym", "str"),
    ("reason", "str"),
    ("withdrawal", "int"),
)
# One encoder, built once: json.dumps with these options builds a new JSONEncoder per call, which was
# more than half of its cost for an entry-sized dict. Stateless between calls (safe across threads).
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
# How ``_CANONICAL`` writes a string (ensure_ascii=False): the C escaper when present, as JSONEncoder picks it.
_STRING = json.encoder.encode_basestring
# Why a contributor's records were withdrawn: the only reason a ``withdrawal`` entry may state (never free text).
WITHDRAWAL_REASONS = ("consent_withdrawn", "erasure_request", "court_order", "curator_decision", "other")


class EntryError(ValueError):
    """An entry is not a valid ledger entry (wrong kind, field or value)."""


def _check_value(value: Any, where: str) -> None:
    """Raise EntryError, naming where, unless ``value`` is in canonical JSON's subset (strings must encode as UTF-8)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        if isinstance(value, str):
            value.encode("utf-8")  # rejects lone surrogates
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise EntryError(f"{where}: integer {value} is outside the I-JSON safe range")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryError(f"{where}: object key {key!r} is not a string")
            _check_value(item, f"{where}.{key}")
        return
    raise EntryError(f"{where}: {type(value).__name__} is not allowed in an entry (no floats)")


def _check_types(value: Any, where: str) -> None:
    """``_check_value`` without the UTF-8 check, fast for flat dicts of plain scalars (``canonical_json``'s case).

    A value of any other shape or type goes to ``_check_value``; the path in
    an error message is built only then.
    """
    if type(value) is dict:
        for key, item in value.items():
            t = type(item)
            if type(key) is str and (
                t is str or t is bool or item is None or (t is int and -MAX_SAFE_INT <= item <= MAX_SAFE_INT)
            ):
                continue
            if not isinstance(key, str):
                raise EntryError(f"{where}: object key {key!r} is not a string")
            _check_value(item, f"{where}.{key}")
        return
    _check_value(value, where)


def canonical_json(value: Any) -> bytes:
    """canonical_json returns the RFC 8785 encoding of ``value``.

    Supports the JSON subset entries and records use: strings, safe-range
    integers, booleans, null, arrays and objects with ASCII-sortable keys
    (Python's code-point order equals RFC 8785's UTF-16 order for every key
    below U+D800, which covers every key we emit). Floats are rejected.
    Raises EntryError for anything else.
    """
    _check_types(value, "$")
    try:
        return _CANONICAL.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        _check_value(value, "$")  # names the string with a lone surrogate
        raise


def _contribution_bytes(entry: Mapping[str, Any]) -> bytes | None:
    """The canonical bytes of a plain contribution entry, laid out by template; None for any other entry.

    A commit encodes one contribution per accepted record, and the general
    path (copy, check, sort keys, encode) was half of its time. Only a dict
    with exactly the contribution's keys (``v`` optional), plain ``str``
    values, a safe ``int`` row and version, and a lower-case hex record hash
    takes this path; each string is escaped by the same encoder
    ``canonical_json`` uses, so the bytes are the same
    (``tests/ledger/test_entries.py`` compares both on arbitrary strings).
    Anything else, invalid entries included, returns None: the general path
    decides and names the error.
    """
    if type(entry) is not dict or len(entry) - ("v" in entry) != 7:
        return None
    try:  # the keys in canonical (sorted) order, written out: a generator over them cost 1.3 µs of 4.6
        cid, datanet, kind, record_hash = entry["contributor_id"], entry["datanet"], entry["kind"], entry["record_hash"]
        row, run, shard = entry["row"], entry["run"], entry["shard"]
    except KeyError:
        return None
    v = entry.get("v", ENTRY_VERSION)
    if (
        kind != "contribution"
        or not (type(cid) is str and type(datanet) is str and type(run) is str and type(shard) is str)
        or not (type(row) is int and type(v) is int and -MAX_SAFE_INT <= row <= MAX_SAFE_INT)
        or not (-MAX_SAFE_INT <= v <= MAX_SAFE_INT and type(record_hash) is str and HEX64.match(record_hash))
    ):
        return None
    text = (
        f'{{"contributor_id":{_STRING(cid)},"datanet":{_STRING(datanet)},"kind":"contribution",'
        f'"record_hash":"{record_hash}","row":{row},"run":{_STRING(run)},"shard":{_STRING(shard)},"v":{v}}}'
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the general path names it
        return None


def encode_entry(entry: Mapping[str, Any]) -> bytes:
    """encode_entry validates an entry and returns its canonical leaf bytes."""
    fast = _contribution_bytes(entry)
    return fast if fast is not None else _encode_checked(entry)


def _encode_checked(entry: Mapping[str, Any]) -> bytes:
    """encode_entry's general path: every check, then canonical JSON; EntryError names what is wrong."""
    kind = entry.get("kind")
    if kind not in REQUIRED_FIELDS:
        raise EntryError(f"entry kind {kind!r} is not one of {sorted(REQUIRED_FIELDS)}")
    missing = [f for f in REQUIRED_FIELDS[kind] if f not in entry]
    if missing:
        raise EntryError(f"{kind} entry is missing {', '.join(missing)}")
    for field in HASH_FIELDS:
        if field in entry and not HEX64.match(str(entry[field])):
            raise EntryError(f"{kind} entry field {field} must be 64 lower-case hex digits")
    body = dict(entry)
    body.setdefault("v", ENTRY_VERSION)
    return canonical_json(body)


def decode_entry(data: bytes) -> dict[str, Any]:
    """decode_entry parses leaf bytes, checking they are a canonical, valid entry; raises EntryError."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EntryError(f"entry is not UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict) or canonical_json(value) != data:
        raise EntryError("entry bytes are not canonical JSON of an object")
    if encode_entry(value) != data:
        raise EntryError("entry has no version field")
    return value


def contribution(datanet: str, record_hash: str, contributor_id: str, shard: str, row: int, run: str) -> dict[str, Any]:
    """contribution builds a ``contribution`` entry: who contributed which stored record, and where."""
    return {
        "kind": "contribution",
        "datanet": datanet,
        "record_hash": record_hash,
        "contributor_id": contributor_id,
        "shard": shard,
        "row": row,
        "run": run,
        "v": ENTRY_VERSION,
    }


def copy(datanet: str, record_hash: str, contributor_id: str, run_id: str, duplicate: str) -> dict[str, Any]:
    """copy builds a ``copy`` entry: ``contributor_id`` also contributed the content of stored ``record_hash``.

    One per dropped duplicate (``duplicate`` is its kind: exact, near...), so
    payouts that split credit among copy holders rest on the ledger too.
    """
    return {
        "kind": "copy",
        "datanet": datanet,
        "record_hash": record_hash,
        "contributor_id": contributor_id,
        "run": run_id,
        "duplicate": duplicate,
        "v": ENTRY_VERSION,
    }


def usage(datanet: str, record_hash: str, model: str, training_run: str) -> dict[str, Any]:
    """usage builds a ``usage`` entry: ``model``'s ``training_run`` used stored record ``record_hash``."""
    return {
        "kind": "usage",
        "datanet": datanet,
        "record_hash": record_hash,
        "model": model,
        "training_run": training_run,
        "v": ENTRY_VERSION,
    }


def payout(
    datanet: str, model: str, period: str, statement_hash: str, revenue_minor: int, currency: str, ledger_size: int
) -> dict[str, Any]:
    """payout builds a ``payout`` entry: ``model``'s revenue for ``period`` was split by the statement hashed here.

    ``ledger_size`` is the ledger size the statement was computed at, so it
    can be recomputed from the ledger's first ``ledger_size`` entries.
    """
    return {
        "kind": "payout",
        "datanet": datanet,
        "model": model,
        "period": period,
        "statement_hash": statement_hash,
        "revenue_minor": revenue_minor,
        "currency": currency,
        "ledger_size": ledger_size,
        "v": ENTRY_VERSION,
    }


def attribution(
    datanet: str,
    model: str,
    output_sha256: str,
    rule: str,
    weights: list[list[int]],
    unattributed_bp: int,
    indexed_runs: int,
    inference_id: str | None = None,
    fee: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """attribution builds an ``attribution`` entry: which records (``[[ledger_index, bp], ...]``) an output reuses.

    ``inference_id`` and ``fee`` (minor units, currency) appear only when given.
    """
    entry: dict[str, Any] = {
        "kind": "attribution",
        "datanet": datanet,
        "model": model,
        "output_sha256": output_sha256,
        "rule": rule,
        "weights": weights,
        "unattributed_bp": unattributed_bp,
        "indexed_runs": indexed_runs,
        "v": ENTRY_VERSION,
    }
    if inference_id is not None:
        entry["inference_id"] = inference_id
    if fee is not None:
        entry.update(fee_minor=fee[0], currency=fee[1])
    return entry


def run(
    datanet: str, run_id: str, seq: int, first: int, contributions: int, copies: int, files: list[list[Any]]
) -> dict[str, Any]:
    """run builds a ``run`` entry: the manifest of one published ingest run, after its other entries.

    ``first`` and ``contributions`` name the run's contribution entries
    (``first .. first + contributions - 1``), followed by its ``copies`` copy
    entries and then this entry; ``files`` lists every published
    shard, duplicates and quarantine file as ``[path, sha256, rows]``, sorted
    by path, so a signed checkpoint commits to the exact bytes of each file.
    """
    return {
        "kind": "run",
        "datanet": datanet,
        "run": run_id,
        "seq": seq,
        "first": first,
        "contributions": contributions,
        "copies": copies,
        "files": files,
        "v": ENTRY_VERSION,
    }


def index_shard(
    datanet: str,
    run_id: str,
    shard: str,
    files: list[list[str]],
    docs: int,
    tokens: int,
    vocab_size: int,
    vocab_sha256: str,
) -> dict[str, Any]:
    """index_shard builds an ``index`` entry: the attribution index's shard of one ingest run, file by file.

    ``files`` is ``[[name, sha256], ...]`` of every file in index shard
    ``shard``, sorted by name (empty when the run indexed no record);
    ``vocab_sha256`` is the SHA-256 of the vocabulary's first ``vocab_size``
    words joined by newlines once this run is indexed. A signed checkpoint so
    commits to every byte attribution answers from.
    """
    return parse_index_shard(
        {
            "kind": "index",
            "datanet": datanet,
            "run": run_id,
            "shard": shard,
            "files": files,
            "docs": docs,
            "tokens": tokens,
            "vocab_size": vocab_size,
            "vocab_sha256": vocab_sha256,
            "v": ENTRY_VERSION,
        }
    )


def parse_index_shard(entry: Mapping[str, Any]) -> dict[str, Any]:
    """parse_index_shard checks an ``index`` entry's shape and returns it as a dict; raises EntryError."""
    if entry.get("kind") != "index":
        raise EntryError(f"not an index entry (kind {entry.get('kind')!r})")
    files = entry.get("files")
    ok = isinstance(files, list) and all(
        isinstance(f, list) and len(f) == 2 and isinstance(f[0], str) and HEX64.match(str(f[1])) for f in files
    )
    if not ok or [f[0] for f in files] != sorted({f[0] for f in files}):  # type: ignore[union-attr]
        raise EntryError("index entry field files must be [[name, sha256], ...] sorted by distinct name")
    for field in ("docs", "tokens", "vocab_size"):
        if isinstance(entry.get(field), bool) or not isinstance(entry.get(field), int) or entry[field] < 0:
            raise EntryError(f"index entry field {field} must be a whole number")
    encode_entry(entry)
    return dict(entry)


def withdrawal(
    datanet: str,
    pseudonym: str,
    contributions: list[int],
    copies: list[int],
    quarantined: int,
    reason: str,
    weights: list[list[int]] | None = None,
) -> dict[str, Any]:
    """withdrawal builds a ``withdrawal`` entry: ``pseudonym``'s records stop being served, paid for and attributed.

    ``contributions`` and ``copies`` are the ledger indexes (ascending) of the
    contributor's ``contribution`` and ``copy`` entries this withdrawal
    covers; ``quarantined`` counts their quarantine rows removed (those have
    no entry of their own). ``reason`` is one of ``WITHDRAWAL_REASONS``; no
    contributor ID and no text is ever recorded. ``opening`` is always
    ``"destroyed"``: the curator states that the map from this pseudonym to a
    person was deleted. The entries it names stay on the ledger (it cannot
    forget); they are no longer served. ``weights`` (``[[ledger index,
    weight], ...]``, only for a Datanet paid by ``basis: weighted``) keeps
    each withdrawn record's payout weight, so statements computed before the
    withdrawal still recompute once the rows are no longer served.
    """
    if reason not in WITHDRAWAL_REASONS:
        raise EntryError(f"withdrawal reason {reason!r} is not one of {', '.join(WITHDRAWAL_REASONS)}")
    for name, indexes in (("contributions", contributions), ("copies", copies)):
        if list(indexes) != sorted(set(indexes)) or any(isinstance(i, bool) or not isinstance(i, int) for i in indexes):
            raise EntryError(f"withdrawal entry field {name} must be distinct ledger indexes in ascending order")
    return {
        "kind": "withdrawal",
        "datanet": datanet,
        "pseudonym": pseudonym,
        "contributions": list(contributions),
        "copies": list(copies),
        "quarantined": quarantined,
        "reason": reason,
        "opening": "destroyed",
        **({"weights": sorted([int(i), int(w)] for i, w in weights)} if weights is not None else {}),
        "v": ENTRY_VERSION,
    }


def republish(datanet: str, withdrawal_index: int, files: list[list[Any]]) -> dict[str, Any]:
    """republish builds a ``republish`` entry: the files a withdrawal replaced, and the new files' bytes.

    ``withdrawal_index`` is the ledger index of the ``withdrawal`` entry;
    ``files`` lists ``[old path, new path, sha256, rows]`` sorted by old path:
    every shard, duplicates and quarantine file that held a withdrawn
    record, and the file that replaces it (the same rows, minus the
    withdrawn ones, in the same order). A signed checkpoint so commits to
    every byte served after the withdrawal, as a ``run`` entry does for a run.
    """
    return {"kind": "republish", "datanet": datanet, "withdrawal": withdrawal_index, "files": files, "v": ENTRY_VERSION}


def index_key(entry: Mapping[str, Any]) -> str | None:
    """index_key returns the unique lookup key of an entry (its record hash) or None.

    Only ``contribution`` entries are indexed: a record hash is contributed
    once per ledger, so it names exactly one leaf.
    """
    if entry.get("kind") == "contribution" and "record_hash" in entry:
        return str(entry["record_hash"])
    return None
