"""Stage 5, anonymise: Presidio analysis and anonymisation of every text field, offline.

``build_engines`` loads the spaCy model from its installed package (no
download) and points tldextract at its bundled public-suffix snapshot, so
no network is touched. ``redact_texts`` analyses a batch with
``nlp.pipe``-backed batch analysis and applies one operator per entity
type. Records keep counts of what was removed per entity type, never
values; nothing here logs text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipelines.config import Datanet, PIIConfig
from pipelines.records import Record


class PIIEngineError(RuntimeError):
    """The PII engines could not be built offline (e.g. the spaCy model is not installed)."""


def use_offline_suffix_list() -> None:
    """use_offline_suffix_list makes tldextract use its bundled snapshot and never fetch the PSL."""
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


@dataclass
class Engines:
    """Presidio batch analyzer and anonymizer, plus the operator configs to apply."""

    batch: Any
    anonymizer: Any
    operators: dict[str, Any]
    cfg: PIIConfig


def _operator(name: str, entity: str, salt: bytes) -> Any:
    from presidio_anonymizer.entities import OperatorConfig

    params: dict[str, dict[str, Any]] = {
        "replace": {"new_value": f"<{entity}>"},
        "mask": {"masking_char": "*", "chars_to_mask": 10_000, "from_end": False},
        "hash": {"hash_type": "sha256", "salt": salt},
        "redact": {},
        "keep": {},
    }
    return OperatorConfig(name, params[name])


# Presidio's own defaults (conf/default.yaml), stated so spaCy labels we never use are ignored quietly.
NER_CONFIGURATION: dict[str, Any] = {
    "model_to_presidio_entity_mapping": {
        "PER": "PERSON",
        "PERSON": "PERSON",
        "NORP": "NRP",
        "FAC": "LOCATION",
        "LOC": "LOCATION",
        "GPE": "LOCATION",
        "LOCATION": "LOCATION",
        "ORG": "ORGANIZATION",
        "ORGANIZATION": "ORGANIZATION",
        "DATE": "DATE_TIME",
        "TIME": "DATE_TIME",
    },
    "low_confidence_score_multiplier": 0.4,
    "low_score_entity_names": ["ORG", "ORGANIZATION"],
    "labels_to_ignore": [
        "CARDINAL",
        "EVENT",
        "LANGUAGE",
        "LAW",
        "MONEY",
        "ORDINAL",
        "PERCENT",
        "PRODUCT",
        "QUANTITY",
        "WORK_OF_ART",
    ],
}
CARD_PATTERN = r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])"
NANP_PHONE_PATTERN = r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]\d{3}[ .-]\d{4}(?!\w)"


def extra_recognizers(language: str) -> list[Any]:
    """extra_recognizers closes two recall gaps of Presidio's defaults, with Presidio's own classes.

    * every 13-19 digit card-shaped number, kept only if it passes
      ``CreditCardRecognizer``'s Luhn check (stock patterns miss Mastercard
      2-series and some issuers);
    * North American phone formats (``212-555-0147``, ``(212) 555-0147``,
      ``+1 212 555 0147``) even when ``phonenumbers`` deems the area code
      unassigned, since a phone-shaped number is still identifying.
    """
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    cards = CreditCardRecognizer(
        patterns=[Pattern("card-shaped number", CARD_PATTERN, 0.3)],
        supported_language=language,
        name="DatanetsCardRecognizer",
    )
    phones = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="DatanetsNanpPhoneRecognizer",
        patterns=[Pattern("NANP phone", NANP_PHONE_PATTERN, 0.5)],
        context=["phone", "call", "tel", "number", "mobile", "reach", "contact"],
        supported_language=language,
    )
    return [cards, phones]


def build_engines(cfg: PIIConfig, salt: bytes) -> Engines:
    """build_engines creates Presidio engines with the configured spaCy model, fully offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    use_offline_suffix_list()
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    nlp_conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": cfg.language, "model_name": cfg.spacy_model}],
        "ner_model_configuration": NER_CONFIGURATION,
    }
    try:
        nlp = NlpEngineProvider(nlp_configuration=nlp_conf).create_engine()
    except OSError as exc:
        raise PIIEngineError(f"spaCy model {cfg.spacy_model!r} is not installed: {exc}") from None
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=[cfg.language])
    if cfg.extra_recognizers:
        for recognizer in extra_recognizers(cfg.language):
            analyzer.registry.add_recognizer(recognizer)
    default = cfg.operators.get("DEFAULT", "replace")
    operators = {e: _operator(cfg.operators.get(e, default), e, salt) for e in cfg.entities}
    return Engines(BatchAnalyzerEngine(analyzer), AnonymizerEngine(), operators, cfg)


