"""Stage 1, ingest: read contribution files into records, or quarantine what cannot be read.

Pure functions parse bytes into records and rejections; ``ReadContributions``
is the Beam wrapper. Guarantees: every non-blank line (JSONL), row (CSV,
Parquet) or text file (textdir) yields exactly one record or one rejection
naming its file and line; a file that cannot be opened yields one rejection
at line 0. Nothing raises on bad input.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam

from pipelines.config import Datanet, SchemaConfig, ValidationConfig
from pipelines.records import LAST, Record, rejection

BOM = b"\xef\xbb\xbf"
STAGE = "ingest"
Item = tuple[str, Any]  # ("record", Record) | ("rejection", Rejection) | ("blank", 1)


@dataclass(frozen=True)
class FileSpec:
    """One unit of input: a file (or a textdir source) with its place in source order."""

    source: int
    file_no: int
    path: str
    rel: str
    format: str
    manifest: str | None = None
    manifest_rel: str | None = None


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise _Reject("duplicate_key", f"key {k!r} appears twice")
        obj[k] = v
    return obj


def _submitted_at(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Reject("invalid_submitted_at", "submitted_at must be an ISO-8601 string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Reject("invalid_submitted_at", "submitted_at is not ISO-8601") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _coerce(name: str, ftype: str, value: Any, from_text: bool) -> Any:
    if from_text and isinstance(value, str):
        if ftype == "integer":
            try:
                return int(value.strip())
            except ValueError:
                raise _Reject("wrong_type", f"field {name} must be an integer") from None
        if ftype == "boolean":
            if value.strip().lower() not in ("true", "false"):
                raise _Reject("wrong_type", f"field {name} must be true or false")
            return value.strip().lower() == "true"
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[ftype]
    if not ok:
        raise _Reject("wrong_type", f"field {name} must be a {ftype}, got {type(value).__name__}")
    return value


def build_record(
    obj: dict[str, Any],
    schema: SchemaConfig,
    vcfg: ValidationConfig,
    spec: FileSpec,
    line: int,
    from_text: bool = False,
) -> Record:
    """build_record checks one parsed object against the schema; raises _Reject with a reason."""
    cid = obj.get("contributor_id")
    if cid is None:
        raise _Reject("missing_contributor_id", "contributor_id is missing")
    if not isinstance(cid, str):
        raise _Reject("wrong_type", "contributor_id must be a string")
    if not cid.strip():
        raise _Reject("empty_contributor_id", "contributor_id is empty")
    known = {f.name for f in schema.fields} | {"contributor_id", "submitted_at"}
    unknown = sorted(set(obj) - known)
    if unknown and vcfg.unknown_fields == "quarantine":
        raise _Reject("unknown_field", f"unknown field(s): {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for f in schema.fields:
        value = obj.get(f.name)
        if value is None or (from_text and value == "" and f.type != "string"):
            if f.required:
                raise _Reject("missing_field", f"required field {f.name} is missing")
            continue
        fields[f.name] = _coerce(f.name, f.type, value, from_text)
    if not any(str(fields.get(t) or "").strip() for t in schema.text_fields):
        raise _Reject("empty_record", "every text field is empty")
    submitted = _submitted_at(obj.get("submitted_at"))
    return {
        "id": f"{spec.source}/{spec.file_no}/{line}",
        "order": [submitted or LAST, spec.source, spec.file_no, line],
        "file": spec.rel,
        "line": line,
        "contributor_id": cid.strip(),
        "submitted_at": submitted,
        "fields": fields,
    }


def _item(
    obj_fn: Any,
    raw: bytes,
    schema: SchemaConfig,
    vcfg: ValidationConfig,
    spec: FileSpec,
    line: int,
    from_text: bool = False,
) -> Item:
    try:
        if len(raw) > vcfg.max_record_bytes:
            raise _Reject("record_too_large", f"{len(raw)} bytes is over max_record_bytes {vcfg.max_record_bytes}")
        return "record", build_record(obj_fn(), schema, vcfg, spec, line, from_text)
    except _Reject as r:
        return "rejection", rejection(spec.rel, line, r.reason, r.detail, raw, STAGE)


def _json_object(raw: bytes) -> Any:
    def parse() -> dict[str, Any]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Reject("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
        try:
            obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise _Reject("malformed_json", f"{exc.msg} at column {exc.colno}") from None
        if not isinstance(obj, dict):
            raise _Reject("not_an_object", "a line must hold one JSON object")
        return obj

    return parse


def parse_jsonl(data: bytes, spec: FileSpec, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_jsonl yields one item per line of a JSON Lines file (BOM and CRLF tolerated)."""
    data = data.removeprefix(BOM)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            yield "blank", 1
            continue
        yield _item(_json_object(raw), raw, schema, vcfg, spec, n)


