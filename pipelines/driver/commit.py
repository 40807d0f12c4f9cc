"""Step 8, commit: check a run's pipeline outputs, then append them to the ledger and publish.

Order (each step idempotent, so a rerun after a crash at any point gives
exactly the outputs of an uninterrupted run):

1. ``check_accounting``: every planned split has exactly one manifest, and
   each split's counts add up (read = accepted + duplicates + quarantined)
   with no input line in two places; ``check_files``: every file the
   manifests name exists with its recorded SHA-256 and nothing else sits in
   the run's folders. This is the only read of the run's outputs: the
   columns the ledger entries need are taken from the checked bytes into
   the run's journal. Nothing irreversible happens
   before this passes; a failure raises ``AccountingError`` or ``CommitError``;
2. ``PIPELINE.json`` records the checked manifests, the ledger base and the
   attempt (runner and options);
3. ``append_contributions`` streams ``record_hash``/``contributor_id`` (and
   the duplicates' ``copy`` columns) from the journal, split by split, into
   ledger batches (memory: one batch), after checking that none of the
   run's records is already on the ledger,
   then the run's ``run`` entry (every published file's SHA-256), resuming
   after entries an interrupted attempt already appended, then signs a
   checkpoint, which so commits to every shard byte;
4. ``mark_committed`` writes the report and ``COMMITTED.json`` last.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger import entries
from ledger.entries import contribution, encode_entry
from ledger.log import Ledger
from ledger.storage import write_atomic
from pipelines.core import fs
from pipelines.core.appender import LedgerWriter
from pipelines.core.config import Datanet
from pipelines.core.layouts import SplitManifest
from pipelines.core.registry import output_dirs, run_dir
from pipelines.driver.plan import INPUT_DIGEST


class AccountingError(RuntimeError):
    """Counts do not add up: read != accepted + duplicates + quarantined, or a split is missing."""


class CommitError(RuntimeError):
    """The run's outputs or the ledger disagree with the manifests in a way a rerun cannot repair."""


def check_accounting(manifests: list[SplitManifest], n_splits: int) -> None:
    """check_accounting raises AccountingError unless every split reported once and its counts add up."""
    seen = sorted(m["split"] for m in manifests)
    if seen != list(range(n_splits)):
        missing = sorted(set(range(n_splits)) - set(seen))
        raise AccountingError(
            f"{len(seen)} split manifests for {n_splits} planned splits (missing {missing[:10]}): "
            "the runner lost work; nothing was published"
        )
    for m in manifests:
        if m["tallies"] != 1:
            raise AccountingError(f"split {m['split']}: {m['tallies']} reader tallies, expected 1")
        outcomes = m["accepted"] + m["duplicates"] + m["quarantined"]
        if m["distinct_places"] != outcomes:
            raise AccountingError(
                f"split {m['split']}: {outcomes - m['distinct_places']} input line(s) ended in more than one "
                "place (the runner duplicated work); nothing was published"
            )
        if m["read"] != outcomes:
            raise AccountingError(
                f"split {m['split']}: read {m['read']} != accepted {m['accepted']} + duplicates "
                f"{m['duplicates']} + quarantined {m['quarantined']}; nothing was published"
            )


def check_files(dn: Datanet, run_id: str, manifests: list[SplitManifest]) -> None:
    """check_files raises CommitError unless the run's folders hold exactly the manifest files, byte for byte.

    It is the one read of the run's outputs before commit: each shard and
    duplicates file is read once into memory, its SHA-256 checked, and the
    columns its ledger entries need are taken from those same bytes into the
    run's journal (``journal_path``), which the commit appends from. So the
    entries come from exactly the bytes that were checked. Other files are
    hashed streaming. The journal is replaced as a whole, only once every
    file has checked out.
    """
    expected = {f["path"]: f for m in manifests for f in m["files"]}
    present = set()
    for folder in output_dirs(dn, run_id):
        for path in fs.list_files(str(folder / "*")):
            present.add(fs_relative(dn, path))
    extra = sorted(present - set(expected))
    if extra:
        raise CommitError(f"{len(extra)} file(s) not in the run manifest, e.g. {extra[0]}")
    journaled = {kind: files_of(manifests, kind) for kind in JOURNALED}
    rest = sorted(set(expected) - {p for paths in journaled.values() for p in paths})
    with _Journals(dn, run_id, journaled) as journals:
        for kind, paths in [*journaled.items(), ("", rest)]:
            for i, rel in enumerate(paths):
                data = _checked(dn, rel, expected[rel]["sha256"], whole=bool(kind))
                if kind:
                    journals.add(kind, i, data)


