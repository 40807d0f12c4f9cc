"""Step 1, plan: which input units are new, how they are split, and the run's deterministic id.

A Datanet grows over runs. Each committed run records the digests of the
input units it consumed (``runs/<run_id>/COMMITTED.json``); a new run takes
only units whose digest no committed run has seen, so re-running the same
inputs adds nothing. The run id is a hash of the effective config, the
earlier run ids and the new units' digests, so a rerun after a crash gets
the same id and produces the same outputs. A unit's digest is an HMAC under
the Datanet's salt (``INPUT_DIGEST``): ``COMMITTED.json`` is published, and
a plain SHA-256 of a one-record file would confirm a guessed text; it also
means nobody without the salt can forge the digest of a new file to make a
run skip it. Runs committed before keep their plain SHA-256 digests and are
compared as such.

Splits: the driver streams every new unit once (for its digest) and cuts it
into ``Split``s a worker reads on its own: byte ranges that start after a
newline (JSONL, with the number of the first line), runs of row groups
(Parquet), runs of text files (textdir) and whole files (CSV, streamed, as
quoted newlines make byte ranges unsafe). Memory is one 1 MiB chunk,
whatever the file size; the cut points depend only on the bytes and the
``output`` config, never on the runner or the number of workers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

from pipelines.core import fs, paths
from pipelines.core.config import Datanet, OutputConfig
from pipelines.core.keys import read_salt, salt_path
from pipelines.core.registry import committed_runs
from pipelines.core.splits import FileSpec, Split, text_files


@dataclass
class RunPlan:
    """What one ingest run will do."""

    run_id: str
    seq: int
    specs: list[FileSpec]
    digests: dict[str, str]
    splits: list[Split] = field(default_factory=list)
    prior_runs: list[dict[str, Any]] = field(default_factory=list)
    input_bytes: int = 0

    @property
    def empty(self) -> bool:
        return not self.specs


def input_units(dn: Datanet) -> list[FileSpec]:
    """input_units lists every input unit of the declaration, in source order."""
    specs: list[FileSpec] = []
    for i, src in enumerate(dn.config.sources):
        if src.format == "textdir":
            specs.append(
                FileSpec(
                    i,
                    len(specs),
                    str(dn.root / src.path),
                    src.path.rstrip("/"),
                    "textdir",
                    str(dn.root / str(src.manifest)),
                    str(src.manifest),
                )
            )
            continue
        base = str(dn.root / paths.glob_folder(src.path))
        for path in dn.source_files(i):
            rel = paths.printable(os.path.relpath(path, dn.root))
            bad = paths.problem(str(path), base)
            specs.append(FileSpec(i, len(specs), str(path), rel, src.format, problem=bad))
    return specs


INPUT_DIGEST = "hmac-sha256-salt"  # COMMITTED.json's ``input_digest``: how its ``inputs`` digests were made


class _Digest:
    """An input unit's digest: keyed by the salt (``hexdigest``), and optionally the plain SHA-256 of older runs."""

    def __init__(self, key: bytes | None, plain: bool) -> None:
        self.key, self.want_plain = key, plain
        self.reset()

    def reset(self) -> None:
        self.keyed = hmac.new(self.key, digestmod=hashlib.sha256) if self.key is not None else None
        self.sha = hashlib.sha256() if self.want_plain or self.key is None else None

    def update(self, data: bytes) -> None:
        for h in (self.keyed, self.sha):
            if h is not None:
                h.update(data)

    def hexdigest(self) -> str:
        return (self.keyed or self.sha).hexdigest()  # type: ignore[union-attr]

    def plain(self) -> str | None:
        return self.sha.hexdigest() if self.sha is not None else None


def _hash_file(path: str, h: Any) -> int:
    """Feed a file's bytes to ``h`` in 1 MiB chunks; returns its size."""
    n = 0
    with fs.open_read(path) as f:
        for chunk in fs.chunks(f):
            h.update(chunk)
            n += len(chunk)
    return n


def _line_splits(spec: FileSpec, h: Any, every: int) -> tuple[list[tuple[int, int, int]], int]:
    """Digest a line-oriented file and cut it after newlines every ``every`` bytes: (start, end, first_line)."""
    cuts: list[tuple[int, int]] = [(0, 1)]  # (byte offset, line number there)
    pos, lines, want = 0, 0, every
    with fs.open_read(spec.path) as f:
        for chunk in fs.chunks(f):
            h.update(chunk)
            while want < pos + len(chunk):
                nl = chunk.find(b"\n", max(want - pos, 0))
                if nl < 0:
                    break
                cuts.append((pos + nl + 1, lines + chunk.count(b"\n", 0, nl + 1) + 1))
                want = pos + nl + 1 + every
            lines += chunk.count(b"\n")
            pos += len(chunk)
    cuts = [c for c in cuts if c[0] < pos] or [(0, 1)]
    return [(s, cuts[i + 1][0] if i + 1 < len(cuts) else pos, ln) for i, (s, ln) in enumerate(cuts)], pos


