"""Dedup decisions: exact and near, earliest kept, earlier runs win, no chains, order-independent."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.config import DedupConfig
from pipelines.core.records import dedup_text
from pipelines.stages.dedup.graph import MAX_BUCKET, bucket_pairs, components, prior_key
from pipelines.stages.dedup.local import drop_duplicates_local, sketched_texts
from pipelines.stages.dedup.minhash import (
    band_keys,
    band_params,
    exact_jaccard,
    jaccard,
    shingle_hashes,
    shingles,
    signatures,
    sketches,
)

CFG = DedupConfig()
SALT = b"test-salt-0123456789"
BASE = (
    "The patient reports intermittent chest pain radiating to the left arm over the past two weeks, "
    "worse on exertion and relieved by rest, with no fever, cough or weight loss noted at this visit. "
    "Plan is an exercise ECG, a lipid profile and review in the cardiology clinic next month."
)


def _records(texts: list[str], times: list[str] | None = None, cfg: DedupConfig = CFG) -> list[dict[str, Any]]:
    return sketched_texts(texts, cfg, SALT, times)


def _prior(texts: list[str], first_index: int = 0) -> list[dict[str, Any]]:
    return [
        {**r, "key": prior_key(first_index + i), "prior": True, "ledger_index": first_index + i}
        for i, r in enumerate(_records(texts))
    ]


def _outcome(kept: list[dict[str, Any]], dups: list[dict[str, Any]]) -> tuple[list[int], list[tuple[Any, ...]]]:
    return [r["line"] for r in kept], [(d["line"], d["kind"], d["duplicate_of"], d["similarity"]) for d in dups]


def _exact_j(a: str, b: str) -> float:
    norm = [dedup_text({"fields": {"text": t}}, ["text"], CFG.normalise) for t in (a, b)]
    sa, sb = (shingles(t, CFG.near.shingle_size) for t in norm)
    return round(len(sa & sb) / len(sa | sb), 6)


def test_shingles_and_signature_basics() -> None:
    assert shingles("a b c", 5) == {b"a b c"}
    assert len(shingles("a b c d e f g", 5)) == 3
    sig, hashed = sketches([BASE, BASE], CFG.near, SALT)
    assert np.array_equal(hashed[0], shingle_hashes(BASE, CFG.near.shingle_size, SALT))
    assert sig.shape == (2, 128) and jaccard(sig[0], sig[1]) == 1.0
    assert band_params(0.8, 128, 0.05, 0.95) == (16, 8)
    keys = band_keys(sig, 16, 8)
    assert keys.shape == (2, 16) and (keys[0] == keys[1]).all()


def test_keyed_shingle_hashes_give_the_exact_jaccard_and_depend_on_the_salt() -> None:
    other = BASE.replace("two weeks", "three weeks").replace("next month", "in six weeks")
    a, b = (shingle_hashes(t.lower(), 5, SALT) for t in (BASE, other))
    assert exact_jaccard(a, b) == _exact_j(BASE, other)
    assert exact_jaccard(a, a) == 1.0
    assert not np.array_equal(a, shingle_hashes(BASE.lower(), 5, b"another-salt-xxxxxxx"))


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(["a", "b", "é", "日", " ", "\u00a0", "ß", "\n"]), max_size=80),
    st.sampled_from([1, 3, 5]),
)
def test_shingle_hashes_are_the_keyed_blake2b_of_each_distinct_shingle(text: str, size: int) -> None:
    """The copied-state hashing gives exactly the definition: BLAKE2b-64 keyed with the salt, little-endian, sorted."""
    import hashlib

    words = text.split()
    grams = [words[i : i + size] for i in range(max(1, len(words) - size + 1))]
    want = sorted(
        {
            int.from_bytes(hashlib.blake2b(" ".join(g).encode(), digest_size=8, key=SALT).digest(), "little")
            for g in grams
        }
    )
    got = shingle_hashes(text, size, SALT)
    assert got.dtype == np.uint64 and got.tolist() == want


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=40, unique=True), max_size=12),
    st.sampled_from([16, 128]),
    st.integers(0, 3),
)
def test_batched_signatures_equal_datasketch_minhash(sets: list[list[int]], num_perm: int, seed: int) -> None:
    """signatures() gives datasketch's MinHash.bulk values, empty sets included."""
    from datasketch import MinHash

    hashed = [np.array(sorted(s), dtype=np.uint64) for s in sets]
    got = signatures(hashed, num_perm, seed)
    want = [
        m.hashvalues
        for m in MinHash.bulk(
            [h.tolist() for h in hashed], num_perm=num_perm, seed=seed, hashfunc=lambda v: v & 0xFFFFFFFF
        )
    ]
    assert got.dtype == np.uint32 and got.shape == (len(sets), num_perm)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def test_exact_copy_keeps_the_earliest_submission() -> None:
    recs = _records([BASE, BASE.upper(), "  " + BASE.replace(" ", "   ")], ["2026-05-01", "2026-01-01", "~"])
    kept, dups = drop_duplicates_local(recs, [], CFG)
    assert [r["line"] for r in kept] == [2]
    assert {(d["line"], d["kind"], d["duplicate_of"], d["similarity"]) for d in dups} == {
        (1, "exact", recs[1]["record_hash"], 1.0),
        (3, "exact", recs[1]["record_hash"], 1.0),
    }


