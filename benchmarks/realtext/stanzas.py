"""Labelled real text: the stanzas of Debian DEP-5 copyright files, with gold PERSON and EMAIL_ADDRESS spans.

Each stanza keeps ``Files:`` (first line), ``Copyright:`` (with its
continuation lines) and ``License:`` (first line), in their raw layout.
``label_stanza`` keeps a stanza only if every copyright holder is a person
with an address (``Name <email>``: gold PERSON and EMAIL_ADDRESS spans), an
organisation (``_NOT_A_PERSON``, no address, no gold span) or a bare name
that the machine's copyright files credit elsewhere with an address
(``real_names``: gold PERSON). Stanzas with URLs, or with an ``@`` outside
a labelled address, are dropped. The same for every split: the context
rules were never tuned on these stanzas.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from benchmarks.corpus import _CREDIT, _NOT_A_PERSON, _read_text
from benchmarks.metrics import Span
from benchmarks.realtext.corpus import Unit

_FIELD = re.compile(r"^([A-Za-z][A-Za-z-]*):")
_HOLDER_PREFIX = re.compile(r"^\s*(?:Copyright\s*:?\s*)?(?:(?:\(c\)|©)\s*)?(?:\d{4}(?:\s*[-,]\s*\d{4})*,?\s+)?", re.I)
_NOT_ONE_ORG = re.compile(r" and |&|;|/|,(?!\s*(?:Inc|Ltd|LLC|Limited|Corp|GmbH|AB)\b)")
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_STANZA_BREAK = re.compile(r"\n[ \t]*\n")


def dep5_stanzas(text: str) -> list[str]:
    """dep5_stanzas returns the stanzas of a DEP-5 copyright file, each cut to its Files/Copyright/License lines.

    A file whose first line does not start with ``Format:`` has none. Kept
    lines are the first line of ``Files:`` and ``License:`` (not the licence
    body) and every line of ``Copyright:``, unchanged and newline-joined;
    stanzas without a ``Copyright:`` field are left out.
    """
    if not text.startswith("Format:"):
        return []
    out: list[str] = []
    for block in _STANZA_BREAK.split(text):
        field, kept = "", []
        for line in block.split("\n"):
            head = _FIELD.match(line)
            field = head.group(1) if head else field
            if field == "Copyright" or (head and field in ("Files", "License")):
                kept.append(line)
        if any(_FIELD.match(x) and x.startswith("Copyright:") for x in kept):
            out.append("\n".join(kept))
    return out


def _holder_spans(line: str, known_names: frozenset[str]) -> list[Span] | None:
    """The gold spans of one copyright holder (offsets into ``line``, the field's value), or None if unclear."""
    m = _CREDIT.match(line.replace("(C)", "(c)"))
    if m and not line[m.end() :].strip(" ,.;") and not _NOT_A_PERSON.search(m.group(1)):
        at = line.index("<", m.end(1))
        return [(m.start(1), m.end(1), "PERSON"), (at + 1, m.end() - 1, "EMAIL_ADDRESS")]
    if "@" in line or "<" in line:
        return None
    prefix = _HOLDER_PREFIX.match(line)
    cut = prefix.end() if prefix else 0
    rest = line[cut:].rstrip()
    if _NOT_A_PERSON.search(rest) and not _NOT_ONE_ORG.search(rest):
        return []
    name = rest.rstrip(" ,.")
    return [(cut, cut + len(name), "PERSON")] if name in known_names else None


def label_stanza(stanza: str, known_names: frozenset[str] = frozenset()) -> list[Span] | None:
    """label_stanza returns the gold PII spans of a ``dep5_stanzas`` stanza, or None when it cannot be labelled cleanly.

    Every non-empty holder line of ``Copyright:`` must be ``Name <email>``
    (PERSON and EMAIL_ADDRESS), one organisation (no span) or a name in
    ``known_names`` (PERSON). Stanzas with a URL, or an ``@`` that is not in
    a labelled address, give None. Years and field names are never PII.
    """
    if _URL.search(stanza):
        return None
    spans: list[Span] = []
    pos, field = 0, ""
    for line in stanza.split("\n"):
        head = _FIELD.match(line)
        field = head.group(1) if head else field
        value = line[len("Copyright:") :] if head else line
        if field == "Copyright" and value.strip():
            found = _holder_spans(value, known_names)
            if found is None:
                return None
            at = pos + len(line) - len(value)
            spans += [(at + s, at + e, kind) for s, e, kind in found]
        pos += len(line) + 1
    if stanza.count("@") != sum(1 for s in spans if s[2] == "EMAIL_ADDRESS"):
        return None
    return spans


def labelled_stanzas(
    known_names: frozenset[str], cap: int, seed: int, root: Path = Path("/usr/share/doc")
) -> list[tuple[Unit, list[Span]]]:
    """labelled_stanzas returns up to ``cap`` distinct labelled stanzas of ``root/*/copyright``, with gold spans.

    Files are read in path order; identical stanzas are kept once (the first
    file names the source); a sample of ``cap`` is drawn with ``seed`` and
    returned in file order.
    """
    seen: set[str] = set()
    kept: list[tuple[Unit, list[Span]]] = []
    for path in sorted(root.glob("*/copyright")):
        for stanza in dep5_stanzas(_read_text(path)):
            spans = label_stanza(stanza, known_names)
            if spans is not None and stanza not in seen:
                seen.add(stanza)
                kept.append((Unit(stanza, str(path)), spans))
    if len(kept) > cap:
        picked = sorted(random.Random(seed).sample(range(len(kept)), cap))
        kept = [kept[i] for i in picked]
    return kept
