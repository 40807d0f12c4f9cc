"""Step 8, commit: check a run's pipeline outputs, then append them to the ledger and publish.

Order (each step idempotent, so a rerun after a crash at any point gives
exactly the outputs of an uninterrupted run):

1. ``check_accounting``: every planned split has exactly one manifest, and
   each split's counts add up (read = accepted + duplicates + quarantined)
   with no input line in two places; ``check_files``: every file the
   manifests name exists with its recorded SHA-256 and nothing else sits in
   the run's folders. Nothing irreversible happens
   before this passes; a failure raises ``AccountingError`` or ``CommitError``;
2. ``PIPELINE.json`` records the checked manifests, the ledger base and the
   attempt (runner and options);
3. ``append_contributions`` streams ``record_hash``/``contributor_id`` from
   the shards, split by split, into ledger batches (memory: one batch),
   then the run's ``run`` entry (every published file's SHA-256), resuming
   after entries an interrupted attempt already appended, then signs a
   checkpoint, which so commits to every shard byte;
4. ``mark_committed`` writes the report and ``COMMITTED.json`` last.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
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
    """check_files raises CommitError unless the run's folders hold exactly the manifest files, byte for byte."""
    expected = {f["path"]: f for m in manifests for f in m["files"]}
    present = set()
    for folder in output_dirs(dn, run_id):
        for path in fs.list_files(str(folder / "*")):
            present.add(fs_relative(dn, path))
    extra = sorted(present - set(expected))
    if extra:
        raise CommitError(f"{len(extra)} file(s) not in the run manifest, e.g. {extra[0]}")
    for rel, f in sorted(expected.items()):
        path = str(dn.out_dir / rel)
        if not fs.exists(path):
            raise CommitError(f"{rel}: listed in the run manifest but missing")
        if fs.sha256(path) != f["sha256"]:
            raise CommitError(f"{rel}: SHA-256 differs from the run manifest")
        fs.fsync_local(path)


def fs_relative(dn: Datanet, path: str) -> str:
    """fs_relative is ``path`` relative to the Datanet's output folder."""
    base = str(dn.out_dir).rstrip("/") + "/"
    return path[len(base) :] if path.startswith(base) else path


def shards_in_order(manifests: list[SplitManifest]) -> list[str]:
    """shards_in_order lists shard paths in ledger order: split, then part."""
    return files_of(manifests, "shard")


def contributions(dn: Datanet, run_id: str, shards: list[str]) -> Iterator[dict[str, Any]]:
    """contributions yields the run's contribution entries in ledger order, streaming two shard columns."""
    import pyarrow.parquet as pq

    for shard in shards:
        with fs.open_read(str(dn.out_dir / shard)) as f:
            row = 0
            for batch in pq.ParquetFile(f).iter_batches(batch_size=8192, columns=["record_hash", "contributor_id"]):
                hashes, cids = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                for h, c in zip(hashes, cids, strict=True):
                    yield contribution(dn.name, h, c, shard, row, run_id)
                    row += 1


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
    import pyarrow.parquet as pq

    for rel in duplicates:
        with fs.open_read(str(dn.out_dir / rel)) as f:
            cols = ["duplicate_of", "contributor_id", "kind"]
            for batch in pq.ParquetFile(f).iter_batches(batch_size=8192, columns=cols):
                for of, who, kind in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
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
        _none_on_ledger(dn, shards, led)
    for i, entry in enumerate(itertools.islice(stream, done)):
        if led.entry(base + i) != encode_entry(entry):
            raise CommitError(f"ledger entry {base + i} is not this run's entry {i}")
    writer.append(stream)
    if led.size != base + total:
        raise CommitError(f"ledger size {led.size} after appending, expected {base + total}")
    return writer.sign()


def _none_on_ledger(dn: Datanet, shards: list[str], led: Ledger) -> None:
    """Before the first append: no record of the run may already be on the ledger.

    Streams the shards' ``record_hash`` column alone, one ledger batch at a time.
    """
    import pyarrow.parquet as pq

    size = dn.config.ledger.batch_size
    batch: list[str] = []
    for shard in shards:
        with fs.open_read(str(dn.out_dir / shard)) as f:
            for part in pq.ParquetFile(f).iter_batches(batch_size=size, columns=["record_hash"]):
                batch.extend(part.column(0).to_pylist())
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
    from pathlib import Path

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