def _parquet_splits(spec: FileSpec, h: Any, every: int) -> tuple[list[tuple[int, int, int]], int]:
    """Digest a Parquet file and group its row groups into runs of about ``every`` bytes."""
    import pyarrow.parquet as pq

    n = _hash_file(spec.path, h)
    try:
        with fs.open_read(spec.path) as f:
            meta = pq.ParquetFile(f).metadata
    except Exception:
        return [(0, -1, 1)], n  # unreadable: one split, the reader quarantines the file
    out: list[tuple[int, int, int]] = []
    start, size, row, first = 0, 0, 1, 1
    for g in range(meta.num_row_groups):
        size += meta.row_group(g).total_byte_size
        row += meta.row_group(g).num_rows
        if size >= every or g == meta.num_row_groups - 1:
            out.append((start, g + 1, first))
            start, size, first = g + 1, 0, row
    return out or [(0, 0, 1)], n


def _textdir_splits(spec: FileSpec, h: Any, per: int) -> tuple[list[tuple[int, int, tuple[str, ...]]], int]:
    n = _hash_file(str(spec.manifest), h)
    names = text_files(spec)
    for rel in names:
        h.update(paths.printable(rel).encode() + b"\0")
        bad = paths.problem(os.path.join(spec.path, rel), spec.path)
        if bad:
            h.update(f"{bad[0]}:{bad[1]}".encode() + b"\0")
        else:
            n += _hash_file(os.path.join(spec.path, rel), h)
    parts = [(i, min(i + per, len(names)), tuple(names[i : i + per])) for i in range(0, len(names), per)]
    return [*parts, (-1, -1, ())], n


def split_unit(
    spec: FileSpec, out: OutputConfig, first_index: int, key: bytes | None = None
) -> tuple[str, list[Split], int]:
    """split_unit digests one unit and cuts it into splits; returns (digest, splits, bytes).

    The digest is keyed by ``key`` (the Datanet's salt) when given, else a
    plain SHA-256. A unit that cannot be opened still gets a digest (of its
    name) and one split: the reader turns it into an ``unreadable_file``
    rejection.
    """
    h, splits, n = _split_unit(spec, out, first_index, _Digest(key, plain=False))
    return h.hexdigest(), splits, n


def _split_unit(spec: FileSpec, out: OutputConfig, first_index: int, h: _Digest) -> tuple[_Digest, list[Split], int]:
    if spec.problem:
        h.update(f"{spec.problem[0]}:{spec.problem[1]}:{spec.rel}".encode())
        return h, [Split(first_index, spec)], 0
    try:
        if spec.format == "textdir":
            parts, n = _textdir_splits(spec, h, out.textdir_split_files)
            splits = [Split(first_index + i, spec, s, e, s + 1, files) for i, (s, e, files) in enumerate(parts)]
            return h, splits, n
        if spec.format == "csv":
            ranges, n = [(0, -1, 1)], _hash_file(spec.path, h)
        elif spec.format == "parquet":
            ranges, n = _parquet_splits(spec, h, out.split_bytes)
        else:
            ranges, n = _line_splits(spec, h, out.split_bytes)
    except OSError:
        h.reset()
        h.update(b"unreadable:" + spec.rel.encode())
        ranges, n = [(0, -1, 1)], 0
    return h, [Split(first_index + i, spec, s, e, ln) for i, (s, e, ln) in enumerate(ranges)], n


def plan_run(dn: Datanet) -> RunPlan:
    """plan_run decides which units are new, splits them and names the run."""
    prior = committed_runs(dn)
    seen = {d for r in prior if r.get("input_digest") == INPUT_DIGEST for d in r["inputs"].values()}
    seen_plain = {d for r in prior if r.get("input_digest") != INPUT_DIGEST for d in r["inputs"].values()}
    key = read_salt(salt_path(dn))
    todo: list[FileSpec] = []
    digests: dict[str, str] = {}
    splits: list[Split] = []
    total = 0
    for spec in input_units(dn):
        h, parts, n = _split_unit(spec, dn.config.output, len(splits), _Digest(key, plain=bool(seen_plain)))
        d = h.hexdigest()
        if d not in seen and h.plain() not in seen_plain:
            todo.append(spec)
            digests[spec.rel] = d
            splits += parts
            total += n
    splits = [Split(i, s.unit, s.start, s.end, s.first_line, s.files) for i, s in enumerate(splits)]
    body = {"config": dn.digest(), "prior": [r["run_id"] for r in prior], "inputs": digests}
    run_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return RunPlan(run_id, len(prior) + 1, todo, digests, splits, prior, total)