def redact_texts(texts: list[str], eng: Engines) -> list[tuple[str, dict[str, int]]]:
    """redact_texts returns (anonymised text, {entity type: count removed}) per input text.

    Entities whose operator is ``keep`` are left in place and not counted.
    Deterministic for a given model, config and salt.
    """
    cfg = eng.cfg
    results = eng.batch.analyze_iterator(
        texts,
        language=cfg.language,
        batch_size=cfg.batch_size,
        entities=cfg.entities,
        score_threshold=cfg.score_threshold,
        allow_list=cfg.allow_list or None,
    )
    out: list[tuple[str, dict[str, int]]] = []
    for text, found in zip(texts, results, strict=True):
        if not found:
            out.append((text, {}))
            continue
        anonymised = eng.anonymizer.anonymize(text=text, analyzer_results=found, operators=eng.operators)
        counts: dict[str, int] = {}
        for item in anonymised.items:
            if item.operator != "keep":
                counts[item.entity_type] = counts.get(item.entity_type, 0) + 1
        out.append((anonymised.text, dict(sorted(counts.items()))))
    return out


def anonymise_batch(batch: list[Record], text_fields: list[str], eng: Engines) -> list[Record]:
    """anonymise_batch scrubs every text field of every record; adds ``pii`` counts per entity."""
    flat = [(i, f) for i, r in enumerate(batch) for f in text_fields if r["fields"].get(f)]
    redacted = redact_texts([str(batch[i]["fields"][f]) for i, f in flat], eng)
    out = [{**r, "fields": dict(r["fields"]), "pii": {}} for r in batch]
    for (i, f), (text, counts) in zip(flat, redacted, strict=True):
        out[i]["fields"][f] = text
        for k, v in counts.items():
            out[i]["pii"][k] = out[i]["pii"].get(k, 0) + v
    for r in out:
        r["pii"] = dict(sorted(r["pii"].items()))
    return out


class _Anonymise(beam.DoFn):
    def __init__(self, cfg: PIIConfig, text_fields: list[str], salt: bytes) -> None:
        self.cfg, self.text_fields, self.salt = cfg, text_fields, salt
        self.engines: Engines | None = None

    def setup(self) -> None:
        self.engines = build_engines(self.cfg, self.salt)

    def process(self, batch: list[Record]) -> Iterator[list[Record]]:
        assert self.engines is not None
        yield anonymise_batch(batch, self.text_fields, self.engines)


class AnonymisePII(beam.PTransform):
    """AnonymisePII scrubs PII from the text fields of batches of records (Presidio, offline).

    With ``pii.enabled: false`` records pass through with empty ``pii`` counts.
    """

    def __init__(self, datanet: Datanet, salt: bytes) -> None:
        super().__init__()
        self.datanet, self.salt = datanet, salt

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        cfg = self.datanet.config.pii
        if not cfg.enabled:
            return batches | "NoPII" >> beam.Map(lambda b: [{**r, "pii": {}} for r in b])
        return batches | "Scrub" >> beam.ParDo(_Anonymise(cfg, self.datanet.schema.text_fields, self.salt))
