"""A seeded benchmark corpus with ground truth: real prose, planted PII spans and duplicate clusters.

``build_corpus(out, size_bytes, seed)`` writes a small Datanet under ``out``:

* ``contributions/part-NNNN.jsonl``: records ``{"contributor_id", "submitted_at", "text"}``;
* ``truth.jsonl``: per record, in the same order, its ``file``, ``line``, ``cluster``
  (planted duplicate cluster id, or null) and ``spans`` (``[start, end, entity]``,
  character offsets into ``text``);
* ``manifest.json``: seed, sizes, counts and the digest of the sentence pool;
* ``datanets/bench.yaml`` and ``schemas/bench_text.yaml`` declaring it.

The prose is sentences of the plain-text files under ``/usr/share/doc`` (and
the licence files of installed Python packages), filtered to drop anything
that already looks like PII (``@``, URLs, digits, "Copyright" lines), so the
planted spans are the only labelled PII. Each text is a random mix of pool
sentences with 0-3 PII sentences from ``Faker``; a planted duplicate is an exact
copy or a copy with word substitutions of an earlier record, kept only if its
word-5-gram Jaccard similarity to the original is at least ``near_min_jaccard``.
The same seed and the same pool give byte-identical output.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DOC_ROOTS = (Path("/usr/share/doc"),)
PROSE_NAMES = re.compile(r"^(copyright|readme.*|news.*|.*\.txt|.*\.md|licen[cs]e.*|notice.*)(\.gz)?$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_REJECT = re.compile(r"[@\d]|https?:|www\.|://|copyright|\(c\)|©|<|>|\||\t|_{2,}|\*|#|=|\\", re.I)

# Sentence templates per entity type; "{}" is the Faker value.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "PERSON": (
        "Please forward this to {} before the release.",
        "The patch was reviewed by {} last week.",
        "{} rewrote the parser over the summer.",
        "Thanks to {} for the translation.",
        "Reviewed by {}.",
        "Regards,\n{}\n",
        "Best wishes,\n{}\n",
        "Signed off by {} on behalf of the team.",
        "Questions go to Dr. {} in the documentation team.",
    ),
    "EMAIL_ADDRESS": ("Send questions about this package to {} instead.", "Reports can be mailed to {}."),
    "PHONE_NUMBER": ("For urgent problems call {} during office hours.", "The support line is {}."),
    "CREDIT_CARD": ("The licence fee was charged to card {} in full.", "Payment used the card number {}."),
    "US_SSN": ("The applicant listed social security number {} on the form.", "Her SSN is {} according to the file."),
    "IP_ADDRESS": ("The mirror was reached from {} without errors.", "Requests from {} were blocked."),
    "IBAN_CODE": ("Donations go to the account {} at our bank.", "Refunds are paid to IBAN {}."),
    "URL": ("Further details are published at {} for reference.", "See {} for the full list."),
    "LOCATION": ("The maintainers met in {} to plan the release.", "The next meeting will be held in {}."),
}
FAKER_METHOD = {
    "PERSON": "name",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone_number",
    "CREDIT_CARD": "credit_card_number",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ipv4",
    "IBAN_CODE": "iban",
    "URL": "url",
    "LOCATION": "city",
}
ENTITIES = tuple(TEMPLATES)
# PERSON values: a first and a last name of one of these Faker locales, romanised where Faker can (ja_JP,
# zh_CN), so names come from many naming traditions, not only Faker's English ones.
NAME_LOCALES = (
    "en_US", "en_GB", "en_IN", "en_PK", "ja_JP", "zh_CN", "pl_PL", "sv_SE", "fi_FI", "tr_TR", "yo_NG", "zu_ZA",
    "sw", "id_ID", "es_MX", "pt_BR", "de_DE", "fr_FR", "it_IT", "hu_HU", "cs_CZ", "ga_IE", "tw_GH", "nl_NL",
    "ro_RO", "hr_HR",
)  # fmt: skip
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

Segment = tuple[str, str | None]  # (text, entity type or None for prose)


@dataclass(frozen=True)
class CorpusConfig:
    """How a corpus is drawn; every field is recorded in ``manifest.json``."""

    size_bytes: int
    seed: int = 20261125
    contributors: int = 200
    min_chars: int = 300
    max_chars: int = 700
    pii_rate: float = 0.6
    duplicate_rate: float = 0.12
    exact_share: float = 0.4
    near_min_jaccard: float = 0.85
    shingle_size: int = 5
    files_per_corpus: int = 8
    name_locales: tuple[str, ...] = NAME_LOCALES


@dataclass
class Doc:
    """One generated record before rendering: its segments, contributor and planted cluster."""

    segments: list[Segment]
    contributor: str
    cluster: int | None = None
    spans: list[list[Any]] = field(default_factory=list)


def _prose_files(roots: tuple[Path, ...]) -> list[Path]:
    files = [p for r in roots if r.is_dir() for p in r.rglob("*") if p.is_file() and PROSE_NAMES.match(p.name)]
    site = Path(sys.prefix) / "lib"
    files += [p for p in site.rglob("*.dist-info/**/*") if p.is_file() and re.match(r"(?i)licen[cs]e", p.name)]
    return sorted(set(files))


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return ""


def clean_sentences(text: str) -> Iterator[str]:
    """clean_sentences yields the prose sentences of ``text`` that carry nothing PII-like."""
    flat = " ".join(text.split())
    for s in _SENTENCE_END.split(flat):
        words = s.split()
        if 6 <= len(words) <= 45 and s[-1] in ".!?" and s.isascii() and not _REJECT.search(s):
            yield s


def prose_texts(roots: tuple[Path, ...] = DOC_ROOTS, max_bytes: int = 40_000_000) -> Iterator[str]:
    """prose_texts yields the texts of the machine's prose files, in path order, until ``max_bytes`` are read."""
    read = 0
    for path in _prose_files(roots):
        text = _read_text(path)
        read += len(text)
        yield text
        if read >= max_bytes:
            return


