"""The phone pre-filter gives exactly stock libphonenumber's results (Presidio's ``PhoneRecognizer``).

``gated_phone_recognizer`` runs the stock recognizer only on ``phone_windows``
(clusters of digits with a margin). These tests compare it with the stock
recognizer on a corpus of formats, each in several surroundings, and on
random texts stitched from the same pieces, including the cases the window
rule is about: numbers closer and farther apart than the gap, extensions
after long runs of spaces and commas, letters touching the number.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipelines.stages.anonymise.engines import gated_phone_recognizer
from pipelines.stages.anonymise.gates import GAP, MARGIN, phone_windows

FORMATS = [
    # international
    "+1 212-555-0147", "+44 20 7946 0958", "+44 7700 900123", "+49 30 901820", "+49 (0)30 901820",
    "+33 6 12 34 56 78", "+91 98765 43210", "+972-3-1234567", "+55 11 91234-5678", "0049 170 1234567",
    "+61 2 9374 4000", "+81 3-1234-5678",
    # NANP
    "(212) 555-0147", "(212)555-0147", "212-555-0147", "1-800-555-0199", "+1 (650) 253-0000",
    # UK and DE national
    "020 7946 0958", "07700 900123", "0161 496 0000", "030 901820", "0170 1234567", "089/12345678",
    # extensions
    "212-555-0147 x12", "212-555-0147 ext. 123", "212.555.0147x9150", "+1 212 555 0147;ext=99",
    "(212) 555-0147 extension 7", "212-555-0147#", "020 7946 0958 ext 4",
    # dotted and slashed
    "212.555.0147", "030.901820", "212/555/0147", "+44.20.7946.0958",
    # bare digit runs
    "2125550147", "5550147", "00442079460958", "12345", "4111111111111111", "2026",
]  # fmt: skip
SURROUNDINGS = [
    "{}",
    "Call {} today.",
    "phone: {}",
    "abc{}def",
    "Reach the clinic on {}, or on {} after six.",
    "Numbers {} and {} were both disconnected in 2019.",
    "{}" + " " * 120 + "ext 5",
    "BP 128/82, HR 72, SpO2 97% on 2 L; seen 12/03/2024 and 3.5.2025, dose 2.5 mg bd; call {} if worse.",
    "{}" + ", " * 30 + "x 7",
    "{}" + "-" * 50 + "123",
    "first {} then a long stretch of ordinary words with no digits at all in it, " * 2 + "then {}",
]


def _spans(recognizer: object, text: str) -> list[tuple[int, int, float, str]]:
    found = recognizer.analyze(text, ["PHONE_NUMBER"])  # type: ignore[attr-defined]
    return sorted((r.start, r.end, r.score, r.entity_type) for r in found)


STOCK = PhoneRecognizer()
GATED = gated_phone_recognizer("en")


def test_every_format_in_every_surrounding_gives_stock_results() -> None:
    checked = found = 0
    for fmt, other in itertools.product(FORMATS, FORMATS[::7]):
        for pattern in SURROUNDINGS:
            text = pattern.format(*([fmt, other] * 3)[: pattern.count("{}")])
            want = _spans(STOCK, text)
            assert _spans(GATED, text) == want, text
            checked, found = checked + 1, found + len(want)
    assert checked == len(FORMATS) * len(FORMATS[::7]) * len(SURROUNDINGS)
    assert found > checked // 2  # the corpus is mostly numbers stock finds, not only non-matches


PIECES = st.sampled_from(
    [*FORMATS, "ext", "x", "#", ";ext=", "(", ")", "+", ".", ",", "-", "/", "1", "22", "333", "4444", "Tel", "nr"]
)
FILLER = st.sampled_from(
    ["", " ", "  ", "\t", "\n", ", ", " " * 45, "," * 45, "word", "sentence here. ", "é", "x" * 50]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(FILLER, PIECES), min_size=1, max_size=12))
def test_random_stitched_texts_give_stock_results(parts: list[tuple[str, str]]) -> None:
    text = "".join(a + b for a, b in parts)
    assert _spans(GATED, text) == _spans(STOCK, text)


def test_windows_group_digits_and_keep_margins() -> None:
    assert phone_windows("no digits here") == []
    text = "a" * 100 + "212-555-0147" + "b" * 100 + "030 901820" + "c" * 100
    first, second = phone_windows(text)
    assert first == (100 - MARGIN, 112 + MARGIN)
    assert second == (212 - MARGIN, 222 + MARGIN)
    # digits closer than GAP (runs of spaces and commas count once) share one window
    assert len(phone_windows("1" + " " * 200 + "2")) == 1
    assert len(phone_windows("1" + "y" * (GAP + 5) + "2")) == 1  # margins touch: merged
    assert len(phone_windows("1" + "y" * (GAP + 2 * MARGIN + 5) + "2")) == 2
