"""The attribution index on the ledger: one ``index`` entry per indexed run, and the files checked against them.

``update_index`` (``datanet index``, and ``attribute`` when a run is
missing) builds each new index shard, appends an ``index`` ledger entry
with the SHA-256 of every file of the shard and of the vocabulary
(``ledger.entries.index_shard``), then writes INDEX.json and signs a
checkpoint. ``check_index`` hashes the files on disk against those entries,
so a swapped row of ``docs.parquet``, a changed word of ``vocab.txt`` or a
file added to a shard is named; ``attribute``, ``datanet index --check`` and
``datanet verify`` run it. INDEX.json is never trusted on its own: it sits
beside the files it describes.

Guarantees: entries are appended under the writer lock, in run order, and
each run's entry before INDEX.json lists the run, so after a crash the run
is rebuilt and compared with its entry, never committed twice. Runs INDEX.json
lists beyond the ledger's entries (an index built before these entries
existed) are rebuilt from the committed shards before they are committed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.entries import index_shard, parse_index_shard
from ledger.log import Ledger
from ledger.storage import WRITER_WAIT
from pipelines.core.appender import LedgerWriter
from pipelines.core.config import Datanet
from pipelines.downstream.attribution.index import (
    IndexError_,
    build_index,
    file_sha256,
    index_dir,
    read_manifest,
    same_run,
    vocab_sha256,
)

_KIND = b'"kind":"index"'  # canonical JSON escapes quotes inside strings, so this is only ever the kind key
_RESET = b'"kind":"republish"'  # a withdrawal republished shards: the index is rebuilt from what is served


class IndexMismatchError(IndexError_):
    """The index on disk differs from what the ledger's ``index`` entries commit to; the message names the file."""


@dataclass
class _Scan:
    size: int
    root: bytes
    entries: list[dict[str, Any]]


_scans: dict[Path, _Scan] = {}
_checked: dict[Path, Any] = {}


def committed_index(led: Ledger) -> list[dict[str, Any]]:
    """committed_index returns the ledger's current ``index`` entries in ledger order, each with its ``ledger_index``.

    A ``republish`` entry (a withdrawal) voids the ``index`` entries before
    it: the index is then rebuilt from the served shards, and the entries
    after the last ``republish`` are the ones it must match.

    Reads only the entries appended since the last call for this ledger (in
    this process), unless the ledger no longer extends what was read.
    """
    key = led.path.resolve()
    seen = _scans.get(key)
    if seen is None or seen.size > led.size or led.root_at(seen.size) != seen.root:
        seen = _Scan(0, led.root_at(0), [])
    entries = list(seen.entries)
    for i, raw in enumerate(led.entries(seen.size), seen.size):
        if _RESET in raw:
            entries.clear()
        elif _KIND in raw:
            entries.append({**parse_index_shard(json.loads(raw)), "ledger_index": i})
    _scans[key] = _Scan(led.size, led.root, entries)
    return list(entries)


def run_record(entry: dict[str, Any]) -> dict[str, Any]:
    """run_record is an ``index`` entry as the INDEX.json run record it vouches for (with ``vocab_sha256``)."""
    keys = ("run", "shard", "docs", "tokens", "vocab_size", "vocab_sha256")
    return {**{k: entry[k] for k in keys}, "sha256": dict(entry["files"])}


def _where(entry: dict[str, Any]) -> str:
    return f"index ledger entry {entry['ledger_index']} (run {entry['run']})"


def _check_runs(dn: Datanet, runs: list[dict[str, Any]], entries: list[dict[str, Any]], complete: bool) -> None:
    from pipelines.core.registry import committed_runs

    published = [r["run_id"] for r in committed_runs(dn)]
    if [e["run"] for e in entries] != published[: len(entries)]:
        raise IndexMismatchError(
            f"the ledger's index entries name runs {[e['run'] for e in entries][:5]}, "
            f"not the published runs in order {published[:5]}"
        )
    if complete and len(runs) != len(entries):
        raise IndexMismatchError(f"INDEX.json lists {len(runs)} runs, the ledger's index entries {len(entries)}")
    for run, entry in zip(runs, entries, strict=False):
        if not same_run(run, run_record(entry)):
            raise IndexMismatchError(f"INDEX.json: run {run.get('run')} is not what {_where(entry)} commits to")


def _check_vocab(folder: Path, entry: dict[str, Any]) -> None:
    path = folder / "vocab.txt"
    words = path.read_text(encoding="utf-8").split("\n")[: entry["vocab_size"]] if path.exists() else []
    if len(words) != entry["vocab_size"] or vocab_sha256(words) != entry["vocab_sha256"]:
        size = entry["vocab_size"]
        raise IndexMismatchError(f"{path}: its first {size} words are not what {_where(entry)} commits to")


def _check_files(folder: Path, entry: dict[str, Any]) -> int:
    shard = folder / "shards" / entry["shard"]
    want = dict(entry["files"])
    if not want:
        return 0
    have = sorted(os.listdir(shard)) if shard.is_dir() else []
    for name in sorted(set(have) ^ set(want)):
        what = "missing" if name in want else "not committed to by the ledger"
        raise IndexMismatchError(f"{shard / name}: {what} ({_where(entry)})")
    for name, sha in sorted(want.items()):
        if file_sha256(shard / name) != sha:
            raise IndexMismatchError(f"{shard / name}: SHA-256 differs from {_where(entry)}: the file was changed")
    return len(want)


