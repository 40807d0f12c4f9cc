"""The benchmark corpus's ground truth is where it says it is, and the corpus is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.corpus import (
    ENTITIES,
    CorpusConfig,
    build_corpus,
    clean_sentences,
    generate,
    jaccard,
    render,
    sentence_pool,
)
from pipelines.core.config import load_datanet

POOL = [
    f"Sentence number {w} explains how the {v} option changes the behaviour of the {n} module."
    for w in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    for v in ("verbose", "quiet", "strict", "lenient", "fast", "safe", "legacy", "modern", "portable", "static")
    for n in ("parser", "writer", "reader", "linker", "loader", "printer", "scanner", "packer", "checker", "mapper")
]  # 1000 distinct sentences, no digits, nothing PII-like
CFG = CorpusConfig(size_bytes=300_000, seed=11, files_per_corpus=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, CFG, POOL)
    return out


def _rows(corpus: Path) -> list[tuple[dict, dict]]:
    truth = [json.loads(x) for x in (corpus / "truth.jsonl").read_text().splitlines()]
    rows = []
    for t in truth:
        lines = (corpus / "contributions" / t["file"]).read_text().splitlines()
        rows.append((json.loads(lines[t["line"] - 1]), t))
    return rows


def test_every_record_has_truth_and_counts_match_manifest(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    lines = sum(len(p.read_text().splitlines()) for p in (corpus / "contributions").glob("*.jsonl"))
    truth = (corpus / "truth.jsonl").read_text().splitlines()
    assert lines == len(truth) == manifest["records"]
    assert manifest["text_bytes"] >= CFG.size_bytes
    assert sum(len(json.loads(t)["spans"]) for t in truth) == manifest["pii_spans"] > 0


def test_spans_cover_values_of_their_entity_type(corpus: Path) -> None:
    seen: set[str] = set()
    for row, t in _rows(corpus):
        for start, end, entity in t["spans"]:
            value = row["text"][start:end]
            assert value and value == value.strip() and entity in ENTITIES
            assert value not in " ".join(POOL)  # not prose: a planted value
            seen.add(entity)
            if entity == "EMAIL_ADDRESS":
                assert "@" in value
            if entity == "IP_ADDRESS":
                assert value.count(".") == 3
            if entity in ("CREDIT_CARD", "US_SSN", "PHONE_NUMBER"):
                assert sum(c.isdigit() for c in value) >= 9
    assert seen == set(ENTITIES)


def test_text_outside_spans_is_prose_and_templates(corpus: Path) -> None:
    for row, t in _rows(corpus)[:200]:
        text = row["text"]
        for start, end, _ in sorted(t["spans"], reverse=True):
            text = text[:start] + text[end:]
        assert "@" not in text and not any(c.isdigit() for c in text)


def test_planted_clusters_are_exact_or_near_copies(corpus: Path) -> None:
    clusters: dict[int, list[str]] = {}
    for row, t in _rows(corpus):
        if t["cluster"] is not None:
            clusters.setdefault(t["cluster"], []).append(row["text"])
    assert clusters and all(len(m) >= 2 for m in clusters.values())
    exact = near = 0
    for members in clusters.values():
        first = members[0]  # the original comes first: copies are drawn from earlier records
        for other in members[1:]:
            if other == first:
                exact += 1
            else:
                near += 1
                assert jaccard(first, other, CFG.shingle_size) >= CFG.near_min_jaccard
    assert exact and near


def test_unclustered_records_are_not_near_each_other(corpus: Path) -> None:
    singles = [row["text"] for row, t in _rows(corpus) if t["cluster"] is None][:120]
    worst = max(jaccard(a, b, CFG.shingle_size) for i, a in enumerate(singles) for b in singles[i + 1 :])
    assert worst < 0.8  # below the declared dedup threshold: no unplanted duplicates


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, corpus: Path) -> None:
    build_corpus(tmp_path / "again", CFG, POOL)
    for name in ("truth.jsonl", "contributions/part-0000.jsonl", "manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (corpus / name).read_bytes()
    other = generate(CorpusConfig(size_bytes=20_000, seed=12), POOL)
    mine = generate(CorpusConfig(size_bytes=20_000, seed=11), POOL)
    assert [render(d.segments)[0] for d in other] != [render(d.segments)[0] for d in mine]


def test_declaration_loads_and_names_the_corpus(corpus: Path) -> None:
    dn = load_datanet("bench", root=corpus)
    assert dn.config.dedup.near.shingle_size == CFG.shingle_size
    assert set(dn.config.pii.entities) == set(ENTITIES)
    assert len(dn.source_files(0)) == CFG.files_per_corpus


def test_render_offsets() -> None:
    text, spans = render([("Call ", None), ("212-555-0147", "PHONE_NUMBER"), (" now.", None)])
    assert text == "Call 212-555-0147 now." and spans == [[5, 17, "PHONE_NUMBER"]]


def test_clean_sentences_drop_pii_like_prose() -> None:
    text = (
        "Mail me at a@b.org for help today please. Version 2 was released in the spring last year. "
        "This sentence is clean and long enough to keep. Copyright holders may grant other licences here."
    )
    assert list(clean_sentences(text)) == ["This sentence is clean and long enough to keep."]


def test_machine_pool_has_enough_prose() -> None:
    pool = sentence_pool(max_bytes=3_000_000)
    assert len(pool) >= 1000 and pool == sorted(set(pool))
    assert not any("@" in s or any(c.isdigit() for c in s) for s in pool)
