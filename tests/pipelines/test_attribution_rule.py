"""The attribution rule (``pipelines.downstream.attribution.spans``): chains, filters and basis-point weights."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.downstream.attribution.index import words
from pipelines.downstream.attribution.spans import BASIS, Rule, Span, attribute_spans, chains

TEXT = (
    "the cardiologist adjusted the beta blocker dose after the echocardiogram showed improved ejection fraction "
    "and the patient reported fewer palpitations during exercise while novel words follow here at the end"
)
WS = words(TEXT)
A, B, C = (1, "a" * 64), (2, "b" * 64), (3, "c" * 64)


def _bp(records: list, unattributed: int) -> dict[int, int]:
    return {r.ledger_index: r.bp for r in records} | {-1: unattributed}


def test_one_verbatim_span_is_weighed_by_its_characters() -> None:
    records, rest = attribute_spans(TEXT, WS, [Span(0, 14, frozenset({A}))], Rule())
    covered = WS[13][1] - WS[0][0]
    assert [r.ledger_index for r in records] == [1]
    assert records[0].bp + rest == BASIS
    assert abs(records[0].bp - round(BASIS * covered / len(TEXT))) <= 1
    assert records[0].spans == [{"words": 14, "start": 0, "end": covered}]


def test_short_spans_chain_across_small_edits_and_alone_do_not_count() -> None:
    rule = Rule(min_span=8, max_gap=3)
    # two 5-word pieces of one record with a 1-word edit between them: 10 matched words, one chain
    records, _ = attribute_spans(TEXT, WS, [Span(0, 5, frozenset({A})), Span(6, 11, frozenset({A}))], rule)
    assert [r.words for r in records] == [10]
    # the same pieces 6 words apart are two chains of 5: below min_span
    records, rest = attribute_spans(TEXT, WS, [Span(0, 5, frozenset({A})), Span(11, 16, frozenset({A}))], rule)
    assert records == [] and rest == BASIS
    assert chains([(0, 5), (6, 11), (20, 26)], 3) == [[(0, 5), (6, 11)], [(20, 26)]]


def test_spans_of_common_words_and_of_too_many_records_are_dropped() -> None:
    text = "and then it was in the of the to the and then the end of it all"
    ws = words(text)
    records, rest = attribute_spans(text, ws, [Span(0, len(ws), frozenset({A}))], Rule(min_span=5))
    assert records == [] and rest == BASIS  # no content words
    many = frozenset((i, f"{i:064x}") for i in range(51))
    records, _ = attribute_spans(TEXT, WS, [Span(0, 14, many)], Rule(max_records=50))
    assert records == []


def test_characters_held_by_several_records_are_shared() -> None:
    records, rest = attribute_spans(TEXT, WS, [Span(0, 14, frozenset({A, B}))], Rule())
    assert [r.ledger_index for r in records] == [1, 2]
    assert abs(records[0].bp - records[1].bp) <= 1
    assert sum(r.bp for r in records) + rest == BASIS


def test_no_text_no_words_all_unattributed() -> None:
    assert attribute_spans("", [], [], Rule()) == ([], BASIS)
    assert attribute_spans("   ", [], [], Rule()) == ([], BASIS)


SPANS = st.lists(
    st.tuples(
        st.integers(0, len(WS) - 1), st.integers(1, len(WS)), st.sets(st.sampled_from([A, B, C]), min_size=1)
    ).map(lambda t: Span(t[0], min(len(WS), t[0] + t[1]), frozenset(t[2]))),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(SPANS, st.integers(0, 2**32), st.integers(3, 12), st.integers(0, 4))
def test_weights_sum_to_10000_and_do_not_depend_on_order(spans: list[Span], seed: int, min_span: int, gap: int) -> None:
    rule = Rule(min_span=min_span, max_gap=gap, seed=min(min_span, 5))
    records, rest = attribute_spans(TEXT, WS, spans, rule)
    assert sum(r.bp for r in records) + rest == BASIS
    assert all(r.bp >= 0 for r in records) and rest >= 0
    shuffled = list(spans)
    random.Random(seed).shuffle(shuffled)
    again, rest_again = attribute_spans(TEXT, WS, shuffled, rule)
    assert _bp(again, rest_again) == _bp(records, rest)
    assert [r.spans for r in again] == [r.spans for r in records]


def test_the_frozen_stop_words_are_spacys() -> None:
    from spacy.lang.en.stop_words import STOP_WORDS as SPACY

    from pipelines.downstream.attribution.stopwords import STOP_WORDS

    assert STOP_WORDS == SPACY and "the" in STOP_WORDS and "asthma" not in STOP_WORDS
