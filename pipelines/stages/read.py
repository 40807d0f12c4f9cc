"""Step 2, read: read splits of contribution files into records, or quarantine what cannot be read.

Pure functions turn one ``Split`` (see ``pipelines.driver.plan``) into records and
rejections; ``ReadContributions`` is the Beam wrapper. Guarantees: every
non-blank line (JSONL), row (CSV, Parquet) or text file (textdir) yields
exactly one record or one rejection naming its file and line; a file that
cannot be opened yields one rejection at line 0. Nothing raises on bad input.
Files are read through Beam's FileSystems in 1 MiB chunks: memory is bounded
by the batch size and the longest line, never by the file size.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam

from ledger.entries import MAX_SAFE_INT
from pipelines.core import fs, paths
from pipelines.core.config import SchemaConfig, ValidationConfig
from pipelines.core.progress import tick
from pipelines.core.reasons import Reason, Stage
from pipelines.core.records import LAST, ReadRecord, Rejection, rejection
from pipelines.core.splits import FileSpec, Split, text_files

BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")
Item = tuple[str, Any]  # ("record", Record) | ("rejection", Rejection) | ("blank", 1)


@dataclass(frozen=True)
class Where:
    """Where an input item came from: its file and line, and its place in source order."""

    file: str
    line: int
    split: int
    source: int
    unit: int
    pos: int


class _Reject(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise _Reject(Reason.DUPLICATE_KEY, f"key {k!r} appears twice")
        obj[k] = v
    return obj


def _submitted_at(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Reject(Reason.INVALID_SUBMITTED_AT, "submitted_at must be an ISO-8601 string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Reject(Reason.INVALID_SUBMITTED_AT, "submitted_at is not ISO-8601") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        raise _Reject(Reason.INVALID_SUBMITTED_AT, "submitted_at falls outside years 1-9999 in UTC") from None


def _coerce(name: str, ftype: str, value: Any, from_text: bool) -> Any:
    if from_text and isinstance(value, str):
        if ftype == "integer":
            digits = value.strip()
            if len(digits.lstrip("+-")) > 16 and digits.lstrip("+-").isdigit():
                raise _Reject(Reason.NUMBER_OUT_OF_RANGE, f"field {name} is outside +/-(2**53-1)")
            try:
                return int(digits)
            except ValueError:
                raise _Reject(Reason.WRONG_TYPE, f"field {name} must be an integer") from None
        if ftype == "boolean":
            if value.strip().lower() not in ("true", "false"):
                raise _Reject(Reason.WRONG_TYPE, f"field {name} must be true or false")
            return value.strip().lower() == "true"
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[ftype]
    if not ok:
        raise _Reject(Reason.WRONG_TYPE, f"field {name} must be a {ftype}, got {type(value).__name__}")
    if ftype == "integer" and abs(value) > MAX_SAFE_INT:
        raise _Reject(Reason.NUMBER_OUT_OF_RANGE, f"field {name} is outside +/-(2**53-1)")
    return value


def build_record(
    obj: dict[str, Any], schema: SchemaConfig, vcfg: ValidationConfig, at: Where, from_text: bool = False
) -> ReadRecord:
    """build_record checks one parsed object against the schema; raises _Reject with a reason."""
    cid = obj.get("contributor_id")
    if cid is None:
        raise _Reject(Reason.MISSING_CONTRIBUTOR_ID, "contributor_id is missing")
    if not isinstance(cid, str):
        raise _Reject(Reason.WRONG_TYPE, "contributor_id must be a string")
    if not cid.strip():
        raise _Reject(Reason.EMPTY_CONTRIBUTOR_ID, "contributor_id is empty")
    known = {f.name for f in schema.fields} | {"contributor_id", "submitted_at"}
    unknown = sorted(set(obj) - known)
    if unknown and vcfg.unknown_fields == "quarantine":
        raise _Reject(Reason.UNKNOWN_FIELD, f"unknown field(s): {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for f in schema.fields:
        value = obj.get(f.name)
        if value is None or (from_text and value == "" and f.type != "string"):
            if f.required:
                raise _Reject(Reason.MISSING_FIELD, f"required field {f.name} is missing")
            continue
        fields[f.name] = _coerce(f.name, f.type, value, from_text)
    if not any(str(fields.get(t) or "").strip() for t in schema.text_fields):
        raise _Reject(Reason.EMPTY_RECORD, "every text field is empty")
    submitted = _submitted_at(obj.get("submitted_at"))
    return {
        "id": f"{at.unit}/{at.pos}",
        "order": [submitted or LAST, at.source, at.unit, at.pos],
        "split": at.split,
        "file": at.file,
        "line": at.line,
        "contributor_id": cid.strip(),
        "submitted_at": submitted,
        "fields": fields,
    }


def _reject(at: Where, reason: Reason, detail: str, payload: bytes, obj: Any = None) -> Item:
    cid = obj.get("contributor_id") if isinstance(obj, dict) else None
    cid = cid.strip() if isinstance(cid, str) and cid.strip() and not _SURROGATE.search(cid) else None
    return "rejection", rejection(at.file, at.line, reason, detail, payload, Stage.INGEST, at.split, cid)


def _item(
    obj_fn: Callable[[], dict[str, Any]],
    raw: bytes,
    schema: SchemaConfig,
    vcfg: ValidationConfig,
    at: Where,
    from_text: bool = False,
) -> Item:
    obj = None
    try:
        if len(raw) > vcfg.max_record_bytes:
            raise _Reject(Reason.RECORD_TOO_LARGE, f"{len(raw)} bytes is over max_record_bytes {vcfg.max_record_bytes}")
        obj = obj_fn()
        _check_strings(obj)
        return "record", build_record(obj, schema, vcfg, at, from_text)
    except _Reject as r:
        return _reject(at, r.reason, r.detail, raw, obj)
    except RecursionError:
        return _reject(at, Reason.TOO_DEEPLY_NESTED, "nested deeper than the parser allows", raw)
    except Exception as exc:  # one line's failure, whatever it is, costs that line only
        return _reject(at, Reason.UNREADABLE_RECORD, f"cannot parse this line: {type(exc).__name__}", raw)


def _check_strings(obj: Any) -> None:
    """Reject a parsed value holding a lone surrogate in any string or key, or a non-I-JSON number.

    Iterative, so a deeply nested value cannot exhaust the stack here.
    """
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                raise _Reject(Reason.INVALID_UNICODE, "a string holds a lone UTF-16 surrogate")
        elif isinstance(v, bool) or v is None:
            continue
        elif isinstance(v, int):
            if abs(v) > MAX_SAFE_INT:
                raise _Reject(Reason.NUMBER_OUT_OF_RANGE, "an integer is outside +/-(2**53-1)")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise _Reject(Reason.NUMBER_OUT_OF_RANGE, "a number is not finite")
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def _no_constant(name: str) -> Any:
    raise _Reject(Reason.NUMBER_OUT_OF_RANGE, f"{name} is not a JSON number")


def _json_object(raw: bytes) -> Callable[[], dict[str, Any]]:
    def parse() -> dict[str, Any]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Reject(Reason.INVALID_UTF8, f"invalid UTF-8 at byte {exc.start}") from None
        try:
            obj = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise _Reject(Reason.MALFORMED_JSON, f"{exc.msg} at column {exc.colno}") from None
        except ValueError as exc:  # Python refuses integers of more than 4,300 digits
            raise _Reject(Reason.NUMBER_OUT_OF_RANGE, f"a number is too long: {str(exc)[:80]}") from None
        if not isinstance(obj, dict):
            raise _Reject(Reason.NOT_AN_OBJECT, "a line must hold one JSON object")
        return obj

    return parse


def _lines(split: Split) -> Iterator[bytes]:
    """The raw lines of a byte range (without their newline); the range starts at a line start."""
    buf = b""
    with fs.open_read(split.unit.path) as f:
        for chunk in fs.chunks(f, split.start, None if split.end < 0 else split.end):
            buf += chunk
            *whole, buf = buf.split(b"\n")
            yield from whole
    if buf:
        yield buf


def parse_jsonl(split: Split, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_jsonl yields one item per line of a JSONL byte range (BOM and CRLF tolerated)."""
    spec = split.unit
    for n, raw in enumerate(_lines(split), start=split.first_line):
        if n == 1:
            raw = raw.removeprefix(BOM)
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            yield "blank", 1
            continue
        at = Where(spec.rel, n, split.index, spec.source, spec.file_no, n)
        yield _item(_json_object(raw), raw, schema, vcfg, at)