def parse_csv(data: bytes, spec: FileSpec, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_csv yields one item per data row of a CSV file with a header row."""
    text = data.removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    physical = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    prev = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw = "".join(physical[prev : reader.line_num]).encode("utf-8", "surrogateescape")
            yield "rejection", rejection(spec.rel, prev + 1, "malformed_csv", str(exc), raw, STAGE)
            prev = reader.line_num
            continue
        start, prev = prev + 1, reader.line_num
        raw = "".join(physical[start - 1 : prev]).encode("utf-8", "surrogateescape")
        if not any(cell.strip() for cell in row):
            yield "blank", 1
            continue
        yield _item(_csv_object(header, row), raw, schema, vcfg, spec, start, from_text=True)


def _csv_object(header: list[str], row: list[str]) -> Any:
    def parse() -> dict[str, Any]:
        if len(row) != len(header):
            raise _Reject("malformed_csv", f"{len(row)} cells for {len(header)} columns")
        if any("\udc80" <= c <= "\udcff" for cell in row for c in cell):
            raise _Reject("invalid_utf8", "row contains invalid UTF-8")
        return {h: (v if v != "" else None) for h, v in zip(header, row, strict=True)}

    return parse


def parse_parquet(data: bytes, spec: FileSpec, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_parquet yields one item per row (line = 1-based row number)."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    for n, row in enumerate(table.to_pylist(), start=1):
        raw = json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
        yield _item(lambda row=row: row, raw, schema, vcfg, spec, n)


def parse_textdir(spec: FileSpec, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_textdir yields one item per text file, with contributor and fields from the manifest.

    The manifest is a CSV with a ``file`` column (path relative to the
    folder), ``contributor_id``, optional ``submitted_at`` and schema fields.
    Text files missing from the manifest, and manifest rows naming missing
    files, are rejected; the text goes into the schema's first text field.
    """
    folder, manifest = Path(spec.path), Path(str(spec.manifest))
    rows: dict[str, tuple[int, dict[str, Any], bytes]] = {}
    mspec = FileSpec(spec.source, spec.file_no, str(manifest), str(spec.manifest_rel), "csv")
    text = manifest.read_bytes().removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    physical = text.splitlines(keepends=True)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        raw = (
            physical[reader.line_num - 1].encode("utf-8", "surrogateescape")
            if reader.line_num <= len(physical)
            else b""
        )
        name = (row.get("file") or "").strip()
        rows[name] = (reader.line_num, {k: v for k, v in row.items() if k != "file"}, raw)
    files = sorted(p for p in folder.rglob("*.txt"))
    text_field = schema.text_fields[0]
    for n, path in enumerate(files):
        rel = path.relative_to(folder).as_posix()
        fspec = FileSpec(spec.source, spec.file_no * 1_000_000 + n, str(path), f"{spec.rel}/{rel}", "text")
        body = path.read_bytes()
        if rel not in rows:
            yield (
                "rejection",
                rejection(fspec.rel, 1, "not_in_manifest", f"{rel} has no row in {spec.manifest}", body, STAGE),
            )
            continue
        _, meta, _ = rows.pop(rel)

        def obj(body: bytes = body, meta: dict[str, Any] = meta) -> dict[str, Any]:
            try:
                content = body.removeprefix(BOM).decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError as exc:
                raise _Reject("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
            return {**{k: (v if v != "" else None) for k, v in meta.items()}, text_field: content}

        yield _item(obj, body, schema, vcfg, fspec, 1, from_text=True)
    for name, (line, _, raw) in sorted(rows.items(), key=lambda kv: kv[1][0]):
        yield (
            "rejection",
            rejection(mspec.rel, line, "missing_file", f"manifest names {name!r}, which does not exist", raw, STAGE),
        )


def read_items(spec: FileSpec, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """read_items parses one FileSpec; an unreadable file becomes one rejection at line 0."""
    try:
        if spec.format == "textdir":
            yield from parse_textdir(spec, schema, vcfg)
            return
        data = Path(spec.path).read_bytes()
        parser = {"jsonl": parse_jsonl, "csv": parse_csv, "parquet": parse_parquet}[spec.format]
        yield from parser(data, spec, schema, vcfg)
    except OSError as exc:
        yield "rejection", rejection(spec.rel, 0, "unreadable_file", f"cannot read file: {exc.strerror}", b"", STAGE)
    except Exception as exc:
        yield (
            "rejection",
            rejection(spec.rel, 0, "unreadable_file", f"cannot parse file: {type(exc).__name__}", b"", STAGE),
        )


def batched(items: Iterable[Item], size: int, unit: str) -> Iterator[tuple[str, list[Any]]]:
    """batched groups items into ("records" | "quarantine", list) batches, then one ("tally", [counts]).

    The tally counts every record and rejection produced for ``unit`` (and
    skipped blank lines) independently of later stages, for the run's
    accounting check.
    """
    buckets: dict[str, list[Any]] = {"record": [], "rejection": []}
    n_items = n_blank = 0
    for kind, value in items:
        if kind == "blank":
            n_blank += 1
            continue
        n_items += 1
        buckets[kind].append(value)
        if len(buckets[kind]) >= size:
            yield ("records" if kind == "record" else "quarantine"), buckets[kind]
            buckets[kind] = []
    for kind, tag in (("record", "records"), ("rejection", "quarantine")):
        if buckets[kind]:
            yield tag, buckets[kind]
    yield "tally", [{"unit": unit, "items": n_items, "blank": n_blank}]


class _ReadFile(beam.DoFn):
    def __init__(self, schema: SchemaConfig, vcfg: ValidationConfig, batch_size: int) -> None:
        self.schema, self.vcfg, self.batch_size = schema, vcfg, batch_size

    def process(self, spec: FileSpec) -> Iterator[Any]:
        for tag, batch in batched(read_items(spec, self.schema, self.vcfg), self.batch_size, spec.rel):
            yield beam.pvalue.TaggedOutput(tag, batch)


class ReadContributions(beam.PTransform):
    """ReadContributions turns FileSpecs into batches of records, quarantine rows and blank counts.

    Outputs (tags): ``records`` (lists of records), ``quarantine`` (lists of
    rejections), ``tally`` (one ``{"unit", "items", "blank"}`` count per unit).
    """

    def __init__(self, datanet: Datanet) -> None:
        super().__init__()
        self.datanet = datanet

    def expand(self, specs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        cfg = self.datanet.config
        return specs | "Parse" >> beam.ParDo(
            _ReadFile(self.datanet.schema, cfg.validation, cfg.runner.batch_size)
        ).with_outputs("records", "quarantine", "tally")
