"""Where a match stands: rules that drop or trim recognizer results that are not personal data.

Presidio's recognizers look at a match, not at where it is. On real
technical text that makes most of what they report wrong: ``self.request``
is a URL ending in ``.re``, ``LookupError`` and ``License`` are people,
``Boston`` in the FSF's postal address is a person's location, the ZIP+4
code ``02110-1301`` is a phone number, and a name at the end of a line
swallows the field word on the next (``Thomas Becker\\nLicense``).
``refine`` reads each result in its surroundings and keeps, trims or drops
it. Every rule is a plain function of the text and the span, so the same
input always gives the same output. The rules:

* **Separators** (``split_span``): a PERSON, LOCATION, NRP or ORGANIZATION
  match never spans a line break, a tab, a field separator (``Key: value``),
  code punctuation (``( ) [ ] { } < > = ; / \\ |``) or an honorific ("Seen
  Mrs Patel" is "Seen" and "Patel"). Such a match is cut there and each
  piece is judged on its own.
* **PERSON** (``is_name``, ``is_person``): a piece is dropped when any
  word has the shape of a code identifier (``_``, digits, camel case as in
  ``LookupError``, ``BytesIO``, ``NoReturn``; ``McDonald`` and ``DiCaprio``
  are names), when it touches code (``.name`` attribute access, ``name(``
  call, ``name=``), when any word is a licence, field, code or product word
  (``NOT_NAMES``: "License", "Library", "Files", "Raises", "Linux"), when
  every word is a weekday or month ("June" alone; "June Carter" is kept),
  when a word (other than a particle such as "van") is not capitalised,
  or when it is a street after a house number ("1600 Main Street"). Unless
  a name cue stands before it ("by", "Dr.", "Regards,"; ``names.cued``) or
  an e-mail address follows it, a piece written in Latin letters is also
  dropped when it is one word (unless a weak cue precedes it and it is a
  name of four letters or more in the gazetteer, ``names``, and no common
  English word: "by Guido", not "Django", "Traceback" or "Mark"), or
  when it neither starts with a known first name nor ends with
  a known last name after a first word that is no English word at all
  ("Scrolled Canvas", "Cover Texts", "Standard Port"; "Balhaar Lal" is a
  name). After a weak cue ("by", "to" in lower case) it is enough that not
  every word is a common English word ("by Creative Commons" is not a
  person). A piece that
  an organisation's or place's word follows ("Creative Commons
  Corporation", "Santa Clara County") is not a person.
* **LOCATION**: the same separator, identifier and ``NOT_NAMES`` rules
  (``Format`` is not a place). Whether a place is personal data at all is a
  profile decision (see ``profiles``): the prose and code profiles leave
  LOCATION out, since a city named in technical text (``Boston, MA`` in a
  licence's postal address) locates an organisation, not a person.
* **URL** (``is_url``): kept with a scheme (``https://``), ``www.`` or
  ``mailto:``; a bare domain is kept only with word boundaries on both
  sides (no ``.``, ``/``, ``\\``, ``@``, letter or digit touching it, no
  ``(`` or ``=`` after it), all in lower case, and with a web suffix that
  is not also a file extension (``setup.py``, ``README.md``,
  ``module.so``): ``self.request``, ``io.BytesIO``, ``src/java.desktop``
  and ``ExtendedContext.to`` are code, not addresses. The web suffix is
  ``WEB_SUFFIXES`` (com, org, net, edu, ...) or a country code:
  ``datetime.date`` and ``self.app`` end in suffixes that are also words.
* **PHONE_NUMBER** (``is_phone``): not a US ZIP+4 code (``02110-1301``),
  not an ISO or day-month-year date, not a dotted version number
  (``2.10.1``, or any number after "version", "v", "release").
* **IP_ADDRESS**: not a loopback, unspecified, multicast or netmask
  address (``127.0.0.1``, ``0.0.0.0``, ``255.255.255.0``), nor one of the
  ranges set aside for documentation (RFC 5737, RFC 3849): they name no host.

Entities without a rule (EMAIL_ADDRESS, CREDIT_CARD, IBAN_CODE, US_SSN and
any custom entity) pass unchanged. Results are Presidio ``RecognizerResult``
objects; trimmed pieces are new results with the original's score and
metadata.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pipelines.stages.anonymise.names import COMMON_ZIPF, PARTICLES, cue_strength, load_gazetteer

NAMED = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})
# A piece of a name or place match ends at a line break, tab, field separator or code punctuation.
_SEPARATOR = re.compile(r"[\n\r\t\v\f]+| {2,}|:(?=\s|$)|[()\[\]{}<>=;/\\|\"`*#@]+|\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sir)\b\.?")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_TOKEN = re.compile(r"\S+")
_IDENTIFIER = re.compile(r"_|\d|[a-z][A-Z]|[A-Z]{2,}[a-z]{2,}|(?:Error|Exception|Warning|Iterator)$")
# Surnames written in camel case ("McDonald", "MacArthur", "DeVito", "LeBlanc", "VanDyke", "FitzGerald").
_CAMEL_NAME = re.compile(r"(?:Mc|Mac|De|Di|Da|Du|Le|La|Van|Von|Fitz)[A-Z][a-z]+")
_CODE_BEFORE = re.compile(r"[\w.]$")  # attribute access or part of a longer token: obj.Name, Foo.Bar
_CODE_AFTER = re.compile(r"^(?:\(|\.[^\W\d_]|\[|\s*=(?!=)|_)")

# Words that are never part of a person's or place's name in the texts curators bring: licence and
# packaging field words, words that open a docstring line, and software products and projects.
NOT_NAMES = frozenset(
    """
    license licence licensed licenses licences library libraries copyright copyrights files file format formats
    source sources upstream comment comments disclaimer notice notices warranty general public lesser affero
    software foundation free version versions distribution program programs module modules package packages
    project projects team teams contributors developers community
    contact name names homepage repository author authors maintainer maintainers
    raises raise returns return yields yield args arguments argument parameters parameter params param
    attributes attribute note notes example examples see also todo fixme xxx usage options option default
    true false none null self cls class def lambda import from print type types object objects string strings
    int float bool dict list tuple set bytes error errors exception exceptions warning warnings value values
    keys index data dataset table tables column columns row rows field fields record records
    linux unix gnu debian ubuntu fedora windows microsoft apple macos ios android google github gitlab
    python perl java javascript typescript rust golang haskell lisp scheme fortran cobol php sql
    apache mozilla firefox chrome chromium unicode ascii utf posix ieee iso ansi mit bsd gpl lgpl agpl mpl
    openssl openssh openbsd freebsd netbsd gcc llvm clang glibc systemd docker kubernetes
    internet web http https html xml json yaml toml csv url uri api cli gui sdk ide os io
    """.split()
)
DATE_WORDS = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()
)
# A PERSON match that ends in one of these after a house number is a street ("1600 Main Street").
STREET_WORDS = frozenset("street st avenue ave road rd lane ln drive boulevard blvd way place court ct square".split())
ENGLISH_ZIPF = (
    2.0  # an English word at all ("Scrolled" 2.8); unknown first names are rarer ("Balhaar" 0, "Tahseen" 1.1)
)
_HOUSE_NUMBER = re.compile(r"\d+[a-zA-Z]?,?\s+$")
# A PERSON match followed by one of these is the start of an organisation's or a place's name.
_ORG_AFTER = re.compile(
    r"[ \u00a0]+(?:Corporation|Corp|Inc|Incorporated|Ltd|LLC|GmbH|Foundation|University|Institute|Project|County|"
    r"City|Company|Group|Team|Society|Association|Consortium|Street|Avenue|Road|Labs?|Systems)\b"
)

# Web suffixes that are also common file extensions: a bare "name.py" is a file, not a host.
# So are the two-letter suffixes that are English words or common attribute names (``obj.id``, ``x.to``).
FILE_SUFFIXES = frozenset(
    "py pyc pyi pl pm sh rs so cc cs md ps ml mo mk gd st re ms sc ph "
    "am ai as at be by ch do id in io is it me my no to us".split()
)
# A bare host (no scheme, no www.) must end in one of these or in a country code: ".date", ".zip", ".app"
# and the other new suffixes are also words that follow a dot in code ("datetime.date", "self.app").
WEB_SUFFIXES = frozenset("com net org edu gov mil int info biz eu".split())
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_VERSION_CUE = re.compile(r"(?:\bversion|\bv|\brelease|\brev|\brevision|\bvers?\.?)\s*$", re.I)
_ZIP4 = re.compile(r"\d{5}-\d{4}")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})")
_DOTTED = re.compile(r"\d{1,2}(?:\.\d{1,3}){2,3}(?:[-+~]\w+)?")  # 2.10.1, 10.4.12-3; not 212.555.0147


def looks_like_identifier(token: str) -> bool:
    """looks_like_identifier: ``token`` has a code identifier's shape (``_``, digits, ``LookupError``, ``BytesIO``).

    Camel case is an identifier ("NoReturn", "MyLocal") unless it is a
    surname prefix's ("McDonald", "DiCaprio").
    """
    word = token.strip(".,;:!?'’\"")
    return _IDENTIFIER.search(word) is not None and not _CAMEL_NAME.fullmatch(word)


def touches_code(text: str, start: int, end: int) -> bool:
    """touches_code: the span is glued to code (``obj.Name``, ``Name(``, ``Name.attr``, ``Name =``)."""
    return _CODE_BEFORE.search(text[max(0, start - 1) : start]) is not None or bool(
        _CODE_AFTER.match(text[end : end + 3])
    )


def is_name(text: str, start: int, end: int, entity: str = "PERSON", lone_names: bool = False) -> bool:
    """is_name: ``text[start:end]`` may be the name of an ``entity`` (PERSON, LOCATION...; module doc).

    The capitalisation and name-list rules are for PERSON only: places are often common words ("Boston").
    With ``lone_names`` (recall first, clinical) capitalised words right after a house number are an address
    and stay removed ("5228 Lawrence Fields Apt", "44 Greene Burg").
    """
    piece = text[start:end]
    tokens = _TOKEN.findall(piece)
    if lone_names and piece[:1].isupper() and _HOUSE_NUMBER.search(text[max(0, start - 8) : start]):
        return True
    if not tokens or any(looks_like_identifier(t) for t in tokens) or touches_code(text, start, end):
        return False
    words = _WORD.findall(piece)
    lower = [w.lower() for w in words]
    if not words or any(w in NOT_NAMES for w in lower) or all(w in DATE_WORDS for w in lower):
        return False
    return entity != "PERSON" or is_person(text, start, end, words, lone_names)


def is_person(text: str, start: int, end: int, words: list[str], lone_names: bool = False) -> bool:
    """is_person: the capitalised ``words`` of ``text[start:end]`` can be a person's name (module doc, PERSON).

    ``lone_names`` (recall first, the clinical profile) keeps a lone capitalised word without a cue when it is a
    known name or no common English word ("Patel was seen", "lives in Garciamouth").
    """
    tokens = [t.strip(".,'’") for t in _TOKEN.findall(text[start:end])]
    if any(not t[:1].isupper() for t in tokens if t not in PARTICLES):
        return False
    if words[-1].lower() in STREET_WORDS and _HOUSE_NUMBER.search(text[max(0, start - 8) : start]):
        return False
    if _ORG_AFTER.match(text, end):
        return False
    cue = cue_strength(text, start, end)
    if cue == "strong" or not all(w.isascii() for w in words):
        return True
    gaz = load_gazetteer()
    titled = [t.title() for t in tokens if t not in PARTICLES]

    def known(token: str, names: frozenset[str] = gaz.known) -> bool:  # "Jean-Luc": every part is a name
        return all(part in names for part in token.split("-"))

    def zipf(token: str) -> float:  # "Anti-Circumvention": as English as its most English part
        return max(_zipf(part) for part in token.split("-"))

    if len(titled) == 1:  # a lone word is a name only after a cue ("by Guido"); alone it is a product ("Django")
        word = titled[0]
        if lone_names:  # recall first (clinical): any capitalised word that is a name or no common English word
            return not tokens[0].isupper() and (known(word) or _zipf(word) < COMMON_ZIPF)
        return cue == "weak" and len(word) >= 4 and not tokens[0].isupper() and known(word) and word not in gaz.common
    if known(titled[0], gaz.first):
        return True
    if cue == "weak":
        return not all(zipf(t) >= COMMON_ZIPF for t in titled)
    return known(titled[-1], gaz.last) and zipf(titled[0]) < ENGLISH_ZIPF


@lru_cache(maxsize=65536)
def _zipf(word: str) -> float:
    """_zipf: how common ``word`` is in English (wordfreq's Zipf scale: 0 unknown, 7 "the")."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word.lower(), "en"))


def is_url(text: str, start: int, end: int) -> bool:
    """is_url: ``text[start:end]`` is a web address, not a dotted identifier or file name (module doc)."""
    piece = text[start:end]
    low = piece.lower()
    if "://" in low or low.startswith(("www.", "mailto:")):
        return True
    before, after = text[max(0, start - 1) : start], text[end : end + 1]
    if re.match(r"[\w.@/\\-]", before) or re.match(r"[\w@(=\[-]", after):
        return False
    host = re.split(r"[/:?#]", piece, maxsplit=1)[0]
    if host != host.lower() or not _HOST.match(host):
        return False
    suffix = host.rsplit(".", 1)[1]
    return suffix in WEB_SUFFIXES or (len(suffix) == 2 and suffix.isalpha() and suffix not in FILE_SUFFIXES)


def is_phone(text: str, start: int, end: int) -> bool:
    """is_phone: ``text[start:end]`` is not a ZIP+4 code, a date or a version number."""
    piece = text[start:end].strip()
    if _ZIP4.fullmatch(piece) or _DATE.fullmatch(piece) or _DOTTED.fullmatch(piece):
        return False
    return _VERSION_CUE.search(text[max(0, start - 12) : start]) is None


_DOCUMENTATION = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]  # RFC 5737, RFC 3849: for examples in documentation


def is_host_address(text: str, start: int, end: int) -> bool:
    """is_host_address: an IP address that can name a host (module doc), not part of a longer dotted run."""
    if re.match(r"\.\w", text[end : end + 2]) or re.search(r"\w\.$", text[max(0, start - 2) : start]):
        return False  # "1.0.0.127.in-addr.arpa", "0.8.b.d.0.1.0.0.2.ip6.arpa"
    try:
        net = ipaddress.ip_network(text[start:end].strip("[]"), strict=False)
    except ValueError:
        return True  # a shape the recognizer knows and we do not: keep it
    ip = net.network_address
    documentation = any(n.version == net.version and net.subnet_of(n) for n in _DOCUMENTATION)  # type: ignore[arg-type]
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or documentation:
        return False
    return not (ip.version == 4 and text[start:end].startswith("255."))


# Degrees and generations after a name ("John Sloan PhD", "Martin Luther King Jr."): not part of what is removed.
NAME_SUFFIXES = frozenset("PhD Ph.D MD Jr Sr II III IV DDS DVM Esq MBA RN FRCP FRCS MRCP".split())
_LAST_TOKEN = re.compile(r"(\S+)[ \u00a0]+$")
_NEXT_TOKEN = re.compile(r"[ \u00a0]+([^\W\d_]+(?:-[^\W\d_]+)*)")


def person_edges(text: str, start: int, end: int) -> tuple[int, int]:
    """person_edges trims lower-case words off both ends of a PERSON piece ("c. Krzesimir Nowak"), and degrees
    and generations off its end ("John Sloan PhD"), and takes in
    a known first name just before it that is no common English word ("Alejandro" before spaCy's "Colomar",
    not "Call" before "Maria Garcia"); a lone known first name takes in the capitalised word after it that
    is no English word ("Frithjof" before "Hornich")."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text, start, end)]
    while tokens and not text[tokens[0][0]].isupper():
        tokens.pop(0)
    while tokens and (
        (not text[tokens[-1][0]].isupper() and text[tokens[-1][0] : tokens[-1][1]] not in PARTICLES)
        or text[tokens[-1][0] : tokens[-1][1]].strip(".,") in NAME_SUFFIXES
    ):
        tokens.pop()
    if not tokens:
        return start, start
    start, end = tokens[0][0], tokens[-1][1]
    before = _LAST_TOKEN.search(text, max(0, start - 30), start)
    gaz = load_gazetteer()
    if before and before.group(1).istitle() and before.group(1) in gaz.first and before.group(1) not in gaz.common:
        start = before.start(1)
    after = _NEXT_TOKEN.match(text, end)
    lone = len(tokens) == 1 and text[start:end] in gaz.first
    if lone and after and after.group(1).istitle() and _zipf(after.group(1)) < ENGLISH_ZIPF:
        end = after.end(1)
    return start, end


def _name_starts(text: str, start: int, end: int) -> list[int]:
    """_name_starts: where a name in ``[start, end)`` may start: ``start``, then each later word leaving two or
    more words ("Seen John Smith" is tried as "John Smith")."""
    starts = [m.start() for m in _TOKEN.finditer(text, start, end)]
    return starts[: max(1, len(starts) - 1)]


def split_span(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """split_span yields the pieces of ``[start, end)`` between separators, stripped of spaces and punctuation."""
    cut = start
    for m in _SEPARATOR.finditer(text, start, end):
        yield from _stripped(text, cut, m.start())
        cut = m.end()
    yield from _stripped(text, cut, end)


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and not (text[start].isalnum()):
        start += 1
    while end > start and not (text[end - 1].isalnum() or (text[end - 1] == "." and end - start > 1)):
        end -= 1
    if end > start:
        yield start, end


_CHECKS = {"URL": is_url, "PHONE_NUMBER": is_phone, "IP_ADDRESS": is_host_address}


def refine(text: str, results: list[Any], lone_names: bool = False) -> list[Any]:
    """refine returns the results of ``text`` that are personal data in their context, trimmed (module doc).

    Order is kept; a result cut at separators becomes one result per piece
    that passes. ``lone_names`` keeps one-word names without a cue (the
    clinical profile: recall first). Deterministic; reads nothing but ``text`` and the results.
    """
    from presidio_analyzer import RecognizerResult

    out: list[Any] = []
    for r in results:
        if r.entity_type in NAMED:
            for s, e in split_span(text, r.start, r.end):
                if r.entity_type == "PERSON":
                    s, e = person_edges(text, s, e)
                    s = next((t for t in _name_starts(text, s, e) if is_name(text, t, e, "PERSON", lone_names)), e)
                if e > s and is_name(text, s, e, r.entity_type, lone_names):
                    piece = RecognizerResult(r.entity_type, s, e, r.score, r.analysis_explanation)
                    piece.recognition_metadata = r.recognition_metadata
                    out.append(piece)
            continue
        check = _CHECKS.get(r.entity_type)
        if check is None or check(text, r.start, r.end):
            out.append(r)
    return out
