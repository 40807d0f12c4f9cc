"""The real-text PII benchmark's corpora and metrics, on inputs small enough to check by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.realtext.corpus import (
    Unit,
    UnknownSplitError,
    code_chunks,
    common_licence_files,
    docstrings,
    licence_paragraphs,
    licence_units,
    paragraphs,
    pii_free,
    sample_units,
    site_licence_files,
    stdlib_files,
    stdlib_units,
    unique_files,
    word_count,
)
from benchmarks.realtext.diffs import diff_examples, excerpt, replaced, window
from benchmarks.realtext.measure import NINE, columns
from benchmarks.realtext.report import render_entities, render_labelled, render_pii_free
from benchmarks.realtext.scoring import (
    as_redacted,
    false_hits,
    false_rates,
    not_personal_share,
    scored_entities,
    unmatched,
)
from benchmarks.realtext.stanzas import dep5_stanzas, label_stanza, labelled_stanzas
from pipelines.core.config import PIIConfig

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: boost

Files: boost/iterator/zip_iterator.hpp
 libs/iterator/test/zip_iterator_test.cpp
Copyright: 2000-2006 David Abrahams <dave@boost.org>
 2000-2006 Thomas Becker
License: BSL-1.0
 Permission is hereby granted, free of charge, to any person or organization

Files: debian/*
Copyright: Copyright (C) 2003 Free Software Foundation, Inc.
License: GPL-2+

Files: src/odd.c
Copyright: 2001 Jane Roe and friends
License: MIT

Files: src/web.c
Copyright: 2001 Jane Roe <jane@example.org>
License: see https://example.org/licence
"""


def _texts(units: list[Unit]) -> list[str]:
    return [u.text for u in units]


def test_pii_free_drops_the_words_that_introduce_people() -> None:
    assert pii_free("def f(x):\n    return x + 1\n")
    for text in ("mail me@x.org", "Copyright 2001", "(c) 1999", "© ACME", "Authored here", "Thanks, all", "Signed-off"):
        assert not pii_free(text), text
    assert word_count("a_b, c-d 12") == 4


def test_sample_units_is_seeded_and_fits_the_word_budget() -> None:
    units = [Unit(f"word{i} " * (i % 5 + 1), f"f:{i}") for i in range(50)] + [Unit("author x", "f:99")]
    a, b = sample_units(units, 40, seed=3), sample_units(units, 40, seed=3)
    assert a == b and sum(word_count(u.text) for u in a) <= 40
    assert a != sample_units(units, 40, seed=4)
    assert all(pii_free(u.text) for u in a) and len(a) > 8


def _touch(root: Path, rels: tuple[str, ...], text: str = "x = 1\n") -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_stdlib_files_by_split_skip_tests_idlelib_and_site_packages(tmp_path: Path) -> None:
    _touch(tmp_path, ("a.py", "pkg/b.py", "pkg/sub/c.py", "test/t.py", "pkg/tests/t.py", "idlelib/i.py"))
    _touch(tmp_path, ("site-packages/s.py", "site-packages/top.py", "c.txt"))

    def listed(split: str) -> list[str]:
        return [p.relative_to(tmp_path).as_posix() for p in stdlib_files(tmp_path, split)]

    assert listed("all") == ["a.py", "pkg/b.py", "pkg/sub/c.py"]
    assert listed("tuned") == ["a.py"]
    assert listed("heldout") == ["pkg/b.py", "pkg/sub/c.py"]
    with pytest.raises(UnknownSplitError, match="heldout"):
        stdlib_files(tmp_path, "held-out")


def test_code_chunks_cover_the_file_in_runs_of_10_to_40_lines(tmp_path: Path) -> None:
    text = "".join(f"x{i} = {i}\n" for i in range(200))
    chunks = list(code_chunks(tmp_path / "m.py", text, seed=1))
    assert "".join(_texts(chunks)) == text
    assert all(10 <= c.text.count("\n") <= 40 for c in chunks[:-1])
    assert chunks[0].source.endswith("m.py:1") and chunks == list(code_chunks(tmp_path / "m.py", text, seed=1))


def test_docstrings_of_module_classes_and_functions(tmp_path: Path) -> None:
    src = '"""Module doc."""\nclass C:\n    """Class doc."""\n    def f(self):\n        """Method doc."""\n'
    assert _texts(list(docstrings(tmp_path / "m.py", src))) == ["Module doc.", "Class doc.", "Method doc."]
    assert list(docstrings(tmp_path / "bad.py", "def (:")) == []
    (tmp_path / "m.py").write_text(src + "def g():\n    'Written by Jane Roe.'\n")
    units = stdlib_units("docstrings", 100, seed=1, files=[tmp_path / "m.py"])
    assert sorted(_texts(units)) == ["Class doc.", "Method doc.", "Module doc."]


