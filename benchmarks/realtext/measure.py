"""Three columns over the real-text corpora: stock Presidio, ours with stock's entities, ours as a curator gets it.

* (a) stock Presidio (``peers.stock_presidio``: default ``AnalyzerEngine``,
  same spaCy model) with ``NINE``, the nine entities our old default
  configuration gave every Presidio user, threshold 0.5, on whole texts;
* (b) our stage with the same nine entities and threshold, on whole texts,
  so the difference from (a) is our recognizers and context rules alone;
* (c) our stage as a curator gets it: profile ``prose`` for docstrings,
  licences and copyright stanzas, profile ``code`` with
  ``analyse_texts(..., code=True)`` (comments and string literals only) for
  code.

Each tool's spans are counted as its anonymizer would apply them
(``scoring.as_redacted``); raw counts are kept in ``spans_before_conflicts``.
Deterministic for one machine, split, seed and configuration; the result
holds every false hit with 30 characters of context for a human to audit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from benchmarks.metrics import Span, span_scores
from benchmarks.realtext.corpus import KINDS, Unit, pii_free_corpus, word_count
from benchmarks.realtext.diffs import diff_examples
from benchmarks.realtext.scoring import (
    as_redacted,
    false_hits,
    false_rates,
    not_personal_share,
    scored_entities,
    unmatched,
)
from benchmarks.realtext.stanzas import labelled_stanzas
from pipelines.core.config import PII_PROFILES, PIIConfig

SALT = b"realtext-bench-salt-0123456789"
SEED = 20261125
LABELLED = "copyright stanzas"
# What our configuration gave every Presidio user before profiles: Presidio's contact and account types, URL, LOCATION.
NINE = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "LOCATION",
)
Run = dict[str, Any]  # {"seconds": float, "spans": list[list[Span]], "scores": list[list[float]]}


@dataclass(frozen=True)
class Column:
    """One way of finding PII: stock Presidio or ours, a config per corpus kind, the kinds analysed as code."""

    key: str
    label: str
    stock: bool
    configs: Mapping[str, PIIConfig]
    code: frozenset[str] = frozenset()

    def describe(self) -> dict[str, Any]:
        """describe is the column as plain data: label, tool, and per kind its entities, threshold, profile, code."""
        kinds = {}
        for kind, cfg in self.configs.items():
            own = PII_PROFILES[cfg.profile]
            same = list(cfg.entities) == own["entities"] and cfg.score_threshold == own["score_threshold"]
            profiled = same and not self.stock
            kinds[kind] = {"entities": list(cfg.entities), "threshold": cfg.score_threshold}
            kinds[kind] |= {"profile": cfg.profile if profiled else None, "code": kind in self.code}
        return {"label": self.label, "stock": self.stock, "kinds": kinds}


def columns(model: str | None = None) -> list[Column]:
    """columns are (a), (b) and (c) of the module docstring, all with spaCy ``model`` (default ``PIIConfig()``'s)."""
    model = model or PIIConfig().spacy_model
    nine = PIIConfig(entities=list(NINE), score_threshold=0.5, spacy_model=model)
    prose = PIIConfig(profile="prose", spacy_model=model)
    code = PIIConfig(profile="code", spacy_model=model)
    every = (*KINDS, LABELLED)
    return [
        Column("a", f"(a) stock Presidio {version('presidio-analyzer')}", True, dict.fromkeys(every, nine)),
        Column("b", "(b) ours, same 9 entities", False, dict.fromkeys(every, nine)),
        Column(
            "c", "(c) ours, profiles", False, {k: code if k == "code" else prose for k in every}, frozenset({"code"})
        ),
    ]


# --- running the tools --------------------------------------------------------------------------------------------


def stock_runs(column: Column, groups: dict[str, list[str]]) -> dict[str, Run]:
    """stock_runs analyses each group of texts with stock Presidio and the column's config for that group."""
    from benchmarks.peers import stock_presidio

    out = {}
    for kind, texts in groups.items():
        cfg = column.configs[kind]
        out[kind] = stock_presidio(texts, list(cfg.entities), cfg.score_threshold, cfg.spacy_model)
    return out


def our_runs(column: Column, groups: dict[str, list[str]]) -> dict[str, Run]:
    """our_runs analyses each group with our engines (one build per distinct config); code kinds with ``code=True``."""
    from benchmarks.peers import WARM_UP
    from pipelines.stages.anonymise.engines import Engines, analyse_texts, build_engines

    built: dict[str, Engines] = {}
    out: dict[str, Run] = {}
    for kind, texts in groups.items():
        cfg = column.configs[kind]
        eng = built.get(cfg.model_dump_json())
        if eng is None:
            eng = built[cfg.model_dump_json()] = build_engines(cfg, SALT)
            analyse_texts([WARM_UP], eng)
        t = time.perf_counter()
        found = analyse_texts(texts, eng, code=kind in column.code)
        spans = [[(r.start, r.end, r.entity_type) for r in rs] for rs in found]
        scores = [[r.score for r in rs] for rs in found]
        out[kind] = {"seconds": time.perf_counter() - t, "spans": spans, "scores": scores}
    return out


# --- the run ------------------------------------------------------------------------------------------------------


def corpora(max_words: int, stanzas: int, seed: int, split: str) -> tuple[dict[str, list[Unit]], list[list[Span]]]:
    """corpora returns the units per corpus (``KINDS`` of ``split``, then ``LABELLED``) and the labelled gold spans."""
    from benchmarks.corpus import real_names

    units = pii_free_corpus(max_words, seed, split)
    labelled = labelled_stanzas(frozenset(real_names()), stanzas, seed)
    units[LABELLED] = [u for u, _ in labelled]
    return units, [g for _, g in labelled]


def _pii_free_row(column: Column, kind: str, units: list[Unit], run: Run) -> dict[str, Any]:
    return {"column": column.key, "tool": column.label, "corpus": kind, "seconds": round(run["seconds"], 2)} | (
        false_rates(units, run["spans"]) | {"hits": false_hits(units, run["spans"])}
    )


def _labelled_row(
    column: Column, units: list[Unit], gold: list[list[Span]], run: Run, entities: list[str]
) -> dict[str, Any]:
    texts, pred = [u.text for u in units], run["spans"]
    return {"column": column.key, "tool": column.label, "corpus": LABELLED, "stanzas": len(units)} | {
        "words": sum(word_count(t) for t in texts),
        "seconds": round(run["seconds"], 2),
        "quality": span_scores(gold, pred, entities),
        "not_personal": not_personal_share(gold, pred),
        "false_positives": unmatched(texts, gold, pred, [u.source for u in units]),
    }


def _redacted(run: Run) -> list[list[Span]]:
    return [as_redacted(found, scores) for found, scores in zip(run["spans"], run["scores"], strict=True)]


def _corpus_summary(units: dict[str, list[Unit]]) -> dict[str, Any]:
    return {
        kind: {"units": len(us), "words": sum(word_count(u.text) for u in us)}
        | {"files": len({u.source.rsplit(":", 1)[0] for u in us})}
        for kind, us in units.items()
    }


def measure(
    max_words: int = 20_000,
    stanzas: int = 1500,
    seed: int = SEED,
    split: str = "heldout",
    cols: list[Column] | None = None,
    diffs: int = 10,
) -> dict[str, Any]:
    """measure builds the corpora of ``split``, runs every column on them and scores each.

    ``split`` picks the PII-free text (``corpus.SPLITS``); the labelled
    stanzas are the same for every split.

    Returns plain data: the configuration, the corpus sizes, one
    ``pii_free`` row per column and ``KINDS`` corpus (with every false hit),
    one ``labelled`` row per column, and ``diffs``: that many seeded
    before/after excerpts of PII-free units the first or the last column
    changed.
    """
    cols = cols or columns()
    units, gold = corpora(max_words, stanzas, seed, split)
    groups = {name: [u.text for u in us] for name, us in units.items()}
    raw = {c.key: (stock_runs if c.stock else our_runs)(c, groups) for c in cols}
    spans = {key: {kind: _redacted(run) for kind, run in r.items()} for key, r in raw.items()}
    runs = {key: {kind: {**run, "spans": spans[key][kind]} for kind, run in r.items()} for key, r in raw.items()}
    entities = scored_entities(*(s[LABELLED] for s in spans.values()))
    pii_free_units = {k: units[k] for k in KINDS}
    return {
        "config": {"split": split, "max_words": max_words, "stanzas": stanzas, "seed": seed}
        | {"gold": dict(Counter(s[2] for g in gold for s in g)), "columns": {c.key: c.describe() for c in cols}},
        "corpus": _corpus_summary(units),
        "spans_before_conflicts": {k: {n: sum(map(len, r["spans"])) for n, r in v.items()} for k, v in raw.items()},
        "pii_free": [_pii_free_row(c, k, units[k], runs[c.key][k]) for c in cols for k in KINDS],
        "labelled": [_labelled_row(c, units[LABELLED], gold, runs[c.key][LABELLED], entities) for c in cols],
        "diffs": diff_examples(pii_free_units, spans[cols[0].key], spans[cols[-1].key], diffs, seed),
    }
