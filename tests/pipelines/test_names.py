"""The name recognizer: names from many naming traditions in running text, sign-offs and review lines.

These run the whole PII stage (``build_engines`` + ``redact_texts``), so they
check what a curator gets: the names are gone from the output, and ordinary
capitalised words ("General Public License", "See Also") are left alone.
"""

from __future__ import annotations

import pytest

from pipelines.core.config import PIIConfig
from pipelines.stages.anonymise.engines import build_engines, redact_texts
from pipelines.stages.anonymise.names import Gazetteer, find_names, load_gazetteer, runs

NAMES = [
    "Hiro Tanaka", "Aisha Rahman", "Tomasz Kowalski", "Ingrid Lindqvist", "Nguyen Van Minh", "Chidi Okonkwo",
    "Priya Venkataraman", "Mehmet Yılmaz", "Sipho Dlamini", "Xiaoling Zhou", "Fatima Al-Sayed", "Olumide Adeyemi",
    "Kenji Watanabe", "Lucía Fernández", "Jan van der Berg", "Bogdan Popescu", "Siobhán Ní Bhriain", "Arjun Mehta",
]  # fmt: skip
CONTEXTS = [
    "{} fixed the parser before the release and wrote the changelog entry.",
    "The patch was reviewed by {} last week.",
    "Reviewed by {}.",
    "Thanks to {} for the translation of the manual.",
    "Regards,\n{}",
    "Signed-off-by: {}",
    "Questions go to Dr. {} in the documentation team.",
]
NOT_NAMES = [
    "This program is distributed under the General Public License in the hope that it will be useful.",
    "See Also the Free Software Foundation and the Open Source Initiative for details.",
    "Will Read Data from the New File when the Long Mark is set.",
    "The Debian Project packages Python Software for many Linux systems.",
]


@pytest.fixture(scope="module")
def engines() -> object:
    return build_engines(PIIConfig(entities=["PERSON"]), b"salt")


@pytest.mark.parametrize("context", CONTEXTS)
def test_names_of_many_traditions_are_removed_in_every_context(engines: object, context: str) -> None:
    texts = [context.format(name) for name in NAMES]
    out = redact_texts(texts, engines)  # type: ignore[arg-type]
    left = [name for name, (text, _) in zip(NAMES, out, strict=True) if any(p in text for p in name.split()[-1:])]
    assert left == []
    assert all(counts.get("PERSON", 0) >= 1 for _, counts in out)


def test_capitalised_ordinary_words_are_not_names() -> None:
    gaz = load_gazetteer()
    assert [find_names(text, gaz) for text in NOT_NAMES] == [[] for _ in NOT_NAMES]


def test_rules_on_a_small_gazetteer() -> None:
    gaz = Gazetteer(
        first=frozenset({"Mark", "Aisha", "Grace"}),
        last=frozenset({"Green", "Rahman", "Hopper"}),
        common=frozenset({"Mark", "Green", "Grace"}),
        known=frozenset({"Mark", "Aisha", "Grace", "Green", "Rahman", "Hopper"}),
    )

    def names(text: str) -> list[str]:
        return [text[s:e] for s, e, _ in find_names(text, gaz)]

    assert names("we met Aisha Rahman there") == ["Aisha Rahman"]  # first + last
    assert names("we met Mark Green there") == []  # both common words, no cue
    assert names("written by Mark Green") == ["Mark Green"]  # a cue and a known word
    assert names("Grace Hopper wrote it") == ["Grace Hopper"]  # one of the two is not a common word
    assert names("thanks to Uzima Kipkorir") == []  # weak cue, neither word known
    assert names("Regards, Uzima Kipkorir") == ["Uzima Kipkorir"]  # strong cue
    assert names("Dr. Uzima Kipkorir") == ["Uzima Kipkorir"]
    assert names("aisha rahman in lower case") == []  # capitalisation is required
    assert names("Aisha bin Rahman") == ["Aisha bin Rahman"]  # particles inside a name


def test_runs_split_at_punctuation_and_keep_particles_inside() -> None:
    text = "Met Jan van der Berg, then Anna. Later Bo and J. R. Tolkien"
    got = [[w for _, _, w in r] for r in runs(text)]
    assert got == [["Met", "Jan", "van", "der", "Berg"], ["Later", "Bo"], ["J", "R", "Tolkien"]]


def test_the_recognizer_can_be_switched_off(engines: object) -> None:
    on = build_engines(PIIConfig(entities=["PERSON"]), b"salt")
    off = build_engines(PIIConfig(entities=["PERSON"], name_recognizer=False), b"salt")
    names = {r.name for r in on.batch.analyzer_engine.registry.recognizers}
    assert "DatanetsNameRecognizer" in names
    assert "DatanetsNameRecognizer" not in {r.name for r in off.batch.analyzer_engine.registry.recognizers}
    # a name spaCy's small model does not know, in a cue the gazetteer rule needs: only the recognizer finds it
    text = "Signed off by Uzima Kipkorir on behalf of the team."
    assert "Kipkorir" not in redact_texts([text], on)[0][0]
    assert "Kipkorir" in redact_texts([text], off)[0][0]