def test_unique_files_follow_symlinks_once_and_dedupe_contents(tmp_path: Path) -> None:
    common, site = tmp_path / "common", tmp_path / "site"
    _touch(common, ("GPL-3",), "GPL three\n")
    _touch(common, ("MIT",), "MIT text\n")
    (common / "GPL").symlink_to(common / "GPL-3")
    _touch(site, ("x.dist-info/LICENSE",), "MIT text\n")
    _touch(site, ("y.dist-info/LICENCE.txt",), "Apache text\n")
    files = unique_files([*common_licence_files(common), *site_licence_files(site)])
    assert [p.name for p in files] == ["GPL-3", "MIT", "LICENCE.txt"]
    assert common_licence_files(tmp_path / "missing") == [] and site_licence_files(tmp_path / "missing") == []


def test_site_licence_files_take_dist_info_licences_and_licence_files_anywhere(tmp_path: Path) -> None:
    kept = (
        "a.dist-info/LICENSE",
        "b.dist-info/licence.md",
        "c.dist-info/licenses/NOTICE",
        "c.dist-info/licenses/vendored/HAVEN_MIT",
        "pkg/_vendor/COPYING",
        "pkg/LICENSE-APACHE",
    )
    left = ("a.dist-info/METADATA", "c.dist-info/licenses/AUTHORS.txt", "pkg/license.py", "pkg/LICENSE.py", "lic/x")
    _touch(tmp_path, kept + left)
    assert [p.relative_to(tmp_path).as_posix() for p in site_licence_files(tmp_path)] == sorted(kept)


P1 = "Permission is hereby granted, free of charge, to any person obtaining a copy."
P2 = "This program is distributed in the hope that it will be useful."
P3 = "Licensed under the Apache License, Version 2.0, you may not use this file."


def test_licence_paragraphs_once_each_and_none_of_excluded(tmp_path: Path) -> None:
    _touch(tmp_path, ("GPL",), f"{P1}\n\n{P2}\n")
    _touch(tmp_path, ("MIT",), f"{P1.replace(' a ', chr(10) + 'a  ')}\n\n{P3}\n\n{P3}\n")
    units = licence_paragraphs([tmp_path / "MIT"], exclude=[tmp_path / "GPL"])
    assert [u.text for u in units] == [P3] and units[0].source == f"{tmp_path / 'MIT'}:4"


def test_licence_units_by_split(tmp_path: Path) -> None:
    common, site = tmp_path / "common", tmp_path / "site"
    _touch(common, ("GPL",), f"{P1}\n\n{P2}\n\nCopyright (C) 1989 Free Software Foundation, Inc. here\n")
    _touch(site, ("x.dist-info/LICENSE",), f"{' '.join(P1.split(' ')[::1])}  \n\n{P3}\n")
    _touch(site, ("pkg/COPYING",), f"{P3}\n\nMore text that nobody tuned anything on.\n")

    def texts(split: str) -> list[str]:
        return sorted(u.text for u in licence_units(1000, 1, split, common, site))

    assert texts("tuned") == sorted([P1, P2])
    assert texts("heldout") == sorted([P3, "More text that nobody tuned anything on."])
    assert texts("all") == sorted([P1, P2, P3, "More text that nobody tuned anything on."])
    with pytest.raises(UnknownSplitError):
        licence_units(1000, 1, "everything", common, site)


def test_paragraphs_split_on_blank_lines_and_name_their_line(tmp_path: Path) -> None:
    text = "one two three four five\nsix\n\n  \nshort one\n\nseven eight nine ten eleven\n\f\ntwelve a b c d\n"
    paras = list(paragraphs(tmp_path / "L", text))
    assert _texts(paras) == ["one two three four five\nsix", "seven eight nine ten eleven", "twelve a b c d"]
    assert [p.source.rsplit(":", 1)[1] for p in paras] == ["1", "7", "9"]


def test_dep5_stanzas_keep_files_copyright_and_license_lines_only() -> None:
    stanzas = dep5_stanzas(COPYRIGHT)
    assert stanzas[0] == (
        "Files: boost/iterator/zip_iterator.hpp\n"
        "Copyright: 2000-2006 David Abrahams <dave@boost.org>\n"
        " 2000-2006 Thomas Becker\n"
        "License: BSL-1.0"
    )
    assert len(stanzas) == 4  # the header stanza has no Copyright field
    assert dep5_stanzas("Upstream-Name: x\nCopyright: 2001 Jane Roe <jane@example.org>\n") == []


