"""Cheap pre-checks that let costly Presidio recognizers skip text where they cannot match.

Two kinds, both exact (the recognizers' results are unchanged on every text):

* ``phone_windows``: libphonenumber's ``PhoneNumberMatcher`` (what Presidio's
  ``PhoneRecognizer`` runs, once per region) scans the whole text with a large
  regular expression. Every number it can report contains decimal digits,
  and its candidate pattern (``phonenumbermatcher._PATTERN``) allows between
  two digits of one candidate at most 4 punctuation marks, or an extension
  marker ("ext.", "extensión", "x", "#", ";ext=": at most 12 characters
  once runs of spaces, tabs, commas and hyphens count as one). So the
  digits of a text are grouped into clusters whose gaps are shorter than
  ``GAP`` such characters, and the matcher runs only on each cluster with
  ``MARGIN`` characters either side (the pattern reaches at most 10
  characters before a first digit, and the matcher looks at one more
  character each side).
  Within a margin there is no digit, so no candidate starts or ends there
  that the whole-text scan would see differently.
  One difference is deliberate: libphonenumber stops a scan after 65,535
  candidates; a window restarts that count, so a text with more candidates
  than that can only gain matches.
* ``gate``: a recognizer listed in ``NEEDS`` runs only on text containing a
  character its patterns require (no decimal digit: no card, SSN, IBAN, IPv4
  or phone number; no ``@``: no e-mail address; no dot before a letter: no
  URL). Recognizers not listed (spaCy's, the name recognizer, any custom
  recognizer a curator adds) always run.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

GAP = 16  # collapsed characters; one candidate's digits are at most 12 apart (an extension marker)
MARGIN = 16  # a candidate starts at most 10 characters before its first digit; the matcher reads one more
_DIGIT = re.compile(r"\d")
_RUNS = re.compile(r"[\s,\-]+")

# Recognizer class name -> a character class its every match contains.
NEEDS: dict[str, re.Pattern[str]] = {
    "CreditCardRecognizer": re.compile(r"\d"),
    "UsSsnRecognizer": re.compile(r"\d"),
    "IbanRecognizer": re.compile(r"\d"),
    "IpRecognizer": re.compile(r"[\d:]"),
    "EmailRecognizer": re.compile(r"@"),
    "UrlRecognizer": re.compile(r"[.][^\W\d_]"),
    "PatternRecognizer:DatanetsNanpPhoneRecognizer": re.compile(r"\d"),
    "IntlPhoneRecognizer": re.compile(r"\d"),
}


# With the context rules on, a URL result survives only as ``context.is_url`` allows: a scheme, "www." or
# "mailto:", or a bare lower-case host ending in a web suffix (``WEB_SUFFIXES`` or two letters) with no
# letter or digit after it. A text with none of those shapes cannot keep a URL, so the recognizer skips it.
CONTEXT_NEEDS: dict[str, re.Pattern[str]] = {
    "UrlRecognizer": re.compile(
        r"(?i:://|www\.|mailto:)|[a-z0-9]\.(?:com|net|org|edu|gov|mil|int|info|biz|eu|[a-z]{2})(?![A-Za-z0-9])"
    ),
}


def phone_windows(text: str, gap: int = GAP, margin: int = MARGIN) -> list[tuple[int, int]]:
    """phone_windows returns the sorted, disjoint ``[start, end)`` ranges of ``text`` a phone number can be in.

    Each range covers one cluster of digits (consecutive digits less than
    ``gap`` characters apart once runs of spaces, commas and hyphens count
    as one, or less than ``2 * margin`` apart at all) with ``margin``
    characters either side, so ranges never overlap. No digits, no ranges.
    """
    digits = [m.start() for m in _DIGIT.finditer(text)]
    if not digits:
        return []
    clusters: list[list[int]] = [[digits[0], digits[0]]]
    for prev, pos in itertools.pairwise(digits):
        if pos - prev <= 2 * margin or len(_RUNS.sub(" ", text[prev + 1 : pos])) < gap:
            clusters[-1][1] = pos
        else:
            clusters.append([pos, pos])
    out: list[tuple[int, int]] = []
    for first, last in clusters:
        start, end = max(0, first - margin), min(len(text), last + 1 + margin)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def windowed(analyze: Callable[..., list[Any]], text: str, entities: list[str], nlp_artifacts: Any) -> list[Any]:
    """windowed runs ``analyze`` on each of ``phone_windows(text)`` and shifts the results into ``text``."""
    results: list[Any] = []
    for start, end in phone_windows(text):
        for r in analyze(text[start:end], entities, nlp_artifacts):
            r.start += start
            r.end += start
            results.append(r)
    return results


def gate_key(recognizer: Any) -> str:
    """gate_key names a recognizer in ``NEEDS``: its class, or ``PatternRecognizer:<name>`` for a plain one."""
    cls = type(recognizer).__name__
    return f"{cls}:{recognizer.name}" if cls == "PatternRecognizer" else cls


def gate(recognizer: Any, table: dict[str, re.Pattern[str]] = NEEDS) -> bool:
    """gate makes ``recognizer`` skip text without the character ``table`` lists for it; False if not listed.

    The recognizer object stays the one in Presidio's registry (its id, name,
    context and scores are unchanged); only its ``analyze`` is wrapped.
    ``table`` is ``NEEDS``, or ``{**NEEDS, **CONTEXT_NEEDS}`` when the
    context rules will drop what the stricter gate skips.
    """
    needs = table.get(gate_key(recognizer))
    if needs is None:
        return False
    inner = recognizer.analyze

    def analyze(text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        return inner(text, entities, nlp_artifacts) if needs.search(text) else []

    recognizer.analyze = analyze
    return True
