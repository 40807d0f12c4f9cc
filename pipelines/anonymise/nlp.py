"""A Presidio NLP engine that runs spaCy's NER only where a name can be: windows around capitalised words.

Presidio's stock ``SpacyNlpEngine`` runs the whole spaCy pipeline (tagger,
parser, lemmatizer, NER) over every character of every text, although
Presidio only reads tokens, lemmas and entities from it. This engine

* tokenises the whole text with spaCy's tokenizer (cheap);
* runs only the ``ner`` component (``en_core_web_sm`` gives it its own
  embedding layer), and only on windows of ``window`` tokens either side of
  each *candidate*: a token starting with a capital letter, unless it opens
  a sentence and is a stop word ("The", "If") - spaCy's small models find
  PERSON, LOCATION, ORG and NRP from capitalised tokens;
* sets each token's lemma to its lower-cased form, which is what Presidio's
  context enhancer compares with recognizers' context words.

Everything else (recognizers, context enhancement, scores, the entity
mapping) is Presidio's own code. Output is deterministic for a given model
and window. Texts with no candidate never reach the NER model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.attrs import LEMMA, LOWER
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

_SENTENCE_END = {".", "!", "?", ":", ";"}


def candidate_windows(doc: Doc, window: int) -> list[tuple[int, int]]:
    """candidate_windows returns merged half-open token ranges ``[start, end)`` to run NER on.

    A range spans ``window`` tokens either side of each candidate token; ranges
    that touch or overlap are merged. Sorted, disjoint, possibly empty.
    """
    out: list[tuple[int, int]] = []
    n = len(doc)
    for tok in doc:
        text = tok.text
        if not text[:1].isupper():
            continue
        opens = tok.i == 0 or doc[tok.i - 1].text in _SENTENCE_END
        if opens and tok.is_stop:
            continue
        start, end = max(0, tok.i - window), min(n, tok.i + window + 1)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class WindowedSpacyNlpEngine(SpacyNlpEngine):
    """WindowedSpacyNlpEngine is Presidio's spaCy engine with NER restricted to candidate windows.

    ``window`` is the number of context tokens kept either side of a candidate.
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
        nlp = self.nlp[language]  # type: ignore[index]
        docs = [nlp.make_doc(text) for text, _ in items]
        self._tag_entities(nlp, docs, batch_size)
        for doc, (text, context) in zip(docs, items, strict=True):
            doc.from_array([LEMMA], doc.to_array([LOWER]))
            artifacts = self._doc_to_nlp_artifact(doc, language)
            yield (text, artifacts, context) if as_tuples else (text, artifacts)

    def _tag_entities(self, nlp: Any, docs: list[Doc], batch_size: int) -> None:
        windows = [(d, s, e) for d, doc in enumerate(docs) for s, e in candidate_windows(doc, self.window)]
        found: list[list[Span]] = [[] for _ in docs]
        pieces = (docs[d][s:e].as_doc() for d, s, e in windows)
        for (d, s, _), piece in zip(windows, nlp.pipe(pieces, batch_size=batch_size), strict=True):
            found[d] += [Span(docs[d], s + ent.start, s + ent.end, label=ent.label_) for ent in piece.ents]
        for doc, spans in zip(docs, found, strict=True):
            doc.set_ents(filter_spans(spans), default="outside")
