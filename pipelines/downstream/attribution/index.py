"""The attribution index: an infini-gram suffix-array index over the words of committed records.

Layout under ``out/<name>/attribution/``::

    vocab.txt            one word per line; a word's id is its line number (append-only)
    shards/NNNNN/        one index shard per committed ingest run, in run order:
        tokenized.0      for each record, 0xFFFFFFFF then its word ids (uint32, little-endian)
        offset.0         byte offset of each record in tokenized.0 (uint64)
        table.0          the suffix array: token-aligned byte offsets of tokenized.0 in byte order,
                         ``ptr_size`` bytes each (infini-gram's format; built with pydivsufsort)
        docs.parquet     per record, in index order: ledger_index, record_hash
        grams.npy        the sorted distinct 32-bit fingerprints of every run of ``GRAM`` words within a record
                         (a pre-filter: output positions whose first ``GRAM`` words are in no record are
                         never given to the engine)
    INDEX.json           the runs indexed, in order, with each shard's size and file hashes,
                         and the vocabulary size after each; written last (the commit point)

Each shard's file hashes and the vocabulary's hash also go on the ledger,
one ``index`` entry per run (``pipelines.downstream.attribution.committed``), so the
files can be checked against a signed checkpoint, not only against
INDEX.json, which sits beside them.

A record's words are the lower-cased ``\\w+`` runs of its text fields, in
schema order. Runs are added in ledger order and words get ids in order of
first appearance, so the index is a pure function of the committed shards:
``rebuild`` into an empty folder gives the same bytes as the incremental
updates did. An update that stopped half-way is invisible (INDEX.json and
the vocabulary size it names are the truth) and is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ledger.storage import write_atomic
from pipelines.core.config import Datanet

FORMAT = "datanets-attribution-index/1"
WORD = re.compile(r"\w+")
DOC_SEP = 0xFFFFFFFF
UNKNOWN = 0xFFFFFFFE  # a word no record has: it never matches
TOKEN = np.dtype("<u4")
GRAM = 5  # = Rule.seed: no span shorter than this is ever kept
_MIX = np.uint64(0x9E3779B97F4A7C15)
# infini-gram's engine classifies a shard's files by these substrings of their whole path.
_ENGINE_WORDS = ("tokenized", "table", "offset", "metadata", "metaoff", "unigram")


class IndexError_(RuntimeError):
    """The attribution index is missing, damaged or cannot be built."""


def words(text: str) -> list[tuple[int, int, str]]:
    """words returns ``(start, end, lower-cased word)`` for each ``\\w+`` run of ``text``."""
    return [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(text)]


def index_dir(dn: Datanet) -> Path:
    return dn.out_dir / "attribution"


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "INDEX.json"
    if not path.exists():
        return {"format": FORMAT, "runs": [], "vocab_size": 0}
    value: dict[str, Any] = json.loads(path.read_bytes())
    if value.get("format") != FORMAT:
        raise IndexError_(f"{path}: not a {FORMAT} index")
    return value


def _vocab(folder: Path, size: int) -> list[str]:
    path = folder / "vocab.txt"
    vocab = path.read_text(encoding="utf-8").split("\n")[:size] if path.exists() else []
    if len(vocab) != size:
        raise IndexError_(f"{path}: {len(vocab)} words, INDEX.json says {size}")
    return vocab


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def suffix_array(data: bytes, width: int = 4) -> tuple[bytes, int]:
    """suffix_array returns infini-gram's table for ``data``: token-aligned suffixes in byte order, and ptr size.

    infini-gram compares suffixes with ``memcmp``, so the table is the byte
    suffix array of ``data`` restricted to offsets that are multiples of the
    token width, each offset stored little-endian in ``ptr_size`` bytes.
    """
    from pydivsufsort import divsufsort

    ptr_size = max(1, -(-int(np.ceil(np.log2(len(data) + 1))) // 8))
    sa = divsufsort(np.frombuffer(data, dtype=np.uint8).copy())
    sa = sa[sa % width == 0].astype("<u8")
    return sa.view(np.uint8).reshape(-1, 8)[:, :ptr_size].tobytes(), ptr_size


def gram_hashes(ids: np.ndarray, n: int = GRAM) -> np.ndarray:
    """gram_hashes returns a 64-bit hash of each run of ``n`` consecutive ids (``len(ids) - n + 1`` of them).

    Runs containing the record separator get a hash too; they are filtered
    by the caller. Equal runs always hash equally; a collision only makes
    the pre-filter let a position through, never drop one.
    """
    ids = ids.astype(np.uint64)
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = (h ^ ids[k : len(ids) - n + 1 + k]) * _MIX
            h ^= h >> np.uint64(29)
    return h


def record_grams(data: bytes, n: int = GRAM) -> np.ndarray:
    """record_grams is the sorted distinct ``gram_hashes`` of a tokenized shard, runs across records left out."""
    ids = np.frombuffer(data, dtype=TOKEN)
    h = gram_hashes(ids, n)
    if not len(h):
        return h
    sep = np.flatnonzero(ids == DOC_SEP)
    bad = np.zeros(len(ids) + 1, dtype=np.int64)
    np.add.at(bad, sep, 1)
    crossing = np.convolve(bad[: len(ids)], np.ones(n, dtype=np.int64), mode="valid") > 0
    return np.unique(fingerprint(h[~crossing]))


def fingerprint(h: np.ndarray) -> np.ndarray:
    """fingerprint keeps the top 32 bits of each hash: 4 bytes a word in the index, a few % false seeds at most."""
    return (h >> np.uint64(32)).astype(np.uint32)


@dataclass
class ShardStats:
    """What one index shard holds."""

    docs: int
    tokens: int
    text_bytes: int


def write_shard(
    out: Path, records: Iterable[tuple[int, str, str]], ids: dict[str, int], vocab: list[str]
) -> ShardStats:
    """write_shard indexes ``(ledger_index, record_hash, text)`` records into ``out``; new words extend ``vocab``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    sep = np.array([DOC_SEP], dtype=TOKEN).tobytes()
    chunks: list[bytes] = []
    offsets: list[int] = []
    ledger_index: list[int] = []
    hashes: list[str] = []
    pos = text_bytes = tokens = 0
    for index, record_hash, text in records:
        toks = []
        for _, _, w in words(text):
            i = ids.get(w)
            if i is None:
                i = ids[w] = len(vocab)
                vocab.append(w)
            toks.append(i)
        data = sep + np.array(toks, dtype=TOKEN).tobytes()
        offsets.append(pos)
        chunks.append(data)
        pos += len(data)
        tokens += len(toks)
        text_bytes += len(text.encode("utf-8"))
        ledger_index.append(index)
        hashes.append(record_hash)
    if len(vocab) >= UNKNOWN:
        raise IndexError_("the vocabulary outgrew 32-bit word ids")
    data = b"".join(chunks)
    (out / "tokenized.0").write_bytes(data)
    (out / "offset.0").write_bytes(np.array(offsets, dtype="<u8").tobytes())
    table, _ = suffix_array(data) if data else (b"", 1)
    (out / "table.0").write_bytes(table)
    np.save(out / "grams.npy", record_grams(data), allow_pickle=False)
    pq.write_table(
        pa.table({"ledger_index": pa.array(ledger_index, pa.int64()), "record_hash": pa.array(hashes, pa.string())}),
        out / "docs.parquet",
    )
    return ShardStats(len(offsets), tokens, text_bytes)