def test_near_copy_is_dropped_with_its_exact_similarity_and_unrelated_text_is_kept() -> None:
    near = BASE.replace("two weeks", "three weeks")
    other = "Routine dermatology review of a stable psoriasis plaque on the left elbow treated with emollients."
    recs = _records([near, BASE, other], ["2026-02-01", "2026-01-01", "2026-01-01"])
    kept, dups = drop_duplicates_local(recs, [], CFG)
    assert sorted(r["line"] for r in kept) == [2, 3]
    assert _outcome([], dups)[1] == [(1, "near", recs[1]["record_hash"], _exact_j(near, BASE))]
    assert dups[0]["similarity"] >= CFG.near.threshold


def _chain() -> tuple[str, str, str]:
    """A~B and B~C at >= 0.8 exact Jaccard, but A and C below it."""
    words = (BASE + " " + BASE.replace("chest", "thoracic").replace("arm", "shoulder")).split()
    a = " ".join(words[:60])
    b = " ".join(words[:60] + ["extra", "words", "here"])
    c = " ".join(words[:60] + ["extra", "words", "here", "and", "then", "some", "more", "text", "added"])
    return a, b, c


def test_chain_keeps_the_record_similar_only_to_a_dropped_one() -> None:
    a, b, c = _chain()
    cfg = DedupConfig.model_validate({"near": {"threshold": 0.88}})
    assert _exact_j(a, b) >= 0.88 and _exact_j(b, c) >= 0.88 and _exact_j(a, c) < 0.88
    recs = _records([a, b, c], ["2026-01-01", "2026-01-02", "2026-01-03"], cfg)
    kept, dups = drop_duplicates_local(recs, [], cfg)
    assert [r["line"] for r in kept] == [1, 3]
    assert [(d["line"], d["duplicate_of"]) for d in dups] == [(2, recs[0]["record_hash"])]


def test_records_from_earlier_runs_always_win() -> None:
    prior = _prior([BASE], first_index=7)
    recs = _records([BASE, BASE.replace("two weeks", "three weeks")], ["2020-01-01", "2020-01-01"])
    kept, dups = drop_duplicates_local(recs, prior, CFG)
    assert kept == []
    assert [(d["kind"], d["duplicate_of"]) for d in dups] == [
        ("exact", prior[0]["record_hash"]),
        ("near", prior[0]["record_hash"]),
    ]


def test_exact_copy_of_a_near_duplicate_points_at_the_kept_record() -> None:
    near = BASE.replace("two weeks", "three weeks")
    recs = _records([BASE, near, near.upper()], ["2026-01-01", "2026-02-01", "2026-03-01"])
    kept, dups = drop_duplicates_local(recs, [], CFG)
    assert [r["line"] for r in kept] == [1]
    assert [(d["line"], d["kind"], d["duplicate_of"]) for d in dups] == [
        (2, "near", recs[0]["record_hash"]),
        (3, "near", recs[0]["record_hash"]),
    ]
    assert dups[0]["similarity"] == dups[1]["similarity"] >= CFG.near.threshold


