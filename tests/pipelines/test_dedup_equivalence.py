"""The distributed dedup (compact nodes through the shuffles, records through the spill) decides exactly as the
one-process reference ``drop_duplicates_local`` does, on real text with planted exact and near copies, however
the records are cut into batches and splits."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from benchmarks.neardup import corpus
from pipelines.core.config import DedupConfig, load_datanet
from pipelines.core.keys import read_salt, salt_path
from pipelines.driver.run import ingest
from pipelines.stages.dedup.components import ConnectComponents
from pipelines.stages.dedup.graph import components, prior_key
from pipelines.stages.dedup.local import drop_duplicates_local, sketched_texts
from pipelines.stages.dedup.packed import (
    GROUPS,
    exact_groups,
    node_bucket,
    node_entries,
    pack_batch,
    pack_key,
    pack_node,
    read_slices,
    unpack_key,
    unpack_nodes,
    write_batch,
)
from pipelines.stages.dedup.transforms import DropDuplicates

SALT = b"equivalence-test-salt"
N = 400


def _texts() -> list[str]:
    """Real paragraphs (/usr/share/doc: licences, READMEs) with 10 % exact and 15 % near copies planted, plus one
    exact copy repeated 40 times (a giant exact group)."""
    texts = corpus(N, seed=11)
    if len(texts) < N // 2:
        pytest.skip("too little prose under /usr/share/doc on this machine")
    return [*texts, *[texts[5]] * 40]


def _decisions(rows: list[dict[str, Any]]) -> list[tuple[int, str, str, float]]:
    return sorted((int(d["line"]), d["kind"], d["duplicate_of"], float(d["similarity"])) for d in rows)


@pytest.mark.parametrize("batches", [1, 2, 12])
def test_drop_duplicates_equals_the_local_decision_on_real_text(tmp_path: Path, batches: int) -> None:
    cfg = DedupConfig()
    texts = _texts()
    rng = random.Random(batches)
    times = [f"2026-01-{rng.randint(1, 28):02d}T00:00:00Z" for _ in texts]
    nodes = [{**r, "split": 0} for r in sketched_texts(texts, cfg, SALT, times)]
    prior = [
        {**r, "key": prior_key(i), "prior": True}
        for i, r in enumerate(sketched_texts([texts[7], texts[60]], cfg, SALT))
    ]
    _, want = drop_duplicates_local(nodes, prior, cfg)
    assert len(want) > 40
    (tmp_path / "salt").write_bytes(SALT)
    state = tmp_path / "state.parquet"
    cols = ("content_key", "record_hash", "minhash", "shingles", "ledger_index")
    pq.write_table(pa.Table.from_pylist([{k: p.get(k, i) for k in cols} for i, p in enumerate(prior)]), state)
    cuts = [0, *sorted(rng.sample(range(1, len(nodes)), batches - 1)), len(nodes)]
    with TestPipeline() as p:
        parts = p | "Batches" >> beam.Create([nodes[a:b] for a, b in itertools.pairwise(cuts)])
        sources = p | "Sources" >> beam.Create([("none", ""), ("state", str(state))])
        out = (parts, sources) | DropDuplicates(["text"], cfg, str(tmp_path / "salt"), str(tmp_path / "work"))
        decisions = out | "Unlist" >> beam.FlatMap(lambda sd: [d for d in sd[1] if d["split"] == sd[0]])
        got = decisions | beam.Map(lambda d: (d["key"][5], d["kind"], d["duplicate_of"], d["similarity"]))
        assert_that(got, equal_to(_decisions(want)))


def _project(root: Path, texts: list[str], splits: int) -> Path:
    for sub in ("schemas", "datanets", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "t.yaml").write_text("name: t\nfields:\n  - {name: text, type: string, text: true}\n")
    data = "".join(json.dumps({"contributor_id": f"c{i % 7}", "text": t}) + "\n" for i, t in enumerate(texts))
    (root / "data" / "a.jsonl").write_text(data)
    split_bytes = len(data.encode()) // splits + 1
    (root / "datanets" / "eq.yaml").write_text(
        "name: eq\nschema: schemas/t.yaml\nsources:\n  - {path: data/*.jsonl, format: jsonl}\n"
        f"pii: {{enabled: false}}\noutput: {{split_bytes: {split_bytes}, shard_rows: 50}}\n"
    )
    return root


@pytest.mark.parametrize("splits", [1, 2, 12])
def test_ingest_equals_the_local_decision_for_any_number_of_splits(tmp_path: Path, splits: int) -> None:
    texts = _texts()
    dn = load_datanet("eq", root=_project(tmp_path, texts, splits))
    report = ingest(dn, progress=lambda m: None)
    cfg = dn.config.dedup
    kept, dups = drop_duplicates_local(sketched_texts(texts, cfg, read_salt(salt_path(dn))), [], cfg)
    out = dn.out_dir
    got_dups = [r for f in sorted(out.glob("duplicates/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    got_kept = [r["record_hash"] for f in sorted(out.glob("shards/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    # the run really made ``splits`` splits: each writes one duplicates file, even when empty (a split of only
    # copies, such as the last one holding the 40 repeats, writes no shard)
    assert len(list(out.glob("duplicates/*/*.parquet"))) == splits
    assert _decisions(got_dups) == _decisions(dups)
    assert got_kept == [r["record_hash"] for r in kept]
    assert report["accepted"] == len(kept)


def _graph(rng: random.Random, n: int) -> list[tuple[Any, Any]]:
    keys = [(1, 0, "~", 0, 0, i) for i in rng.sample(range(10 * n), n)]
    edges = [(keys[i], keys[i + 1]) for i in range(n // 3)]  # a long path: more than ROUNDS rounds can resolve
    edges += [(rng.choice(keys), rng.choice(keys)) for _ in range(n // 2)]
    edges += [(keys[-1], k) for k in keys[-n // 5 :]]  # a big star
    return edges


@pytest.mark.parametrize(("seed", "buckets", "per_list"), [(1, 64, 37), (2, 3, 1), (3, 1, 500), (4, 7, 11)])
def test_distributed_components_equal_union_find(seed: int, buckets: int, per_list: int) -> None:
    """Any number of node buckets, and edges given in lists of any size, self-loops and repeats included."""
    edges = _graph(random.Random(seed), 300)
    edges += edges[:20] + [(a, a) for a, _ in edges[:5]]
    want = components([(a, b) for a, b in edges if a != b])
    lists = [edges[i : i + per_list] for i in range(0, len(edges), per_list)]
    with TestPipeline() as p:
        got = p | beam.Create(lists, reshuffle=False) | ConnectComponents(buckets)
        assert_that(got, equal_to(sorted(want.items())))


def _last_digit(node: Any) -> int:
    return int(node[5]) % 10


def test_grouped_components_are_the_same_pairs_as_lists_one_per_group_and_label_bucket() -> None:
    """With ``group``, each node's (node, root) arrives in a list under ``group(node)``, once, nothing else."""
    edges = _graph(random.Random(6), 300)
    want = components(edges)
    with TestPipeline() as p:
        got = p | beam.Create([edges[i : i + 40] for i in range(0, len(edges), 40)]) | ConnectComponents(7, _last_digit)
        flat = got | beam.FlatMap(lambda gl: [(g, pair) for g, pairs in [gl] for pair in pairs])
        assert_that(flat, equal_to([(_last_digit(n), (n, r)) for n, r in sorted(want.items())]))