class _Runaway(Exception):
    """A row's lines grew past the limit while a quoted field stayed open."""


class _Physical:
    """Feeds csv.reader one physical line at a time, numbered, and remembers the lines of the current row.

    ``put_back`` queues lines to be read again (the lines of a bad row after
    its first); a row of several lines longer than ``limit`` characters
    stops with ``_Runaway``, so an open quote reads at most that far ahead.
    """

    def __init__(self, text: Iterable[str], limit: int = sys.maxsize) -> None:
        self.text, self.limit, self.next_no, self.size = iter(text), limit, 1, 0
        self.taken: list[tuple[int, str]] = []
        self.again: list[tuple[int, str]] = []

    def __iter__(self) -> _Physical:
        return self

    def __next__(self) -> str:
        if self.again:
            item = self.again.pop()
        else:
            item = (self.next_no, next(self.text))
            self.next_no += 1
        self.taken.append(item)
        self.size += len(item[1])
        if len(self.taken) > 1 and self.size > self.limit:
            raise _Runaway(f"a quoted field is still open after {self.size} characters, over max_record_bytes")
        return item[1]

    def take(self) -> list[tuple[int, str]]:
        """take returns the numbered lines read since its last call."""
        out, self.taken, self.size = self.taken, [], 0
        return out

    def put_back(self, items: list[tuple[int, str]]) -> None:
        self.again.extend(reversed(items))

    def raw(self) -> bytes:
        return _raw(self.take())