def test_label_stanza_gold_spans() -> None:
    person, org, odd, web = dep5_stanzas(COPYRIGHT)
    spans = label_stanza(person, frozenset({"Thomas Becker"}))
    assert spans is not None
    assert [(person[s:e], kind) for s, e, kind in spans] == [
        ("David Abrahams", "PERSON"),
        ("dave@boost.org", "EMAIL_ADDRESS"),
        ("Thomas Becker", "PERSON"),
    ]
    assert label_stanza(person) is None  # a bare name is labelled only when credited with an address elsewhere
    assert label_stanza(org) == []
    assert label_stanza(odd, frozenset({"Jane Roe"})) is None
    assert label_stanza(web) is None


def test_label_stanza_refuses_unlabelled_addresses_and_mixed_holders() -> None:
    assert label_stanza("Files: *\nCopyright: 2001 Jane Roe <jane@x.org> and Joe Bloggs <joe@x.org>") is None
    assert label_stanza("Files: a@b\nCopyright: 2001 Jane Roe <jane@x.org>") is None
    assert label_stanza("Copyright: 2001 Debian Developers <debian@x.org>") is None
    for stanza in ("Copyright: Copyright (C) 2001 Jane Roe <jane@x.org>", "Copyright:\n © 2001, Jane Roe <jane@x.org>"):
        assert [stanza[s:e] for s, e, _ in label_stanza(stanza) or []] == ["Jane Roe", "jane@x.org"]


def test_labelled_stanzas_dedupe_and_sample_deterministically(tmp_path: Path) -> None:
    for pkg in ("a", "b"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "copyright").write_text(COPYRIGHT)
    every = labelled_stanzas(frozenset({"Thomas Becker"}), 10, seed=1, root=tmp_path)
    assert [u.source for u, _ in every] == [str(tmp_path / "a" / "copyright")] * 2
    one = labelled_stanzas(frozenset({"Thomas Becker"}), 1, seed=1, root=tmp_path)
    assert len(one) == 1 and one == labelled_stanzas(frozenset({"Thomas Becker"}), 1, seed=1, root=tmp_path)


def test_as_redacted_applies_the_anonymizer_conflict_rule() -> None:
    spans = [(10, 30, "EMAIL_ADDRESS"), (15, 30, "URL"), (0, 4, "PERSON"), (2, 8, "PERSON"), (40, 45, "X")]
    assert as_redacted([*spans, (40, 45, "Y")]) == [(0, 8, "PERSON"), (10, 30, "EMAIL_ADDRESS"), (40, 45, "Y")]
    scores = [1.0, 1.0, 0.5, 0.5, 0.85, 0.6]
    assert as_redacted([*spans, (40, 45, "Y")], scores)[-1] == (40, 45, "X")  # equal offsets: the higher score


def test_as_redacted_merges_same_type_runs_with_their_best_score() -> None:
    spans = [(0, 5, "LOCATION"), (3, 9, "LOCATION"), (0, 9, "PERSON")]
    assert as_redacted(spans, [0.85, 0.6, 0.7]) == [(0, 9, "LOCATION")]
    assert as_redacted(spans, [0.5, 0.6, 0.7]) == [(0, 9, "PERSON")]
    assert as_redacted([(0, 4, "A"), (4, 8, "A")]) == [(0, 4, "A"), (4, 8, "A")]  # touching is no overlap


def test_false_rates_and_hits_by_hand() -> None:
    units = [Unit("alpha beta gamma delta", "f:1"), Unit("one two three four five six", "f:9")]
    spans = [[(0, 5, "PERSON"), (6, 10, "URL")], []]
    r = false_rates(units, spans)
    assert (r["words"], r["units_changed"], r["units_changed_pct"], r["false_redactions"]) == (10, 1, 50.0, 2)
    assert r["per_10k_words"] == 2000.0 and r["by_entity"]["URL"] == {"count": 1, "per_10k_words": 1000.0}
    hits = false_hits(units, spans)
    assert hits[1] == {"entity": "URL", "text": "beta", "before": "alpha ", "after": " gamma delta", "source": "f:1"}


def test_not_personal_share_and_unmatched_by_hand() -> None:
    text = "Thomas Becker\nLicense: BSL-1.0"
    gold = [[(0, 13, "PERSON")]]
    pred = [[(0, 21, "PERSON"), (7, 13, "LOCATION")]]
    assert not_personal_share(gold, pred) == {"predicted_chars": 21, "outside_gold_chars": 8, "share": 0.381}
    assert [h["text"] for h in unmatched([text], gold, pred, ["f"])] == ["Becker"]
    assert scored_entities(pred, [[(0, 1, "URL")]]) == ["EMAIL_ADDRESS", "LOCATION", "PERSON", "URL"]


