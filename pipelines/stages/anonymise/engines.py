"""Presidio engines for step 4 (anonymise), built offline, and the pure ``redact_texts`` over them.

``build_engines`` loads the spaCy model from its installed package (no
download) and points tldextract at its bundled public-suffix snapshot, so
no network is touched. With ``pii.ner_window > 0`` (the default) the NLP
engine is ``WindowedSpacyNlpEngine`` (NER only around capitalised words);
with ``0`` it is Presidio's stock ``SpacyNlpEngine``. Presidio's
``PhoneRecognizer`` (libphonenumber's matcher, the costliest recognizer)
runs only around clusters of digits, and recognizers that need a digit, an
``@`` or a dot skip texts without one (``gates``); results are unchanged.
With ``pii.name_recognizer`` (the default) the registry also holds
``DatanetsNameRecognizer`` (``names``), a gazetteer of first and last names.
``redact_texts`` analyses a batch with ``BatchAnalyzerEngine`` and applies
one operator per entity type. Nothing here logs text.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from pipelines.core.config import PIIConfig
from pipelines.stages.anonymise.code import mask_code
from pipelines.stages.anonymise.context import refine
from pipelines.stages.anonymise.gates import CONTEXT_NEEDS, NEEDS, gate
from pipelines.stages.anonymise.names import name_recognizer


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
# 13-19 digits, either unbroken or grouped as cards print them (4-4-4-4[-3], 4-6-4, 4-6-5), one separator kind.
CARD_PATTERN = (
    r"(?<![\w-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-])"
)
# NANP numbers: optional +1, area code bare or in brackets, 3 then 4 digits, optional extension (x12, ext. 12).
NANP_PHONE_PATTERN = (
    r"(?<![\w+.-])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?:(?: ?x| ?ext\.? ?)\d{1,6})?(?![\w-])"
)


# International numbers: "+" or "00", a country code, then 6-14 more digits in groups.
INTL_PHONE_PATTERN = r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w-])"
# National numbers with a trunk "0" (UK 020 7946 0958, FR 06 12 34 56 78, DE 030 901820 / 0170 1234567).
TRUNK_PHONE_PATTERN = r"(?<![\w+.-])0\d{1,4}(?:[ .-]?\d{2,4}){2,4}(?![\w-])"
TRUNK_REGIONS = ("GB", "FR", "DE")
TRUNK_MIN_DIGITS = 9  # with the trunk 0: 030 901820 (DE) is the shortest kept


def intl_phone_recognizer(language: str) -> Any:
    """intl_phone_recognizer finds E.164, ``00``-prefixed and UK/FR/DE trunk-prefixed phone numbers.

    A candidate is kept only if libphonenumber deems it a *possible* number
    (right length for its country): fictional ranges such as Ofcom's
    ``+44 7700 900123`` are phone-shaped and identifying, though not
    "valid", so the stock ``PhoneRecognizer`` (0.4, below the default 0.5
    threshold without a context word) lets them through.
    """
    import phonenumbers
    from presidio_analyzer import Pattern, PatternRecognizer

    def possible(text: str, region: str | None) -> bool:
        try:
            return bool(phonenumbers.is_possible_number(phonenumbers.parse(text, region)))
        except phonenumbers.NumberParseException:
            return False

    class IntlPhoneRecognizer(PatternRecognizer):
        def invalidate_result(self, pattern_text: str) -> bool | None:
            digits = "".join(c for c in pattern_text if c.isdigit())
            if pattern_text.startswith(("+", "00")):
                plus = "+" + digits[2:] if pattern_text.startswith("00") else "+" + digits
                return not (8 <= len(plus) - 1 <= 15 and possible(plus, None))
            # Shorter trunk-prefixed runs are mostly dates and years on real text ("03 2016"): 2,565 of 2,969
            # matches in 158,088 Debian doc paragraphs were under 9 digits. UK/FR numbers have 10-11, DE 9 and up.
            return len(digits) < TRUNK_MIN_DIGITS or not any(possible(pattern_text, r) for r in TRUNK_REGIONS)

    return IntlPhoneRecognizer(
        supported_entity="PHONE_NUMBER",
        name="DatanetsIntlPhoneRecognizer",
        patterns=[
            Pattern("international phone", INTL_PHONE_PATTERN, 0.5),
            Pattern("trunk phone", TRUNK_PHONE_PATTERN, 0.5),
        ],
        context=["phone", "call", "tel", "number", "mobile", "reach", "contact"],
        supported_language=language,
    )


def extra_recognizers(language: str) -> list[Any]:
    """extra_recognizers closes two recall gaps of Presidio's defaults, with Presidio's own classes.

    * every 13-19 digit number written as cards are (unbroken, or in the
      4-4-4-4, 4-6-5 or 4-6-4 groups issuers print), kept only if it passes
      ``CreditCardRecognizer``'s Luhn check (stock patterns miss Mastercard
      2-series and some issuers);
    * North American phone formats (``212-555-0147``, ``(212)555-0147``,
      ``+1 212 555 0147``, ``212.555.0147x123``) even when ``phonenumbers``
      deems the area code unassigned, since a phone-shaped number is still
      identifying;
    * international and UK/FR/DE national numbers (``intl_phone_recognizer``).
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
    return [cards, phones, intl_phone_recognizer(language)]


