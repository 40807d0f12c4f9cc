"""Dedup decisions: exact and near, earliest kept, earlier runs win, order-independent."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.config import DedupConfig
from pipelines.dedup.clusters import Prior, Summary, decide
from pipelines.dedup.minhash import band_keys, band_params, jaccard, shingles, signatures
from pipelines.records import content_key, normalise

CFG = DedupConfig()
BASE = (
    "The patient reports intermittent chest pain radiating to the left arm over the past two weeks, "
    "worse on exertion and relieved by rest, with no fever, cough or weight loss noted at this visit. "
    "Plan is an exercise ECG, a lipid profile and review in the cardiology clinic next month."
)


def _summary(texts: list[str], times: list[str]) -> Summary:
    norm = [normalise(t, CFG.normalise) for t in texts]
    sigs = signatures(norm, CFG.near)
    return Summary(
        [f"0/0/{i + 1}" for i in range(len(texts))],
        [(times[i], 0, 0, i + 1) for i in range(len(texts))],
        [content_key(t) for t in norm],
        list(sigs),
    )


def test_shingles_and_signature_basics() -> None:
    assert shingles("a b c", 5) == {b"a b c"}
    assert len(shingles("a b c d e f g", 5)) == 3
    sig = signatures([BASE, BASE], CFG.near)
    assert sig.shape == (2, 128) and jaccard(sig[0], sig[1]) == 1.0
    assert band_params(0.8, 128, 0.05, 0.95) == (16, 8)
    keys = band_keys(sig, 16, 8)
    assert keys.shape == (2, 16) and (keys[0] == keys[1]).all()


def test_exact_copy_keeps_the_earliest_submission() -> None:
    s = _summary([BASE, BASE.upper(), "  " + BASE.replace(" ", "   ")], ["2026-05-01", "2026-01-01", "~"])
    d = decide(s, Prior(), CFG)
    assert set(d) == {"0/0/1", "0/0/3"}
    assert all(x["kind"] == "exact" and x["of_id"] == "0/0/2" for x in d.values())


def test_near_copy_joins_the_cluster_and_unrelated_text_does_not() -> None:
    near = BASE.replace("two weeks", "three weeks")
    other = "Routine dermatology review of a stable psoriasis plaque on the left elbow treated with emollients."
    s = _summary([near, BASE, other], ["2026-02-01", "2026-01-01", "2026-01-01"])
    d = decide(s, Prior(), CFG)
    assert list(d) == ["0/0/1"] and d["0/0/1"]["kind"] == "near" and d["0/0/1"]["of_id"] == "0/0/2"
    assert 0.8 <= d["0/0/1"]["similarity"] < 1.0


def test_records_from_earlier_runs_always_win() -> None:
    s = _summary([BASE, BASE.replace("two weeks", "three weeks")], ["2020-01-01", "2020-01-01"])
    prior_norm = normalise(BASE, CFG.normalise)
    prior = Prior({content_key(prior_norm): "ab" * 32}, ["ab" * 32], signatures([prior_norm], CFG.near))
    d = decide(s, prior, CFG)
    assert d["0/0/1"] == {"kind": "exact", "of_id": None, "of_hash": "ab" * 32, "similarity": 1.0}
    assert d["0/0/2"]["kind"] == "near" and d["0/0/2"]["of_hash"] == "ab" * 32


def test_exact_copy_of_a_near_duplicate_points_at_the_kept_record() -> None:
    near = BASE.replace("two weeks", "three weeks")
    s = _summary([BASE, near, near.upper()], ["2026-01-01", "2026-02-01", "2026-03-01"])
    d = decide(s, Prior(), CFG)
    assert d["0/0/2"]["of_id"] == "0/0/1" and d["0/0/3"]["of_id"] == "0/0/1"


def test_disabled_stages_keep_everything() -> None:
    cfg = DedupConfig.model_validate({"exact": False, "near": {"enabled": False}})
    s = _summary([BASE, BASE], ["~", "~"])
    assert decide(s, Prior(), cfg) == {}


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_decision_does_not_depend_on_input_order(rng: random.Random) -> None:
    words = BASE.split()
    texts = [BASE, BASE.upper(), BASE.replace("chest", "thoracic")] + [
        " ".join(rng.sample(words, len(words))) for _ in range(5)
    ]
    times = [f"2026-0{rng.randint(1, 9)}-01" for _ in texts]
    s = _summary(texts, times)
    perm = list(range(len(texts)))
    rng.shuffle(perm)
    shuffled = Summary(
        [s.ids[i] for i in perm], [s.order[i] for i in perm], [s.keys[i] for i in perm], [s.sigs[i] for i in perm]
    )
    assert decide(s, Prior(), CFG) == decide(shuffled, Prior(), CFG)
    assert np.array_equal(np.stack(s.sigs), signatures([normalise(t, CFG.normalise) for t in texts], CFG.near))