def run_records(dn: Datanet, shards: list[str]) -> Iterator[tuple[int, str, str]]:
    """run_records yields ``(ledger_index, record_hash, text)`` of a run's shard rows, in ledger order."""
    import pyarrow.parquet as pq

    fields = dn.schema.text_fields
    for rel in shards:
        table = pq.read_table(dn.out_dir / rel, columns=["ledger_index", "record_hash", *fields])
        cols = [table[c].to_pylist() for c in ("ledger_index", "record_hash", *fields)]
        for row in zip(*cols, strict=True):
            yield int(row[0]), str(row[1]), "\n".join(str(v) for v in row[2:] if v is not None)


OnShard = Callable[[dict[str, Any], str], None]


def build_index(
    dn: Datanet,
    folder: Path,
    progress: Any = None,
    expected: Sequence[dict[str, Any]] | None = None,
    on_shard: OnShard | None = None,
) -> dict[str, Any]:
    """build_index adds every committed run not yet indexed in ``folder``, in run order; returns what it added.

    ``expected`` are INDEX.json run records known to be right, each with the
    ``vocab_sha256`` after it (from the ledger's ``index`` entries): the
    folder's runs are kept only as far as they agree with them and the
    vocabulary hashes as the last kept one says, so a run the ledger does not
    vouch for is rebuilt. ``on_shard(run record, vocabulary SHA-256)`` is
    called for each shard built, after its files and before INDEX.json (the
    commit point); it may raise to stop. Safe to interrupt.
    """
    from pipelines.core.registry import committed_runs

    state = _State.load(folder)
    state.keep(expected)
    added = []
    for run in committed_runs(dn)[len(state.manifest["runs"]) :]:
        stats = state.add_run(run["run_id"], run_records(dn, run["shards"]), on_shard)
        added.append({"run": run["run_id"], "docs": stats.docs, "tokens": stats.tokens})
        if progress:
            progress(f"attribution index: run {run['run_id']} added ({stats.docs} records, {stats.tokens} words)")
    return {"added": added, "runs": len(state.manifest["runs"]), "vocab_size": state.manifest["vocab_size"]}