def sentence_pool(roots: tuple[Path, ...] = DOC_ROOTS, max_bytes: int = 40_000_000) -> list[str]:
    """sentence_pool returns the sorted, de-duplicated clean sentences of the machine's prose files."""
    pool: set[str] = set()
    for text in prose_texts(roots, max_bytes):
        pool.update(clean_sentences(text))
    if len(pool) < 1000:
        raise RuntimeError(f"only {len(pool)} prose sentences found under {roots}; need at least 1000")
    return sorted(pool)


def shingle_set(text: str, size: int) -> set[str]:
    """shingle_set is the set of word ``size``-grams of lower-cased, punctuation-free ``text``."""
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}


def jaccard(a: str, b: str, size: int) -> float:
    """jaccard is the Jaccard similarity of the word ``size``-gram sets of two texts."""
    sa, sb = shingle_set(a, size), shingle_set(b, size)
    return len(sa & sb) / len(sa | sb)


def render(segments: list[Segment]) -> tuple[str, list[list[Any]]]:
    """render joins segments into text and returns the ``[start, end, entity]`` span of each PII value."""
    parts: list[str] = []
    spans: list[list[Any]] = []
    pos = 0
    for text, entity in segments:
        if entity is not None:
            spans.append([pos, pos + len(text), entity])
        parts.append(text)
        pos += len(text)
    return "".join(parts), spans