def test_columns_compare_stock_and_ours_on_nine_entities_then_ours_with_profiles() -> None:
    a, b, c = columns("some_model")
    assert (a.stock, b.stock, c.stock) == (True, False, False)
    nine = PIIConfig(entities=list(NINE), score_threshold=0.5, spacy_model="some_model")
    assert all(cfg == nine for col in (a, b) for cfg in col.configs.values()) and not a.code and not b.code
    assert c.code == frozenset({"code"}) and c.configs["code"].profile == "code"
    assert {k: cfg.profile for k, cfg in c.configs.items() if k != "code"} == dict.fromkeys(
        ("docstrings", "licences", "copyright stanzas"), "prose"
    )
    assert "URL" not in c.configs["licences"].entities and "LOCATION" not in c.configs["code"].entities
    described = c.describe()["kinds"]
    assert described["code"] == {
        "entities": list(PIIConfig(profile="code").entities),
        "threshold": 0.5,
        "profile": "code",
        "code": True,
    }
    assert b.describe()["kinds"]["licences"]["profile"] is None  # explicit entities, not a profile's


def test_splits_default_to_heldout_in_both_commands() -> None:
    import argparse

    from benchmarks.realtext.__main__ import parser
    from pipelines.cli.main import bench_arguments

    ap = argparse.ArgumentParser()
    bench_arguments(ap)
    assert ap.parse_args([]).split == "heldout" == parser().parse_args([]).split
    assert parser().parse_args(["--split", "tuned"]).split == "tuned"
    with pytest.raises(SystemExit):
        parser().parse_args(["--split", "test"])


def test_diff_excerpts_replace_spans_and_cut_around_the_first_change() -> None:
    text = "x" * 300 + " Tim Peters wrote self.request here " + "y" * 300
    at = text.index("Tim")
    stock = [(at, at + 10, "PERSON"), (at + 17, at + 29, "URL")]
    assert replaced("ab cd", [(0, 2, "P"), (1, 3, "Q"), (3, 5, "R")]) == "<P> <R>"
    lo, hi = window(text, stock, 200)
    assert (lo, hi) == (at - 66, at - 66 + 200)
    assert window(text, [(10, 20, "X"), (195, 260, "Y")], 200) == (0, 260)
    assert excerpt(text, stock, lo, hi) == "…" + "x" * 65 + " <PERSON> wrote <URL> here " + "y" * 99 + "…"
    units = {"code": [Unit(text, "f:1"), Unit("nothing", "f:2")], "docstrings": [Unit("Tim Peters", "g:1")]}
    spans = {"code": [stock, []], "docstrings": [[(0, 10, "PERSON")]]}
    ours = {"code": [[], []], "docstrings": [[]]}
    picked = diff_examples(units, spans, ours, 5, seed=1)
    assert [(d["kind"], d["source"]) for d in picked] == [("code", "f:1"), ("docstrings", "g:1")]
    assert picked[1] | {"stock_found": None} == {
        "kind": "docstrings",
        "source": "g:1",
        "before": "Tim Peters",
        "stock": "<PERSON>",
        "ours": "Tim Peters",
        "stock_found": None,
        "ours_found": [],
    }
    assert diff_examples(units, spans, ours, 1, seed=1) == diff_examples(units, spans, ours, 1, seed=1)


def test_tables_render_every_row_and_the_entity_lists() -> None:
    q = {"gold": 2, "predicted": 1, "precision": 1.0, "recall": 0.5, "f1": 0.6667}
    rates = {"words": 10, "units": 2, "units_changed_pct": 50.0, "per_10k_words": 10.0}
    kinds = {
        "code": {"entities": ["PERSON"], "threshold": 0.5, "profile": "code", "code": True},
        "licences": {"entities": ["PERSON"], "threshold": 0.5, "profile": "prose", "code": False},
    }
    result = {
        "config": {"gold": {"PERSON": 2}, "columns": {"c": {"label": "(c) ours", "kinds": kinds}}},
        "pii_free": [
            {"tool": t, "corpus": "code", "by_entity": {"URL": {"per_10k_words": 10.0}}} | rates for t in "ab"
        ],
        "labelled": [
            {"tool": t, "corpus": "stanzas", "stanzas": 1, "words": 5}
            | {"quality": {"PERSON": q, "ALL": q}, "not_personal": {"share": 0.25}}
            for t in "ab"
        ],
    }
    assert len(render_pii_free(result).splitlines()) == 4 and "| **10.0** | 10.0 |" in render_pii_free(result)
    labelled = render_labelled(result)
    assert "1.000 / 0.500 (1)" in labelled and "25.0%" in labelled and "all types" in labelled
    assert render_entities(result) == (
        "- (c) ours: code: PERSON (profile code, threshold 0.5, comments and strings only); "
        "licences: PERSON (profile prose, threshold 0.5, whole text)"
    )