_DIGIT = re.compile(r"\d")


def region_floors(regions: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """region_floors: per region, the fewest digits a number it validates has, without and with a ``+``.

    A national number of region R has at least R's shortest possible length
    (libphonenumber metadata: US 10, GB 7, DE 4, ...). A number written
    internationally has a country code (one digit or more) and a national
    number of another region (4 digits or more, the shortest anywhere),
    after an international prefix ("00", "011": two digits or more) unless
    it starts with "+". So a stretch of text with fewer digits than
    ``min(R's floor, 7)`` (``min(R's floor, 5)`` if it holds a "+") holds no
    number libphonenumber would find for R.
    """
    import phonenumbers
    from phonenumbers import PhoneMetadata

    def shortest(md: Any) -> int:
        return min(x for x in md.general_desc.possible_length if x > 0)

    anywhere = min(shortest(PhoneMetadata.metadata_for_region(r)) for r in phonenumbers.SUPPORTED_REGIONS)
    floors = {}
    for r in regions:
        own = shortest(PhoneMetadata.metadata_for_region(r))
        floors[r] = (min(own, 2 + 1 + anywhere), min(own, 1 + anywhere))
    return floors


_PLUS = re.compile("[+\uff0b]")


def gated_phone_recognizer(language: str) -> Any:
    """gated_phone_recognizer is Presidio's ``PhoneRecognizer``, run only where its regions can match.

    libphonenumber runs only on ``gates.phone_windows`` (each cluster of
    digits with its surroundings), and per window only for the regions
    whose ``region_floors`` its digits reach (a window of five digits, like
    "128/82", is tried for Germany alone). The per-region loop is
    ``PhoneRecognizer.analyze``'s own. The result is the stock recognizer's
    result on the whole text (see ``gates``; tests compare them).
    """
    import phonenumbers
    from phonenumbers.phonenumberutil import NumberParseException
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from pipelines.stages.anonymise.gates import windowed

    floors = region_floors(PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS)

    class GatedPhoneRecognizer(PhoneRecognizer):
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            return windowed(self._analyze_window, text, entities, nlp_artifacts)

        def _analyze_window(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            digits, plus = len(_DIGIT.findall(text)), _PLUS.search(text) is not None
            results = []
            for region in self.supported_regions:
                if digits < floors[region][plus]:
                    continue
                for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=self.leniency):  # type: ignore[arg-type]
                    try:  # as PhoneRecognizer.analyze: the result names the number's own region
                        parsed_number = phonenumbers.parse(text[match.start : match.end])
                        found = phonenumbers.region_code_for_number(parsed_number)
                        results.append(self._get_recognizer_result(match, text, found, nlp_artifacts))
                    except NumberParseException:
                        results.append(self._get_recognizer_result(match, text, region, nlp_artifacts))
            return list(EntityRecognizer.remove_duplicates(results))

    return GatedPhoneRecognizer(supported_language=language)


def _nlp_engine(cfg: PIIConfig) -> Any:
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpEngineProvider

    from pipelines.stages.anonymise.nlp import WindowedSpacyNlpEngine

    models = [{"lang_code": cfg.language, "model_name": cfg.spacy_model}]
    try:
        if cfg.ner_window > 0:
            ner_conf = NerModelConfiguration.from_dict(NER_CONFIGURATION)
            engine = WindowedSpacyNlpEngine(models, ner_conf, cfg.ner_window)
            engine.load()
            return engine
        nlp_conf = {"nlp_engine_name": "spacy", "models": models, "ner_model_configuration": NER_CONFIGURATION}
        return NlpEngineProvider(nlp_configuration=nlp_conf).create_engine()
    except OSError as exc:
        raise PIIEngineError(f"spaCy model {cfg.spacy_model!r} is not installed: {exc}") from None


def build_engines(cfg: PIIConfig, salt: bytes) -> Engines:
    """build_engines creates Presidio engines with the configured spaCy model, fully offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    use_offline_suffix_list()
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_anonymizer import AnonymizerEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    analyzer = AnalyzerEngine(nlp_engine=_nlp_engine(cfg), supported_languages=[cfg.language])
    analyzer.registry.remove_recognizer("PhoneRecognizer")
    analyzer.registry.add_recognizer(gated_phone_recognizer(cfg.language))
    if cfg.extra_recognizers:
        for recognizer in extra_recognizers(cfg.language):
            analyzer.registry.add_recognizer(recognizer)
    if cfg.name_recognizer:
        analyzer.registry.add_recognizer(name_recognizer(cfg.language))
    gates = {**NEEDS, **CONTEXT_NEEDS} if cfg.context_rules else NEEDS
    for recognizer in analyzer.registry.recognizers:
        gate(recognizer, gates)
    default = cfg.operators.get("DEFAULT", "replace")
    operators = {e: _operator(cfg.operators.get(e, default), e, salt) for e in cfg.entities}
    return Engines(BatchAnalyzerEngine(analyzer), AnonymizerEngine(), operators, cfg)


def analyse_texts(texts: list[str], eng: Engines, code: bool = False) -> list[list[Any]]:
    """analyse_texts returns Presidio's ``RecognizerResult`` list for each text, in input order.

    With ``code`` the texts are source code: only their comments and string
    literals are analysed (``code.mask_code``; offsets are the original's).
    With ``pii.context_rules`` each text's results then go through
    ``context.refine``, which drops and trims what is not personal data
    where it stands.
    """
    cfg = eng.cfg
    seen = [mask_code(t) for t in texts] if code else texts
    found = [
        list(results)
        for results in eng.batch.analyze_iterator(
            seen,
            language=cfg.language,
            batch_size=cfg.batch_size,
            entities=cfg.entities,
            score_threshold=cfg.score_threshold,
            allow_list=cfg.allow_list or None,
        )
    ]
    if cfg.context_rules:
        lone = cfg.profile == "clinical"
        found = [refine(text, results, lone) for text, results in zip(seen, found, strict=True)]
    return found


def apply_operators(texts: list[str], found: list[list[Any]], eng: Engines) -> list[tuple[str, dict[str, int]]]:
    """apply_operators anonymises each text's analyser results; returns (text, {entity: count removed}).

    Entities whose operator is ``keep`` are left in place and not counted.
    """
    out: list[tuple[str, dict[str, int]]] = []
    for text, results in zip(texts, found, strict=True):
        if not results:
            out.append((text, {}))
            continue
        anonymised = eng.anonymizer.anonymize(text=text, analyzer_results=results, operators=eng.operators)
        counts: dict[str, int] = {}
        for item in anonymised.items:
            if item.operator != "keep":
                counts[item.entity_type] = counts.get(item.entity_type, 0) + 1
        out.append((anonymised.text, dict(sorted(counts.items()))))
    return out


def redact_texts(texts: list[str], eng: Engines, code: bool = False) -> list[tuple[str, dict[str, int]]]:
    """redact_texts returns (anonymised text, {entity type: count removed}) per input text.

    With ``code``, only comments and string literals change (``analyse_texts``).
    Deterministic for a given model, config and salt.
    """
    return apply_operators(texts, analyse_texts(texts, eng, code), eng)