def _raw(lines: list[tuple[int, str]]) -> bytes:
    return "".join(text for _, text in lines).encode("utf-8", "surrogateescape")


def _text_stream(path: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(fs.open_read(path), encoding="utf-8-sig", errors="surrogateescape", newline="")


_CsvRow = tuple[list[tuple[int, str]], list[str], str]  # (numbered physical lines, cells, error or "")


def _csv_header(lines: _Physical) -> list[str]:
    """The header row; raises _Reject (unreadable_file) if it does not parse."""
    try:
        header = next(csv.reader(lines, strict=True), [])
    except (csv.Error, _Runaway) as exc:
        detail = f"the header row does not parse ({exc}); no row can be read without it"
        raise _Reject(Reason.UNREADABLE_FILE, detail) from None
    lines.take()
    return header


def _csv_rows(lines: _Physical, width: int) -> Iterator[_CsvRow]:
    """The rows of a ``width``-column CSV in what ``lines`` has left (strict quoting): (lines, cells, error).

    A row is one physical line, or several when a quoted field holds line
    breaks. A row over several lines that does not parse (its quote never
    closes, a stray quote, the wrong number of cells) is taken to start with
    an unbalanced quote: its first line comes out alone, with an error, and
    reading starts again at the next line, so the good rows after it stay
    rows. Every physical line ends in exactly one row.
    """
    reader = csv.reader(lines, strict=True)
    while True:
        error = ""
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, _Runaway) as exc:
            row, error = [], str(exc)
        taken = lines.take()
        if len(taken) > 1 and (error or len(row) != width):
            lines.put_back(taken[1:])
            why = error or f"{len(row)} cells for {width} columns"
            detail = f"unbalanced quote: lines {taken[0][0]}-{taken[-1][0]} do not make one row ({why});"
            yield taken[:1], [], detail + " this line alone is quarantined and reading resumes at the next"
            continue
        yield taken, row, error