def check_index(dn: Datanet, folder: Path, entries: list[dict[str, Any]], complete: bool = True) -> int:
    """check_index hashes every index file in ``folder`` against the ledger's ``index`` entries; returns files hashed.

    Checks, naming the first difference (IndexMismatchError): the entries
    name the published runs in order; INDEX.json's runs are the entries'
    (with ``complete``, as many; else runs past either end are left out, as
    ``attribute`` rebuilds those before use); the vocabulary's words hash as
    the last of them says; every file of each shard has its committed
    SHA-256 and no other file sits in a shard folder.
    """
    manifest = read_manifest(folder)
    runs = manifest["runs"]
    _check_runs(dn, runs, entries, complete)
    if complete and entries and manifest["vocab_size"] != entries[-1]["vocab_size"]:
        raise IndexMismatchError(f"INDEX.json: vocab_size is not what {_where(entries[-1])} commits to")
    checked = entries[: len(runs)]
    if checked:
        _check_vocab(folder, checked[-1])
    return sum(_check_files(folder, e) for e in checked)


def _stat_key(folder: Path, entries: list[dict[str, Any]]) -> Any:
    """What must stay the same for an earlier check to still hold: entries, listings and each file's inode times."""
    paths = [folder / "INDEX.json", folder / "vocab.txt"]
    for e in entries:
        shard = folder / "shards" / e["shard"]
        if e["files"] and shard.is_dir():
            paths += [shard / n for n in sorted(os.listdir(shard))]
    stats = []
    for p in paths:
        st = p.stat() if p.exists() else None
        stats.append((str(p), st and (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)))
    return (json.dumps(entries, sort_keys=True), tuple(stats))


def require_committed(dn: Datanet, folder: Path | None = None) -> None:
    """require_committed raises IndexMismatchError unless the index matches the ledger entry for entry, file for file.

    A check that passed is not repeated while no file's inode, size or
    times (``ctime`` included, which no user can set) changed.
    """
    folder = folder or index_dir(dn)
    if not (dn.ledger_dir / "STATE").exists():
        return
    with Ledger(dn.ledger_dir) as led:
        entries = committed_index(led)
    key = _stat_key(folder, entries)
    if _checked.get(folder.resolve()) == key:
        return
    try:
        check_index(dn, folder, entries)
    except IndexMismatchError as exc:
        raise IndexMismatchError(
            f"{exc}; this index is not used: delete {folder} and run `datanet index {dn.name}` to rebuild it"
        ) from None
    _checked[folder.resolve()] = key


def commit_missing(dn: Datanet, writer: LedgerWriter, progress: Any = None) -> dict[str, Any]:
    """commit_missing indexes the runs the index lacks and appends their ``index`` entries to ``writer`` (unsigned).

    The caller holds the writer lock. A run the ledger already has an entry
    for is rebuilt and must give the committed bytes (IndexMismatchError).
    """
    led = writer.ledger
    entries = committed_index(led)
    appended = []

    def on_shard(record: dict[str, Any], vocab_hash: str) -> None:
        at = int(record["shard"])
        files = [[n, h] for n, h in sorted(record["sha256"].items())]
        args = (record["docs"], record["tokens"], record["vocab_size"], vocab_hash)
        entry = index_shard(dn.name, record["run"], record["shard"], files, *args)
        if at < len(entries):
            if run_record(entry) != run_record(entries[at]):
                where = _where(entries[at])
                raise IndexMismatchError(f"rebuilding run {record['run']}'s index shard gives other bytes than {where}")
            return
        writer.append([entry])
        appended.append(led.size - 1)

    out = build_index(dn, index_dir(dn), progress, [run_record(e) for e in entries], on_shard)
    return {**out, "index_entries": appended}


def update_index(dn: Datanet, progress: Any = None, wait: float = WRITER_WAIT) -> dict[str, Any]:
    """update_index brings the Datanet's index up to every committed run, on the ledger; returns what it added.

    Takes the writer lock (waiting up to ``wait`` seconds), refuses while an
    ingest run is half-appended, and signs a checkpoint when it appended.
    """
    from pipelines.core.appender import writing
    from pipelines.core.registry import committed_runs

    if not (dn.ledger_dir / "STATE").exists() and not committed_runs(dn):
        return {"added": [], "runs": 0, "vocab_size": 0, "index_entries": []}  # nothing ingested yet
    with writing(dn, wait, progress) as w:
        out = commit_missing(dn, w, progress)
        if out["index_entries"]:
            w.sign()
    return out


def is_current(dn: Datanet, folder: Path | None = None) -> bool:
    """is_current says whether INDEX.json lists exactly the published runs, each as its ledger entry says."""
    from pipelines.core.registry import committed_runs

    folder = folder or index_dir(dn)
    if not (dn.ledger_dir / "STATE").exists():
        return False
    with Ledger(dn.ledger_dir) as led:
        entries = committed_index(led)
    runs = read_manifest(folder)["runs"]
    if not len(runs) == len(entries) == len(committed_runs(dn)):
        return False
    return all(same_run(r, run_record(e)) for r, e in zip(runs, entries, strict=True))