def _checked(dn: Datanet, rel: str, sha256: str, whole: bool) -> bytes:
    """The file's bytes if ``whole`` (else b""), once its SHA-256 matches and it is durable."""
    path = str(dn.out_dir / rel)
    if not fs.exists(path):
        raise CommitError(f"{rel}: listed in the run manifest but missing")
    data = fs.read_bytes(path) if whole else b""
    if (hashlib.sha256(data).hexdigest() if whole else fs.sha256(path)) != sha256:
        raise CommitError(f"{rel}: SHA-256 differs from the run manifest")
    fs.fsync_local(path)
    return data


# The columns each kind of published file gives its ledger entries (``contributions``, ``copies``).
JOURNALED = {"shard": ("record_hash", "contributor_id"), "duplicates": ("duplicate_of", "contributor_id", "kind")}


def journal_dir(dn: Datanet, run_id: str) -> Path:
    """journal_dir holds a run's journal (``journal_path``); removed once the run is committed."""
    return run_dir(dn, run_id) / "journal"


def journal_path(dn: Datanet, run_id: str, kind: str) -> Path:
    """journal_path is the Arrow IPC file of one kind's ledger columns, written by ``check_files``."""
    return journal_dir(dn, run_id) / f"{kind}.arrow"


class _Journals:
    """Writes each journaled kind's columns, file by file in ledger order, with a ``file`` index column.

    The schema's metadata lists the files, so a reader can refuse a journal of other files.
    """

    def __init__(self, dn: Datanet, run_id: str, files: dict[str, list[str]]) -> None:
        self.paths = {kind: journal_path(dn, run_id, kind) for kind in files}
        self.files = files
        self.writers: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}

    def __enter__(self) -> _Journals:
        import pyarrow as pa

        for kind, path in self.paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fields = [pa.field(c, pa.string()) for c in JOURNALED[kind]] + [pa.field("file", pa.int32())]
            schema = self.schemas[kind] = pa.schema(fields, metadata={"files": json.dumps(self.files[kind])})
            self.writers[kind] = pa.ipc.new_file(str(path) + ".tmp", schema)
        return self

    def add(self, kind: str, index: int, data: bytes) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(data), columns=list(JOURNALED[kind]))
        table = table.append_column("file", pa.array([index] * table.num_rows, pa.int32()))
        self.writers[kind].write_table(table.cast(self.schemas[kind]))

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        for writer in self.writers.values():
            writer.close()
        for path in self.paths.values():
            tmp = Path(str(path) + ".tmp")
            if exc_type is None:
                tmp.replace(path)
            else:
                tmp.unlink(missing_ok=True)


def _journal(dn: Datanet, run_id: str, kind: str, files: list[str]) -> Iterator[tuple[str, int, list[Any]]]:
    """Yields ``(file, row, values)`` from one kind's journal, in ledger order; CommitError if it is of other files."""
    import pyarrow as pa

    path = journal_path(dn, run_id, kind)
    if not path.exists():
        raise CommitError(f"{path}: no journal of this run's {kind} files (check_files writes it before commit)")
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        if json.loads(reader.schema.metadata[b"files"]) != files:
            raise CommitError(f"{path}: the journal lists other {kind} files than the run manifest")
        last, row = -1, 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            columns = [batch.column(c).to_pylist() for c in range(batch.num_columns)]
            for *values, f in zip(*columns, strict=True):
                row = row + 1 if f == last else 0
                last = f
                yield files[f], row, values


def fs_relative(dn: Datanet, path: str) -> str:
    """fs_relative is ``path`` relative to the Datanet's output folder."""
    base = str(dn.out_dir).rstrip("/") + "/"
    return path[len(base) :] if path.startswith(base) else path


def shards_in_order(manifests: list[SplitManifest]) -> list[str]:
    """shards_in_order lists shard paths in ledger order: split, then part."""
    return files_of(manifests, "shard")


def contributions(dn: Datanet, run_id: str, shards: list[str]) -> Iterator[dict[str, Any]]:
    """contributions yields the run's contribution entries in ledger order, from the journal of its shards."""
    for shard, row, (record_hash, contributor) in _journal(dn, run_id, "shard", shards):
        yield contribution(dn.name, record_hash, contributor, shard, row, run_id)


PUBLISHED_KINDS = ("shard", "duplicates", "quarantine")


