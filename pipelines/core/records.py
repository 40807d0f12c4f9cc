"""Plain-data records and rejections that flow through every stage.

A record is a dict::

    {"id": "3/17",                         # unique in a run: input unit, line (row, file)
     "order": [submitted_at or "~", source, unit, line],  # earliest first
     "split": 5,                           # the input split it was read from
     "file": "examples/.../a.jsonl", "line": 17,
     "contributor_id": "c-042", "submitted_at": "2026-01-02T03:04:05Z" | None,
     "fields": {...schema fields...}}

Later stages add keys (``content_key``, ``minhash``, ``pii``). A rejection is
a dict with ``file``, ``line``, ``reason`` (machine-readable), ``detail``
(human-readable, never PII), ``payload`` (the raw bytes) and ``stage``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

from ledger.entries import canonical_json
from pipelines.core.config import NormaliseConfig

Record = dict[str, Any]
Rejection = dict[str, Any]

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
LAST = "~"  # sorts after every ISO-8601 timestamp: records without submitted_at come last


def rejection(
    file: str,
    line: int,
    reason: str,
    detail: str,
    payload: bytes,
    stage: str,
    split: int = -1,
    contributor: str | None = None,
) -> Rejection:
    """rejection builds a quarantine row; ``detail`` must not contain record content.

    ``reason`` and ``stage`` are members of ``pipelines.core.reasons`` (stored as
    plain strings); ``split`` is the input split it came from; ``contributor``
    the contributor ID the line named, where it could be read (the split
    writer stores its pseudonym, for per-contributor counts).
    """
    return {
        "contributor_id": contributor,
        "file": file,
        "line": line,
        "reason": str(reason),
        "detail": detail,
        "payload": payload,
        "stage": str(stage),
        "split": split,
    }


def record_hash(fields: dict[str, Any]) -> str:
    """record_hash is the lower-case hex SHA-256 of the RFC 8785 JSON of the stored schema fields."""
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def normalise(text: str, cfg: NormaliseConfig) -> str:
    """normalise applies the configured Unicode, case, punctuation and whitespace folding."""
    if cfg.unicode_nfkc:
        text = unicodedata.normalize("NFKC", text)
    if cfg.lowercase:
        text = text.lower()
    if cfg.strip_punctuation:
        text = _PUNCT.sub(" ", text)
    if cfg.collapse_whitespace:
        text = _WS.sub(" ", text).strip()
    return text


def dedup_text(record: Record, text_fields: list[str], cfg: NormaliseConfig) -> str:
    """dedup_text joins a record's normalised text fields (the content compared for duplicates)."""
    return "\n".join(normalise(str(record["fields"].get(f) or ""), cfg) for f in text_fields)


def content_key(text: str, salt: bytes) -> str:
    """content_key is the hex HMAC-SHA-256 of normalised dedup text under the Datanet's salt (the exact-duplicate key).

    Keyed, because it is computed from raw text before the PII stage and is
    stored in ``state/`` and ``duplicates/``: an unkeyed digest would let
    anyone who reads them confirm a guessed text (a name, an e-mail
    address) offline. Without the salt it says nothing.
    """
    return hmac.new(salt, text.encode("utf-8"), hashlib.sha256).hexdigest()


def order_key(record: Record) -> tuple[str, int, int, int]:
    """order_key sorts records earliest first: submitted_at, then source, file and line order."""
    o = record["order"]
    return (str(o[0]), int(o[1]), int(o[2]), int(o[3]))