def add_run(folder: Path, run_id: str, records: Iterable[tuple[int, str, str]]) -> ShardStats:
    """add_run indexes one run's ``(ledger_index, record_hash, text)`` records as the next shard of ``folder``."""
    return _State.load(folder).add_run(run_id, records)


def vocab_sha256(vocab: Sequence[str]) -> str:
    """vocab_sha256 is the SHA-256 of ``vocab`` joined by newlines: vocab.txt's hash when it holds just these words."""
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """same_run says whether two INDEX.json run records describe the same shard (text_bytes aside)."""
    keys = ("run", "shard", "docs", "tokens", "vocab_size", "sha256")
    return all(a.get(k) == b.get(k) for k in keys)


@dataclass
class _State:
    """An index folder's manifest and vocabulary, read once and kept in step as runs are added."""

    folder: Path
    manifest: dict[str, Any]
    vocab: list[str]
    ids: dict[str, int]

    @classmethod
    def load(cls, folder: Path) -> _State:
        manifest = read_manifest(folder)
        vocab = _vocab(folder, manifest["vocab_size"]) if manifest["runs"] else []
        return cls(folder, manifest, vocab, {w: i for i, w in enumerate(vocab)})

    def keep(self, expected: Sequence[dict[str, Any]] | None) -> None:
        """keep drops the runs from the first that disagrees with ``expected`` (all, if the vocabulary does)."""
        if expected is None:
            return
        runs = self.manifest["runs"]
        n = 0
        while n < min(len(runs), len(expected)) and same_run(runs[n], expected[n]):
            n += 1
        if n and vocab_sha256(self.vocab[: runs[n - 1]["vocab_size"]]) != expected[n - 1]["vocab_sha256"]:
            n = 0
        if n == len(runs):
            return
        del runs[n:]
        size = runs[-1]["vocab_size"] if runs else 0
        del self.vocab[size:]
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.manifest["vocab_size"] = size

    def add_run(
        self, run_id: str, records: Iterable[tuple[int, str, str]], on_shard: OnShard | None = None
    ) -> ShardStats:
        """add_run writes the next shard, then vocab.txt, then (after ``on_shard``) INDEX.json, the commit point."""
        folder, manifest, vocab = self.folder, self.manifest, self.vocab
        shard = f"{len(manifest['runs']):05d}"
        target = folder / "shards" / shard
        shutil.rmtree(target, ignore_errors=True)
        stats = write_shard(target, records, self.ids, vocab)
        if stats.docs == 0:  # a run that accepted nothing: no shard (the engine cannot map empty files)
            shutil.rmtree(target)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / "vocab.txt", "\n".join(vocab).encode("utf-8"))
        record = {
            "run": run_id,
            "shard": shard,
            "docs": stats.docs,
            "tokens": stats.tokens,
            "text_bytes": stats.text_bytes,
            "vocab_size": len(vocab),
            "sha256": {n: file_sha256(target / n) for n in sorted(os.listdir(target))} if stats.docs else {},
        }
        if on_shard is not None:
            on_shard(record, vocab_sha256(vocab))
        manifest["runs"].append(record)
        manifest["vocab_size"] = len(vocab)
        manifest["vocab_sha256"] = file_sha256(folder / "vocab.txt")
        write_atomic(folder / "INDEX.json", (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        open_index.cache_clear()
        return stats


def rebuild_index(dn: Datanet, folder: Path) -> dict[str, Any]:
    """rebuild_index builds the whole index from the committed shards into an empty ``folder`` (no ledger)."""
    if folder.exists() and any(folder.iterdir()):
        raise IndexError_(f"{folder}: not empty")
    return build_index(dn, folder)


@dataclass
class Shard:
    """One loaded index shard: doc offsets and what each doc is on the ledger."""

    offsets: np.ndarray
    ledger_index: np.ndarray
    record_hash: list[str]
    grams: np.ndarray


@dataclass
class LoadedIndex:
    """An opened index: the infini-gram engine over every shard, the vocabulary and the doc tables."""

    engine: Any
    ids: dict[str, int]
    shards: list[Shard]
    links: Path
    manifest: dict[str, Any]

    def doc(self, shard: int, ptr: int) -> tuple[int, str]:
        """doc maps a byte pointer into shard ``shard`` to its record's (ledger_index, record_hash)."""
        s = self.shards[shard]
        i = int(np.searchsorted(s.offsets, ptr, side="right")) - 1
        return int(s.ledger_index[i]), s.record_hash[i]

    def token_ids(self, words_: list[str]) -> list[int]:
        return [self.ids.get(w, UNKNOWN) for w in words_]

    def seeded(self, ids: list[int]) -> np.ndarray:
        """seeded marks each position whose next ``GRAM`` words occur together in some record (by hash)."""
        h = fingerprint(gram_hashes(np.array(ids, dtype=np.uint64)))
        hit = np.zeros(len(h), dtype=bool)
        for s in self.shards:
            if len(s.grams):
                at = np.minimum(np.searchsorted(s.grams, h), len(s.grams) - 1)
                hit |= s.grams[at] == h
        return hit


def _link_dir() -> Path:
    """A fresh temporary folder whose path holds none of the words infini-gram sorts files by."""
    for _ in range(100):
        d = Path(tempfile.mkdtemp(prefix="dn-ix-"))
        if not any(w in str(d) for w in _ENGINE_WORDS):
            return d
        d.rmdir()
    raise IndexError_("could not make a temporary folder for the index engine")


@lru_cache(maxsize=4)
def open_index(folder: Path) -> LoadedIndex:
    """open_index loads the index under ``folder`` (memory-mapped; cached per process)."""
    import pyarrow.parquet as pq
    from infini_gram.engine import InfiniGramEngine

    manifest = read_manifest(folder)
    if not any(r["docs"] for r in manifest["runs"]):
        raise IndexError_(f"{folder}: no attribution index yet (run datanet index NAME, or ingest)")
    vocab = _vocab(folder, manifest["vocab_size"])
    links = _link_dir()
    shards, dirs = [], []
    for n, run in enumerate(r for r in manifest["runs"] if r["docs"]):
        real = folder / "shards" / run["shard"]
        link = links / f"s{n:05d}"
        os.symlink(real.resolve(), link)
        dirs.append(str(link))
        docs = pq.read_table(real / "docs.parquet")
        offsets = np.frombuffer((real / "offset.0").read_bytes(), dtype="<u8")
        grams = np.load(real / "grams.npy", mmap_mode="r", allow_pickle=False)
        shards.append(Shard(offsets, docs["ledger_index"].to_numpy(), docs["record_hash"].to_pylist(), grams))
    # No read-ahead hints: each madvise is a system call, and queries touch a few pages per shard.
    engine = InfiniGramEngine(
        index_dir=dirs,
        eos_token_id=UNKNOWN,
        vocab_size=DOC_SEP,
        token_dtype="u32",
        ds_prefetch_depth=0,
        sa_prefetch_depth=0,
        od_prefetch_depth=0,
        attribution_block_size=16,
    )
    return LoadedIndex(engine, {w: i for i, w in enumerate(vocab)}, shards, links, manifest)
