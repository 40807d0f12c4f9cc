"""A Presidio NLP engine that tokenises and runs spaCy's NER only where a name can be.

Presidio's stock ``SpacyNlpEngine`` runs the whole spaCy pipeline (tagger,
parser, lemmatizer, NER) over every character of every text, builds a spaCy
``Doc`` of it and computes context keywords for every token, although
Presidio reads only entity spans, and token lemmas near a match when a
recognizer asks for context. This engine

* splits each text into words and punctuation with one regular expression
  (``TOKEN``: runs of word characters, or one other non-space character);
* finds *candidates* (``is_candidate``): words starting with a capital
  letter, except stop words, single letters and acronyms of four or more
  capitals; spaCy's small models find PERSON, LOCATION, ORG and NRP from
  capitalised words;
* runs spaCy (tokenizer and ``ner`` only) on the text of windows of
  ``window`` words either side of each candidate (merged where they touch),
  and maps the entities back to offsets in the whole text;
* returns Presidio ``NlpArtifacts`` whose lemmas are the lower-cased words
  (what Presidio's context enhancer compares with recognizers' context
  words) and whose context keywords are computed only when first read.

Everything else (recognizers, context enhancement, scores, the entity
mapping) is Presidio's own code. Output is deterministic for a given model
and window. Texts with no candidate never reach spaCy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.lang.en.stop_words import STOP_WORDS

TOKEN = re.compile(r"\w+|[^\w\s]")
NER_BATCH = 256  # windows are a few words long: bigger batches keep the model's matrix products efficient
_PUNCT = re.compile(r"[^\w\s]+")


@dataclass
class Entity:
    """One NER entity in whole-text character offsets: what Presidio's ``SpacyRecognizer`` reads of a span."""

    label_: str
    start_char: int
    end_char: int
    text: str


def tokenize(text: str) -> tuple[list[str], list[int]]:
    """tokenize returns the words and punctuation marks of ``text`` (``TOKEN``) and their start offsets."""
    words, starts = [], []
    for m in TOKEN.finditer(text):
        words.append(m.group())
        starts.append(m.start())
    return words, starts


def is_candidate(word: str) -> bool:
    """is_candidate: a word of two or more letters starting with a capital, not a stop word, not an acronym.

    Capitalised stop words ("The", "If", "You") and single letters ("I",
    "C") are not names or places; neither are all-capital words of four or
    more letters ("JPEG", "POSIX"). Two- and three-letter ones stay ("UK",
    "USA").
    """
    if len(word) < 2 or not word[0].isupper() or word.lower() in STOP_WORDS:
        return False
    return not (len(word) >= 4 and word.isupper())


def candidate_windows(words: list[str], window: int) -> list[tuple[int, int]]:
    """candidate_windows returns merged half-open word ranges ``[start, end)`` to run NER on.

    A range spans ``window`` words either side of each candidate word; ranges
    that touch or overlap are merged. Sorted, disjoint, possibly empty.
    """
    out: list[tuple[int, int]] = []
    n = len(words)
    for i, word in enumerate(words):
        if not is_candidate(word):
            continue
        start, end = max(0, i - window), min(n, i + window + 1)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class LazyArtifacts(NlpArtifacts):
    """LazyArtifacts are Presidio ``NlpArtifacts`` whose context keywords are computed when first read.

    ``tokens`` are the word strings (Presidio reads only their lengths and
    truthiness); ``keywords`` are the lemmas that are neither stop words nor
    punctuation, as Presidio's ``set_keywords`` gives them, as a set.
    """

    def __init__(self, entities: list[Any], words: list[str], starts: list[int], scores: list[float]) -> None:
        self.entities = entities
        self.tokens = words  # type: ignore[assignment]
        self.tokens_indices = starts
        self.lemmas = [w.lower() for w in words]
        self.nlp_engine = None
        self.scores = scores
        self._keywords: set[str] | None = None

    @property  # type: ignore[override]
    def keywords(self) -> set[str]:
        """keywords are the non-stop-word, non-punctuation lemmas (split at ``:``), built on first use."""
        if self._keywords is None:
            self._keywords = {
                part
                for k in self.lemmas
                if k not in STOP_WORDS and not _PUNCT.fullmatch(k) and k not in ("-pron-", "be")
                for part in k.split(":")
            }
        return self._keywords

    @keywords.setter
    def keywords(self, value: Any) -> None:
        self._keywords = set(value)


class WindowedSpacyNlpEngine(SpacyNlpEngine):
    """WindowedSpacyNlpEngine is Presidio's spaCy engine with tokenising and NER restricted to candidate windows.

    ``window`` is the number of context words kept either side of a candidate.
    """

    def __init__(self, models: list[dict[str, str]], ner_model_configuration: Any, window: int) -> None:
        super().__init__(models=models, ner_model_configuration=ner_model_configuration)
        self.window = window

    def load(self) -> None:
        """load loads each model from its installed package with only its ``ner`` component enabled."""
        loaded: dict[str, Any] = {}
        for model in self.models:
            self._validate_model_params(model)
            loaded[model["lang_code"]] = spacy.load(model["model_name"], enable=["ner"])
        self.nlp = loaded  # type: ignore[assignment]

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """process_text analyses one text (see ``process_batch``)."""
        return next(iter(self.process_batch([text], language)))[1]

    def process_batch(  # type: ignore[override]
        self,
        texts: Any,
        language: str,
        batch_size: int = 64,
        n_process: int = 1,
        as_tuples: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """process_batch yields ``(text, NlpArtifacts)`` (or with context, for ``as_tuples``) in input order."""
        items = [(str(t), c) for t, c in texts] if as_tuples else [(str(t), None) for t in texts]
        tokens = [tokenize(text) for text, _ in items]
        found = self._entities(self.nlp[language], [t for t, _ in items], tokens, batch_size)  # type: ignore[index]
        for (text, context), (words, starts), ents in zip(items, tokens, found, strict=True):
            default = [float(self.ner_model_configuration.default_score or 0.85)] * len(ents)
            entities, scores = self._get_updated_entities(ents, default)  # type: ignore[arg-type]
            artifacts = LazyArtifacts(entities, words, starts, scores)
            yield (text, artifacts, context) if as_tuples else (text, artifacts)

    def _entities(
        self, nlp: Any, texts: list[str], tokens: list[tuple[list[str], list[int]]], batch_size: int
    ) -> list[list[Entity]]:
        """Run NER on each text's candidate windows; entities in whole-text offsets, per text."""
        pieces: list[tuple[int, int, str]] = []  # (text index, window start offset, window text)
        for d, (text, (words, starts)) in enumerate(zip(texts, tokens, strict=True)):
            for s, e in candidate_windows(words, self.window):
                lo, hi = starts[s], starts[e - 1] + len(words[e - 1])
                pieces.append((d, lo, text[lo:hi]))
        found: list[list[Entity]] = [[] for _ in texts]
        docs = nlp.pipe((p for _, _, p in pieces), batch_size=max(batch_size, NER_BATCH))
        for (d, lo, _), doc in zip(pieces, docs, strict=True):
            found[d] += [
                Entity(ent.label_, lo + ent.start_char, lo + ent.end_char, ent.text)
                for ent in doc.ents
                if ent.text.strip()
            ]
        return found
