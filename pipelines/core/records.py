"""Plain-data records and rejections that flow through every stage, typed stage by stage.

A record is a plain dict (it pickles to any Beam worker as is) that gains
keys as it moves; each ``TypedDict`` below names the step that adds its keys:

* ``ReadRecord``, step 2 (``stages.read.build_record``): ``id`` (unique in a
  run: input unit, line), ``order`` (``[submitted_at or "~", source, unit,
  line]``, earliest first), ``split``, ``file``, ``line``,
  ``contributor_id``, ``submitted_at`` and the schema ``fields``;
* ``SketchedRecord``, step 3 (``stages.dedup.transforms.sketch_batch``):
  ``key`` (dedup priority), ``content_key`` (keyed hash of the dedup text),
  ``minhash`` and ``shingles`` (bytes);
* ``ScrubbedRecord``, step 4 (``stages.anonymise.anonymise_batch``): the
  text ``fields`` scrubbed, ``pii`` counts per entity;
* ``HashedRecord``, step 6 (``stages.dedup.transforms``, before the
  decision): ``record_hash``, the ledger key of the published fields.

Step 7 (``stages.write``) turns a kept record into a shard row, replacing
``contributor_id`` by its pseudonym. A rejection is a dict with ``file``,
``line``, ``reason`` (machine-readable), ``detail`` (human-readable, never
PII), ``payload`` (the raw bytes) and ``stage``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, TypedDict

from ledger.entries import canonical_json
from pipelines.core.config import NormaliseConfig

Record = dict[str, Any]  # a record at any step, where a function does not care which
Rejection = dict[str, Any]


class ReadRecord(TypedDict):
    """ReadRecord: what step 2 (read) makes of one input line, row or file."""

    id: str
    order: list[Any]
    split: int
    file: str
    line: int
    contributor_id: str
    submitted_at: str | None
    fields: dict[str, Any]


class SketchedRecord(ReadRecord):
    """SketchedRecord: step 3 (sketch) adds the dedup priority key, keyed content hash and MinHash sketch."""

    key: tuple[Any, ...]
    content_key: str
    minhash: bytes
    shingles: bytes


class ScrubbedRecord(SketchedRecord):
    """ScrubbedRecord: step 4 (anonymise) scrubbed the text fields and counted what it removed per entity."""

    pii: dict[str, int]


class HashedRecord(ScrubbedRecord):
    """HashedRecord: step 6 (dedup) adds ``record_hash``, the SHA-256 of the canonical published fields."""

    record_hash: str


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
    return hash_of_canonical(canonical_json(fields))


def hash_of_canonical(body: bytes) -> str:
    """hash_of_canonical is ``record_hash`` of fields whose RFC 8785 JSON (``canonical_json``) is ``body``."""
    return hashlib.sha256(body).hexdigest()


def normalise(text: str, cfg: NormaliseConfig) -> str:
    """normalise applies the configured Unicode, case, punctuation and whitespace folding."""
    if cfg.unicode_nfkc:
        text = unicodedata.normalize("NFKC", text)
    if cfg.lowercase:
        text = text.lower()
    if cfg.strip_punctuation:
        text = _PUNCT.sub(" ", text)
    if cfg.collapse_whitespace:
        text = " ".join(text.split())  # what re's \s+ -> " " then strip() gives, 3x faster: both use str.isspace
    return text


def dedup_text(record: Mapping[str, Any], text_fields: list[str], cfg: NormaliseConfig) -> str:
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