def test_identical_stored_fields_are_never_both_kept() -> None:
    cfg = DedupConfig.model_validate({"exact": False, "near": {"enabled": False}})
    recs = _records([BASE, BASE, BASE.upper()], ["~", "~", "~"], cfg)
    kept, dups = drop_duplicates_local(recs, [], cfg)
    assert [r["line"] for r in kept] == [1, 3]
    assert [(d["line"], d["kind"]) for d in dups] == [(2, "exact_after_anonymisation")]


def test_large_buckets_give_linear_pairs() -> None:
    members = [((1, 0, "~", 0, 0, i), f"ck{i}") for i in range(3 * MAX_BUCKET)]
    pairs = bucket_pairs(members)
    assert len(pairs) < 3 * MAX_BUCKET * MAX_BUCKET
    assert len(bucket_pairs([((1, 0, "~", 0, 0, i), "same") for i in range(500)])) == 0
    prior_only = [(prior_key(i), f"p{i}") for i in range(5)]
    assert bucket_pairs(prior_only) == []


def test_components_root_is_the_earliest_member_whatever_the_edge_order() -> None:
    edges = [((1, 0, "b", 0, 0, 2), (1, 0, "c", 0, 0, 3)), ((1, 0, "a", 0, 0, 1), (1, 0, "c", 0, 0, 3))]
    assert set(components(edges).values()) == {(1, 0, "a", 0, 0, 1)}
    assert components(list(reversed(edges))) == components(edges)


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_decision_does_not_depend_on_input_order(rng: random.Random) -> None:
    words = BASE.split()
    a, b, c = _chain()
    texts = [BASE, BASE.upper(), BASE.replace("chest", "thoracic"), a, b, c] + [
        " ".join(rng.sample(words, len(words))) for _ in range(4)
    ]
    times = [f"2026-0{rng.randint(1, 9)}-01" for _ in texts]
    recs = _records(texts, times)
    shuffled = list(recs)
    rng.shuffle(shuffled)
    prior = _prior([texts[rng.randrange(len(texts))]], 3)
    assert _outcome(*drop_duplicates_local(recs, prior, CFG)) == _outcome(*drop_duplicates_local(shuffled, prior, CFG))
    kept, dups = drop_duplicates_local(shuffled, prior, CFG)
    kept_hashes = {r["record_hash"] for r in kept} | {p["record_hash"] for p in prior}
    assert len(kept) + len(dups) == len(texts)
    for d in dups:
        assert d["duplicate_of"] in kept_hashes
        if d["kind"] == "near":
            assert d["similarity"] >= CFG.near.threshold


def _shingles_word_by_word(text: str, size: int) -> set[bytes]:
    """The definition: each word encoded on its own, ``size`` of them joined by b" "."""
    words = text.split()
    if len(words) <= size:
        return {" ".join(words).encode("utf-8")}
    enc = [w.encode("utf-8") for w in words]
    return {b" ".join(enc[i : i + size]) for i in range(len(enc) - size + 1)}


_WORDS = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_GAPS = st.sampled_from([" ", "  ", "\n", "\t", "\xa0", "\u2028", "\x1c", "\u3000", " \r\n "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_WORDS, _GAPS), max_size=30), st.integers(1, 7))
def test_shingles_are_the_words_joined_one_by_one(parts: list[tuple[str, str]], size: int) -> None:
    text = "".join(w + g for w, g in parts)
    assert shingles(text, size) == _shingles_word_by_word(text, size)


def test_collapsing_whitespace_is_the_regex_definition_for_every_code_point() -> None:
    """``normalise`` splits on str.isspace; the definition is re's ``\\s+`` -> " ", then strip(): the same chars."""
    import re

    from pipelines.core.config import NormaliseConfig
    from pipelines.core.records import normalise

    chars = "".join(map(chr, range(0x110000)))
    regex = set(re.findall(r"\s", chars))
    assert regex == {c for c in chars if c.isspace()}
    only = NormaliseConfig(unicode_nfkc=False, lowercase=False)
    for c in sorted(regex):
        text = f"{c}a{c}{c}b c{c}"
        assert normalise(text, only) == re.sub(r"\s+", " ", text).strip() == "a b c"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"])))
def test_normalise_collapses_whitespace_as_the_regex_does(text: str) -> None:
    import re
    import unicodedata

    from pipelines.core.config import NormaliseConfig
    from pipelines.core.records import normalise

    want = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()
    assert normalise(text, NormaliseConfig()) == want