def test_packed_keys_round_trip_and_sort_as_the_tuples_do() -> None:
    rng = random.Random(5)
    times = ["~", "2026-01-01T00:00:00Z", "999-01-01T00:00:00Z", "2026-01-01T00:00:01Z"]
    keys = [prior_key(rng.randrange(2**40)) for _ in range(50)]
    keys += [
        (1, 0, rng.choice(times), rng.randrange(3), rng.randrange(2**31), rng.randrange(2**40)) for _ in range(200)
    ]
    assert [unpack_key(pack_key(k)) for k in keys] == keys
    assert sorted(keys) == [unpack_key(b) for b in sorted(pack_key(k) for k in keys)]
    node = {
        "key": keys[60],
        "content_key": "ab" * 32,
        "record_hash": "cd" * 32,
        "shingles": b"12345678" * 3,
        "split": 4,
    }
    prior = {"key": keys[0], "content_key": "ef" * 32, "record_hash": "01" * 32, "shingles": b"", "prior": True}
    assert list(unpack_nodes(pack_node(node) + pack_node(prior))) == [node, prior]


def test_batch_files_regroup_exactly_as_grouping_by_the_full_key(tmp_path: Path) -> None:
    """Entries written to batch files and read back through their references give the same exact groups as
    grouping every (kind, key) by hand, whatever the coarse bucket; keys held once give nothing."""
    rng = random.Random(11)
    digests = [bytes(rng.randrange(256) for _ in range(32)).hex() for _ in range(40)]
    # digests equal in their first 24 bytes but not the last 8: only the full key may group them
    digests += [digests[0][:48] + f"{i:016x}" for i in range(3)]
    nodes = [
        {
            "key": (1, 0, "2026-01-01T00:00:00Z", 0, 0, i),
            "content_key": rng.choice(digests),
            "record_hash": rng.choice(digests),
            "shingles": rng.randbytes(8 * rng.randrange(4)),
            "split": i % 3,
        }
        for i in range(300)
    ]
    bands = np.array([[rng.randrange(6) << 61 | j for j in range(4)] for _ in nodes], dtype=np.uint64)
    bands[::7, 1] = bands[0, 2]  # the same band key in two different bands must not meet
    refs: dict[Any, list[Any]] = {}
    for a in range(0, len(nodes), 64):
        for coarse, ref in write_batch(str(tmp_path), nodes[a : a + 64], bands[a : a + 64]):
            refs.setdefault(coarse, []).append(ref)
    got: dict[str, list[list[Any]]] = {"ck": [], "rh": [], "band": []}
    for (kind, _), rs in sorted(refs.items()):
        if kind != "nodes":
            got[kind] += [sorted(g) for g in exact_groups(kind, read_slices(str(tmp_path), rs))]
    want: dict[str, dict[Any, list[Any]]] = {"ck": {}, "rh": {}, "band": {}}
    for n, bks in zip(nodes, bands, strict=True):
        want["ck"].setdefault(n["content_key"], []).append(n["key"])
        want["rh"].setdefault(n["record_hash"], []).append(n["key"])
        for j, bk in enumerate(bks):
            want["band"].setdefault((j, int(bk)), []).append((n["key"], n["content_key"]))
    for kind in got:
        assert sorted(got[kind]) == sorted(sorted(g) for g in want[kind].values() if len(g) >= 2)
    wanted = {pack_key(n["key"]) for n in nodes[::5]}
    back = [
        n
        for c, rs in refs.items()
        if c[0] == "nodes"
        for b in read_slices(str(tmp_path), rs)
        for n in unpack_nodes(b, wanted)
    ]
    assert sorted(back, key=lambda n: n["key"]) == nodes[::5]
    # the same nodes as packed entries (what crosses the shuffle to the decision), read back by unpack_nodes
    entries = [
        (key, entry)
        for c, rs in refs.items()
        if c[0] == "nodes"
        for b in read_slices(str(tmp_path), rs)
        for key, entry in node_entries(b, wanted)
    ]
    assert all(unpack_key(key) == n["key"] for key, entry in entries for n in unpack_nodes(entry))
    assert sorted(unpack_nodes(b"".join(e for _, e in entries)), key=lambda n: n["key"]) == nodes[::5]