def run_entry(dn: Datanet, run_id: str, seq: int, base: int, manifests: list[SplitManifest]) -> dict[str, Any]:
    """run_entry is the run's ``run`` ledger entry: its contribution range and every published file's SHA-256."""
    files = sorted(
        [f["path"], f["sha256"], int(f["rows"])] for m in manifests for f in m["files"] if f["kind"] in PUBLISHED_KINDS
    )
    accepted, copies = (sum(int(m[k]) for m in manifests) for k in ("accepted", "duplicates"))
    return entries.run(dn.name, run_id, seq, base, accepted, copies, files)


def copies(dn: Datanet, run_id: str, duplicates: list[str]) -> Iterator[dict[str, Any]]:
    """copies yields the run's ``copy`` entries in ledger order: duplicates files in split order, rows in order."""
    for _, _, (of, who, kind) in _journal(dn, run_id, "duplicates", duplicates):
        yield entries.copy(dn.name, of, who, run_id, kind)


def append_contributions(
    dn: Datanet,
    run_id: str,
    shards: list[str],
    base: int,
    total: int,
    writer: LedgerWriter,
    tail: dict[str, Any] | None = None,
    duplicates: list[str] | None = None,
) -> str:
    """append_contributions appends the run's missing entries after ``base`` and signs a checkpoint.

    The run's entries are its ``total`` contributions, then a ``copy`` entry
    per row of its ``duplicates`` files, then ``tail`` (its ``run`` entry). Entries an earlier attempt appended
    (``writer.size - base`` of them) must be exactly this run's first entries,
    byte for byte, or CommitError is raised. Appending and signing go through
    ``writer`` (``pipelines.core.appender``), the one append path.
    """
    led = writer.ledger
    stream = itertools.chain(
        contributions(dn, run_id, shards), copies(dn, run_id, duplicates or []), [tail] if tail else []
    )
    total += (int(tail["copies"]) + 1) if tail else 0
    done = led.size - base
    if done < 0 or done > total:
        raise CommitError(f"ledger size {led.size} is outside this run's range {base}..{base + total}")
    if done == 0:
        _none_on_ledger(dn, run_id, shards, led)
    for i, entry in enumerate(itertools.islice(stream, done)):
        if led.entry(base + i) != encode_entry(entry):
            raise CommitError(f"ledger entry {base + i} is not this run's entry {i}")
    writer.append(stream)
    if led.size != base + total:
        raise CommitError(f"ledger size {led.size} after appending, expected {base + total}")
    return writer.sign()


def _none_on_ledger(dn: Datanet, run_id: str, shards: list[str], led: Ledger) -> None:
    """Before the first append: no record of the run may already be on the ledger.

    Reads the journal's record hashes, one ledger batch at a time.
    """
    size = dn.config.ledger.batch_size
    batch: list[str] = []
    for _, _, (record_hash, _) in _journal(dn, run_id, "shard", shards):
        batch.append(record_hash)
        if len(batch) >= size:
            _check_new(led, batch)
            batch = []
    _check_new(led, batch)


def _check_new(led: Ledger, hashes: list[str]) -> None:
    found = led.find_many(hashes) if hashes else {}
    if found or len(set(hashes)) != len(hashes):
        h = next(iter(found), None) or next(h for h in hashes if hashes.count(h) > 1)
        raise CommitError(f"record {h} is already on the ledger or twice in this run; nothing was appended")


def write_json(path: str, body: dict[str, Any]) -> None:
    """write_json writes a JSON document atomically and durably (driver-side files)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())


def mark_committed(
    dn: Datanet, run_id: str, seq: int, inputs: dict[str, str], report: dict[str, Any], files: dict[str, list[str]]
) -> None:
    """mark_committed writes the run's report and its COMMITTED manifest (atomically, last).

    ``files`` lists the run's ``duplicates``, ``quarantine`` and ``contributors`` files.
    """
    folder = run_dir(dn, run_id)
    write_json(str(folder / "report.json"), report)
    write_json(str(dn.out_dir / "report.json"), report)
    manifest = {
        "run_id": run_id,
        "seq": seq,
        "input_digest": INPUT_DIGEST,
        "inputs": inputs,
        "ledger": report["ledger"],
        "shards": report["shards"],
        **files,
    }
    write_json(str(folder / "COMMITTED.json"), manifest)


def files_of(manifests: list[SplitManifest], kind: str) -> list[str]:
    """files_of lists a run's files of one kind, in split order."""
    return [f["path"] for m in sorted(manifests, key=lambda m: m["split"]) for f in m["files"] if f["kind"] == kind]