def parse_csv(split: Split, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_csv yields one item per data row of a CSV file with a header row, streaming it (rows: ``_csv_rows``).

    A header that does not parse makes the whole file one ``unreadable_file`` rejection at line 0.
    """
    spec = split.unit
    with _text_stream(spec.path) as text:
        lines = _Physical(text, vcfg.max_record_bytes)
        try:
            header = _csv_header(lines)
        except _Reject as bad:
            yield _reject(Where(spec.rel, 0, split.index, spec.source, spec.file_no, 0), bad.reason, bad.detail, b"")
            return
        for taken, row, error in _csv_rows(lines, len(header)):
            n, raw = taken[0][0], _raw(taken)
            at = Where(spec.rel, n, split.index, spec.source, spec.file_no, n)
            if error:
                yield _reject(at, Reason.MALFORMED_CSV, error, raw)
            elif not any(cell.strip() for cell in row):
                yield "blank", 1
            else:
                yield _item(_csv_object(header, row), raw, schema, vcfg, at, from_text=True)


def _csv_object(header: list[str], row: list[str]) -> Callable[[], dict[str, Any]]:
    def parse() -> dict[str, Any]:
        if len(row) != len(header):
            raise _Reject(Reason.MALFORMED_CSV, f"{len(row)} cells for {len(header)} columns")
        if any("\udc80" <= c <= "\udcff" for cell in row for c in cell):
            raise _Reject(Reason.INVALID_UTF8, "row contains invalid UTF-8")
        return {h: (v if v != "" else None) for h, v in zip(header, row, strict=True)}

    return parse


def parse_parquet(split: Split, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_parquet yields one item per row of a run of row groups (line = 1-based row number)."""
    import pyarrow.parquet as pq

    spec = split.unit
    with fs.open_read(spec.path) as f:
        pf = pq.ParquetFile(f)
        groups = list(range(split.start, pf.num_row_groups if split.end < 0 else split.end))
        n = split.first_line
        for batch in pf.iter_batches(batch_size=1024, row_groups=groups):
            for row in _rows(batch):
                at = Where(spec.rel, n, split.index, spec.source, spec.file_no, n)
                if isinstance(row, Exception):
                    yield _reject(at, Reason.UNREADABLE_RECORD, f"cannot convert this row: {type(row).__name__}", b"")
                else:
                    yield _item(_given(row), _row_bytes(row), schema, vcfg, at)
                n += 1


def _rows(batch: Any) -> Iterator[dict[str, Any] | Exception]:
    """The rows of an Arrow batch as dicts; a row Arrow cannot convert (a timestamp past year 9999,
    say) comes out as its exception, so only that row is lost to quarantine."""
    try:
        yield from batch.to_pylist()
        return
    except Exception:
        pass
    for i in range(batch.num_rows):
        try:
            yield batch.slice(i, 1).to_pylist()[0]
        except Exception as exc:
            yield exc


def _row_bytes(row: dict[str, Any]) -> bytes:
    """A Parquet row as JSON, the payload kept in quarantine."""
    try:
        text = json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
    except Exception:  # a value json cannot show (nested too deep, say): keep no payload
        return b""
    return text.encode("utf-8", "surrogatepass")


def _given(obj: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: obj


def _manifest(spec: FileSpec) -> dict[str, tuple[int, dict[str, Any], bytes]]:
    """The textdir manifest: file name -> (line, other columns, raw line)."""
    rows: dict[str, tuple[int, dict[str, Any], bytes]] = {}
    with _text_stream(str(spec.manifest)) as text:
        lines = _Physical(text)
        reader = csv.DictReader(lines)
        for row in reader:
            name = (row.get("file") or "").strip()
            rows[name] = (reader.line_num, {k: v for k, v in row.items() if k != "file"}, lines.raw())
    return rows


def parse_textdir(split: Split, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """parse_textdir yields one item per text file of the split, with contributor and fields from the manifest.

    The manifest is a CSV with a ``file`` column (path relative to the
    folder), ``contributor_id``, optional ``submitted_at`` and schema fields.
    Text files missing from the manifest are rejected; the text goes into the
    schema's first text field. The unit's last split (no files) rejects each
    manifest row that names a missing file.
    """
    spec = split.unit
    rows = _manifest(spec)
    if split.start < 0:
        yield from _missing_files(split, rows)
        return
    text_field = schema.text_fields[0]
    for n, rel in enumerate(split.files, start=split.first_line):
        bad = paths.problem(os.path.join(spec.path, rel), spec.path)
        if bad:
            at = Where(f"{spec.rel}/{paths.printable(rel)}", 0, split.index, spec.source, spec.file_no, n)
            yield _reject(at, bad[0], bad[1], b"")
            continue
        at = Where(f"{spec.rel}/{rel}", 1, split.index, spec.source, spec.file_no, n)
        body = fs.read_bytes(os.path.join(spec.path, rel))
        if rel not in rows:
            yield _reject(at, Reason.NOT_IN_MANIFEST, f"{rel} has no row in {spec.manifest_rel}", body)
            continue
        meta = rows[rel][1]

        def obj(body: bytes = body, meta: dict[str, Any] = meta) -> dict[str, Any]:
            try:
                content = body.removeprefix(BOM).decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError as exc:
                raise _Reject(Reason.INVALID_UTF8, f"invalid UTF-8 at byte {exc.start}") from None
            return {**{k: (v if v != "" else None) for k, v in meta.items()}, text_field: content}

        yield _item(obj, body, schema, vcfg, at, from_text=True)


def _missing_files(split: Split, rows: dict[str, tuple[int, dict[str, Any], bytes]]) -> Iterator[Item]:
    spec = split.unit
    present = set(text_files(spec))
    for name, (line, _, raw) in sorted(rows.items(), key=lambda kv: kv[1][0]):
        if name not in present:
            at = Where(str(spec.manifest_rel), line, split.index, spec.source, spec.file_no, line)
            yield _reject(at, Reason.MISSING_FILE, f"manifest names {name!r}, which does not exist", raw)


PARSERS = {"jsonl": parse_jsonl, "csv": parse_csv, "parquet": parse_parquet, "textdir": parse_textdir}


def read_items(split: Split, schema: SchemaConfig, vcfg: ValidationConfig) -> Iterator[Item]:
    """read_items parses one split; a unit that cannot be read becomes one rejection at line 0.

    If a file breaks only part way (a truncated Parquet file, say), the
    items already yielded stand and the rest of the split is one rejection.
    """
    spec = split.unit
    at = Where(spec.rel, 0, split.index, spec.source, spec.file_no, 0)
    if spec.problem:
        yield _reject(at, Reason(spec.problem[0]), spec.problem[1], b"")
        return
    try:
        yield from PARSERS[spec.format](split, schema, vcfg)
    except OSError as exc:
        yield _reject(at, Reason.UNREADABLE_FILE, f"cannot read file: {exc.strerror or type(exc).__name__}", b"")
    except Exception as exc:
        yield _reject(at, Reason.UNREADABLE_FILE, f"cannot parse file: {type(exc).__name__}", b"")


def whole(spec: FileSpec) -> Split:
    """whole is a split covering a whole unit (for tests and tools that read one file)."""
    if spec.format != "textdir":
        return Split(0, spec)
    return Split(0, spec, 0, -1, 1, tuple(text_files(spec)))


def batched(items: Iterable[Item], size: int, split: int) -> Iterator[tuple[str, Any]]:
    """batched groups items into ("records" | "quarantine", list) batches, then one ("tally", counts).

    The tally counts every record and rejection produced for ``split`` (and
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
    yield "tally", {"split": split, "items": n_items, "blank": n_blank}


class _ReadSplit(beam.DoFn):
    def __init__(self, schema: SchemaConfig, vcfg: ValidationConfig, batch_size: int, progress_dir: str = "") -> None:
        self.schema, self.vcfg, self.batch_size, self.progress_dir = schema, vcfg, batch_size, progress_dir

    def process(self, split: Split) -> Iterator[tuple[str, Any]]:
        counts = {"records": 0, "quarantined": 0}
        for k, (tag, value) in enumerate(
            batched(read_items(split, self.schema, self.vcfg), self.batch_size, split.index)
        ):
            if tag in ("records", "quarantine"):
                counts[tag if tag == "records" else "quarantined"] += len(value)
                if tag == "records":  # before the batch moves on, so read never trails scrubbed
                    tick(self.progress_dir, "readb", f"{split.index:05d}_{k:06d}", {"records": len(value)})
            else:
                tick(self.progress_dir, "read", f"{split.index:05d}", counts)
            yield tag, value


class ReadContributions(beam.PTransform):
    """ReadContributions turns Splits into tagged tuples: records, quarantine rows and tallies.

    Output: one PCollection of ``(tag, value)``: ``("records", [record…])``,
    ``("quarantine", [rejection…])`` and one ``("tally", {"split", "items",
    "blank"})`` per split. Tags travel in the element rather than as Beam
    tagged outputs, which some runners (Dask) do not route; ``select`` picks one.
    """

    def __init__(self, schema: SchemaConfig, vcfg: ValidationConfig, batch_size: int, progress_dir: str = "") -> None:
        super().__init__()
        self.schema, self.vcfg, self.batch_size, self.progress_dir = schema, vcfg, batch_size, progress_dir

    def fn(self) -> beam.DoFn:
        """fn is this stage's DoFn (split in, tagged tuples out), for ``pipelines.stages.chain``."""
        return _ReadSplit(self.schema, self.vcfg, self.batch_size, self.progress_dir)

    def expand(self, splits: beam.PCollection) -> beam.PCollection:
        return splits | "Parse" >> beam.ParDo(self.fn())


def select(tag: str) -> beam.PTransform:
    """select keeps the values of one tag from a PCollection of ``(tag, value)``."""
    return beam.FlatMap(lambda tv, tag=tag: [tv[1]] if tv[0] == tag else [])


__all__ = ["BOM", "Item", "ReadContributions", "Rejection", "batched", "build_record", "read_items", "select"]