def _group_entries(node: dict[str, Any], bands: np.ndarray) -> Iterator[tuple[tuple[str, int], bytes]]:
    """The layout, one node at a time: (coarse key, entry) for its content key, record hash and each band key."""

    def bucket(b: bytes, kind: str) -> int:
        return int.from_bytes(b[:4], "big") % GROUPS[kind]

    key = pack_key(node["key"])
    ck, rh = bytes.fromhex(node["content_key"]), bytes.fromhex(node["record_hash"])
    yield ("ck", bucket(ck, "ck")), ck + key
    yield ("rh", bucket(rh, "rh")), rh + key
    for j, bk in enumerate(bands.tolist()):
        raw = int(bk).to_bytes(8, "big")
        yield ("band", bucket(raw, "band")), bytes((j,)) + raw + key + ck


def test_pack_batch_slices_hold_exactly_what_group_entries_gives(tmp_path: Path) -> None:
    """The NumPy packing writes, per coarse key, the entries of the per-node definition in the same order."""
    rng = random.Random(3)
    nodes = [
        {
            "key": prior_key(i) if i % 9 == 0 else (1, 0, "2026-01-01T00:00:00Z", 1, 2, i),
            "content_key": rng.randbytes(32).hex(),
            "record_hash": rng.randbytes(32).hex(),
            "shingles": rng.randbytes(8 * rng.randrange(5)),
        }
        for i in range(200)
    ]
    bands = np.array([[rng.getrandbits(64) for _ in range(16)] for _ in nodes], dtype=np.uint64)
    want: dict[Any, bytes] = {}
    for node, bks in zip(nodes, bands, strict=True):
        for coarse, entry in _group_entries(node, bks):
            want[coarse] = want.get(coarse, b"") + entry
        packed = pack_node(node)
        want["nodes", node_bucket(packed[:37])] = want.get(("nodes", node_bucket(packed[:37])), b"") + packed
    data, refs = pack_batch(nodes, bands)
    assert {c: data[a : a + n] for c, a, n in refs} == want
    assert [c for c, _, _ in refs] == sorted(want)
    assert sum(n for _, _, n in refs) == len(data)