class _Generator:
    def __init__(self, cfg: CorpusConfig, pool: list[str]) -> None:
        from faker import Faker

        self.cfg, self.pool = cfg, pool
        self.rng = random.Random(cfg.seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(cfg.seed)
        self.names = {loc: Faker(loc) for loc in cfg.name_locales}
        for i, loc in enumerate(cfg.name_locales):
            self.names[loc].seed_instance(cfg.seed + i)
        self.words = sorted({w for s in pool[:5000] for w in s.split() if w.isalpha() and len(w) > 3})

    def pii_sentence(self, entity: str) -> list[Segment]:
        before, after = self.rng.choice(TEMPLATES[entity]).split("{}")
        value = self.person() if entity == "PERSON" else str(getattr(self.fake, FAKER_METHOD[entity])())
        return [(before, None), (value, entity), (after, None)]

    def person(self) -> str:
        """A first and last name from a random one of ``cfg.name_locales``."""
        fake = self.names[self.rng.choice(self.cfg.name_locales)]
        if hasattr(fake, "first_romanized_name"):
            return f"{fake.first_romanized_name()} {fake.last_romanized_name()}"
        return f"{fake.first_name()} {fake.last_name()}"

    def fresh(self) -> Doc:
        target = self.rng.randint(self.cfg.min_chars, self.cfg.max_chars)
        sentences: list[list[Segment]] = []
        length = 0
        while length < target:
            s = self.rng.choice(self.pool)
            sentences.append([(s, None)])
            length += len(s) + 1
        if self.rng.random() < self.cfg.pii_rate:
            for _ in range(self.rng.randint(1, 3)):
                at = self.rng.randint(0, len(sentences))
                sentences.insert(at, self.pii_sentence(self.rng.choice(ENTITIES)))
        segments: list[Segment] = []
        for i, sentence in enumerate(sentences):
            if i:
                segments.append((" ", None))
            segments += sentence
        return Doc(segments, self._contributor())

    def _contributor(self) -> str:
        return f"c{self.rng.randrange(self.cfg.contributors):04d}"

    def near_copy(self, doc: Doc) -> Doc | None:
        """A copy with one or two words of its prose substituted, if still similar enough."""
        segments = list(doc.segments)
        prose = [i for i, (t, e) in enumerate(segments) if e is None and len(t.split()) > 3]
        for _ in range(self.rng.randint(1, 2)):
            i = self.rng.choice(prose)
            words = segments[i][0].split(" ")
            words[self.rng.randrange(len(words))] = self.rng.choice(self.words)
            segments[i] = (" ".join(words), None)
        a, b = render(doc.segments)[0], render(segments)[0]
        if a == b or jaccard(a, b, self.cfg.shingle_size) < self.cfg.near_min_jaccard:
            return None
        return Doc(segments, self._contributor())


def generate(cfg: CorpusConfig, pool: list[str]) -> list[Doc]:
    """generate draws documents until their rendered texts reach ``cfg.size_bytes``; clusters are planted."""
    gen = _Generator(cfg, pool)
    docs: list[Doc] = []
    total, clusters = 0, 0
    while total < cfg.size_bytes:
        doc: Doc | None = None
        if docs and gen.rng.random() < cfg.duplicate_rate:
            src = docs[gen.rng.randrange(len(docs))]
            if gen.rng.random() < cfg.exact_share:
                doc = Doc(list(src.segments), gen._contributor())
            else:
                doc = gen.near_copy(src)
            if doc is not None:
                if src.cluster is None:
                    src.cluster, clusters = clusters, clusters + 1
                doc.cluster = src.cluster
        if doc is None:
            doc = gen.fresh()
        docs.append(doc)
        total += len(render(doc.segments)[0].encode("utf-8"))
    return docs


DATANET_YAML = """\
# Generated by benchmarks.corpus: a benchmark corpus, not a real Datanet.
name: bench
description: Benchmark corpus ({size} bytes, seed {seed}).
owner: bench@example.org
licence: various (see /usr/share/doc)
schema: schemas/bench_text.yaml
sources:
  - path: contributions/*.jsonl
    format: jsonl
dedup:
  exact: true
  near: {{num_perm: 128, shingle_size: {shingle}, threshold: 0.8}}
pii:
  entities: [{entities}]
  score_threshold: 0.5
output:
  shard_rows: 10000
ledger:
  origin: datanets.example/bench
"""
SCHEMA_YAML = """\
name: bench_text
fields:
  - {name: text, type: string, text: true}
"""


def build_corpus(out: Path, cfg: CorpusConfig, pool: list[str] | None = None) -> dict[str, Any]:
    """build_corpus writes the corpus, its truth and its declaration under ``out``; returns the manifest."""
    pool = pool if pool is not None else sentence_pool()
    docs = generate(cfg, pool)
    (out / "contributions").mkdir(parents=True, exist_ok=True)
    (out / "datanets").mkdir(exist_ok=True)
    (out / "schemas").mkdir(exist_ok=True)
    per_file = -(-len(docs) // cfg.files_per_corpus)
    truth_lines: list[str] = []
    for f in range(cfg.files_per_corpus):
        name = f"part-{f:04d}.jsonl"
        lines = []
        for line, doc in enumerate(docs[f * per_file : (f + 1) * per_file], start=1):
            text, spans = render(doc.segments)
            n = f * per_file + line - 1
            stamp = (_EPOCH + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            row = {"contributor_id": doc.contributor, "submitted_at": stamp, "text": text}
            lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
            truth_lines.append(
                json.dumps({"file": name, "line": line, "cluster": doc.cluster, "spans": spans}, sort_keys=True)
            )
        (out / "contributions" / name).write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    (out / "truth.jsonl").write_text("".join(x + "\n" for x in truth_lines), encoding="utf-8")
    (out / "datanets" / "bench.yaml").write_text(
        DATANET_YAML.format(size=cfg.size_bytes, seed=cfg.seed, shingle=cfg.shingle_size, entities=", ".join(ENTITIES))
    )
    (out / "schemas" / "bench_text.yaml").write_text(SCHEMA_YAML)
    manifest = {
        "config": cfg.__dict__,
        "pool_sentences": len(pool),
        "pool_sha256": hashlib.sha256("\n".join(pool).encode()).hexdigest(),
        "records": len(docs),
        "text_bytes": sum(len(render(d.segments)[0].encode()) for d in docs),
        "clusters": len({d.cluster for d in docs if d.cluster is not None}),
        "pii_spans": sum(1 for d in docs for _, e in d.segments if e is not None),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


# --- real names: people credited in Debian copyright files --------------------------------------------------------

_CREDIT = re.compile(
    r"^\s*(?:Copyright\s*:?\s*)?(?:\(c\)\s*|©\s*)?(?:\d{4}(?:\s*[-,]\s*\d{4})*,?\s+)?"
    r"([A-Z][^\W\d_]+(?:[ -][A-Z][^\W\d_'’]*\.?){1,3}|[A-Z][^\W\d_]+(?: [a-z]{1,3})? [A-Z][^\W\d_]+)"
    r"\s*<[^<>@\s]+@[^<>\s]+>",
    re.M,
)
_NOT_A_PERSON = re.compile(
    r"\b(Foundation|Project|Team|Inc|Ltd|Group|Software|Developers?|Maintainers?|Corporation|University|Limited|"
    r"Organi[sz]ation|Consortium|Authors?|Contributors?|Community|Debian|Ubuntu|GNU|Linux|Systems|Technologies)\b"
)


def real_names(roots: tuple[Path, ...] = DOC_ROOTS) -> list[str]:
    """real_names returns the sorted names of people credited with an e-mail address in Debian copyright files.

    These are real contributors' names from many naming traditions, written
    as they chose to write them; no recognizer was tuned on them.
    """
    names: set[str] = set()
    for root in roots:
        for path in sorted(root.glob("*/copyright")):
            for m in _CREDIT.finditer(_read_text(path)):
                name = " ".join(m.group(1).split())
                if not _NOT_A_PERSON.search(name):
                    names.add(name)
    return sorted(names)


def name_texts(names: list[str], pool: list[str], count: int, seed: int) -> list[tuple[str, list[list[Any]]]]:
    """name_texts returns ``count`` texts of 2-4 prose sentences around one name in a PERSON template, with spans."""
    rng = random.Random(seed)
    out: list[tuple[str, list[list[Any]]]] = []
    for name in rng.sample(names, min(count, len(names))):
        before, after = rng.choice(TEMPLATES["PERSON"]).split("{}")
        sentences: list[list[Segment]] = [[(s, None)] for s in rng.sample(pool, rng.randint(2, 4))]
        sentences.insert(rng.randint(0, len(sentences)), [(before, None), (name, "PERSON"), (after, None)])
        segments: list[Segment] = []
        for i, sentence in enumerate(sentences):
            segments += ([(" ", None)] if i else []) + sentence
        out.append(render(segments))
    return out
