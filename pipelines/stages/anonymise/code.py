"""Code-aware scrubbing: in a field that holds source code only comments and string literals are text.

Personal data in code lives in comments (``# Written by Ana Lima``) and in
string literals (``AUTHOR = "ana@example.org"``); identifiers, keywords
and punctuation are the code itself, and rewriting them breaks it
(``self.request`` -> ``<URL>quest``). ``prose_spans`` finds the comments
and string literals of Python, JavaScript, SQL, shell and C-family code
with one lexer that knows

* line comments ``#`` (Python, shell), ``//`` (C family, JavaScript) and
  ``--`` (SQL, when followed by a space or the end of the line);
* block comments ``/* ... */``;
* strings in ``'``, ``"`` and backticks, with backslash escapes, and
  Python's triple-quoted strings (docstrings) across lines.

An unterminated string or comment runs to the end of the text, so nothing
is hidden from the scrubber by a stray quote. ``mask_code`` keeps those
spans and blanks every other character except line breaks, so the masked
text has the original's length and line structure and a result found in
it has the same offsets in the original. Deterministic, no parsing of the
language itself: a field declared ``code: true`` in the schema is masked
before analysis whatever its language.
"""

from __future__ import annotations

import re

_START = re.compile(r"'''|\"\"\"|['\"`]|#|//|/\*|--(?=[ \t]|$)", re.M)
_STRING_END = {q: re.compile(r"(?:\\.|[^\\" + q + r"\n])*" + q if q != "`" else r"(?:\\.|[^\\`])*`") for q in "'\"`"}
_TRIPLE_END = {q: re.compile(r"(?:\\.|(?!" + q + r").)*?" + q, re.S) for q in ("'''", '"""')}
_LINE_END = re.compile(r"[^\n]*")
_BLOCK_END = re.compile(r".*?\*/", re.S)


def prose_spans(code: str) -> list[tuple[int, int]]:
    """prose_spans returns the sorted, disjoint ``[start, end)`` spans of comments and string literals in ``code``.

    Each span includes its delimiters. A string that does not close on its
    line (one-quote strings) or at all (triple quotes, block comments) runs
    to the end of that line or of the text.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _START.search(code, pos)) is not None:
        token, begin = m.group(), m.end()
        if token in _TRIPLE_END:
            end_m = _TRIPLE_END[token].match(code, begin)
        elif token in _STRING_END:
            end_m = _STRING_END[token].match(code, begin)
            end_m = end_m or _LINE_END.match(code, begin)
        elif token == "/*":
            end_m = _BLOCK_END.match(code, begin)
        else:
            end_m = _LINE_END.match(code, begin)
        end = end_m.end() if end_m is not None else len(code)
        spans.append((m.start(), end))
        pos = max(end, m.start() + 1)
    return spans


def mask_code(code: str) -> str:
    """mask_code blanks every character of ``code`` outside ``prose_spans`` with a space (line breaks kept).

    The result has the same length as ``code``; within the spans it is
    identical to ``code``.
    """
    out = [c if c == "\n" else " " for c in code]
    for start, end in prose_spans(code):
        out[start:end] = code[start:end]
    return "".join(out)
