"""A Presidio recognizer for person names: a first/last-name gazetteer, cue words and capitalisation.

spaCy's small English model misses names it has rarely seen ("Signed off by
Tahseen Ubaydullah", "Thanks to Xiuying Han"), which are exactly the names of
contributors from outside the English-speaking world. ``NameRecognizer``
finds them from

* a **gazetteer** of first and last names, derived from the ``names-dataset``
  package (PyPI, Apache-2.0; 727 k first and 984 k last names with their
  popularity rank in 105 countries): a name is kept if it ranks in the top
  ``RANK`` of at least one country. Names that are also common English words
  (``wordfreq`` Zipf frequency of at least ``COMMON_ZIPF``: "Will", "Mark",
  "Long", "Data") are marked *common*;
* **capitalisation**: two to four capitalised words in a row (lower-case
  particles such as "van", "da", "bin" allowed between them, and a dot
  after a one-letter initial); a name neither starts nor ends with an
  English stop word ("The", "See", "May");
* **cue words** just before the run: "by", "to", "from", "thanks",
  "regards", honorifics ("Dr.", "Ms."), "Signed-off-by:", "Reviewed-by:".

A run is reported as PERSON when

1. it starts with a gazetteer first name and ends with a gazetteer last name,
   and not both are common words (score ``SCORE_GAZETTEER``), or
2. a cue precedes it and one of its words is in the gazetteer (score
   ``SCORE_CUE``), or
3. a strong cue (an honorific, "regards", "signed off by", "reviewed by",
   "author") precedes it, or an e-mail address in brackets follows it
   (``Linus Torvalds <torvalds@...>``, the credit line of every copyright
   file and commit; score ``SCORE_CUE``).

The gazetteer is built once per machine from the installed packages (about
20-40 s and 2 GB while building) into ``gazetteer_path()`` and read from there
afterwards (a 5 MB file, about 0.3 s). It is derived data: deleting it only
costs the rebuild. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

RANK = 5000
COMMON_ZIPF = 4.0
FORMAT = 1
SCORE_GAZETTEER = 0.7
SCORE_CUE = 0.85
NAME = "DatanetsNameRecognizer"

PARTICLES = frozenset(
    "van von de da das dos do der den del della di du le la bin binti ibn al el ter ten y zu af".split()
)
WEAK_CUES = frozenset("by to from thanks thank with cc dear and".split())
STRONG_CUES = frozenset(
    "dr mr mrs ms mx prof sir madam regards wishes cheers sincerely signed author authors maintainer "
    "reviewer contact signed-off-by reviewed-by acked-by tested-by reported-by co-authored-by".split()
)
BY_CUES = frozenset("off reviewed signed written translated maintained authored".split())
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
_GAP = re.compile(r"[ \u00a0]")
_INITIAL_GAP = re.compile(r"\.[ \u00a0]")  # after a one-letter initial: "J. Smith"
_EMAIL_AFTER = re.compile(r"[ \u00a0]*[<(\[][^\s<>()\[\]@]+@[^\s<>()\[\]@]+\.[^\W\d_]")


class GazetteerError(RuntimeError):
    """The name gazetteer cannot be built: ``names-dataset`` or ``wordfreq`` is not installed."""


@dataclass(frozen=True)
class Gazetteer:
    """First and last names (title case), and those of them that are common English words."""

    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]

    known: frozenset[str]  # first | last


def gazetteer_path() -> Path:
    """gazetteer_path is the cache file for the installed ``names-dataset`` and ``wordfreq`` versions."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "datanets"
    try:
        tag = f"nd{version('names-dataset')}-wf{version('wordfreq')}"
    except Exception as exc:  # PackageNotFoundError
        raise GazetteerError(f"the name recognizer needs names-dataset and wordfreq installed: {exc}") from None
    return base / f"names-{tag}-r{RANK}-z{COMMON_ZIPF:g}-f{FORMAT}.tsv.gz"


def _best_rank(info: dict[str, Any]) -> int:
    ranks = [r for r in (info.get("rank") or {}).values() if r is not None]
    return min(ranks) if ranks else 1 << 30


def _names(path: Path) -> list[str]:
    import pickle

    with gzip.open(path) as f:
        table = pickle.load(f)  # names-dataset's own data file, read as its NameDataset class reads it
    return sorted(k for k, v in table.items() if _best_rank(v) <= RANK and _WORD.fullmatch(k) and len(k) > 1)


def build_gazetteer(out: Path, progress: Callable[[str], None] | None = None) -> None:
    """build_gazetteer derives the gazetteer from the installed packages into ``out`` (deterministic bytes).

    ``progress`` gets a line per phase (it takes 20-40 s on 2 cores).
    """
    say = progress or (lambda _: None)
    try:
        import names_dataset
        from wordfreq import zipf_frequency
    except ImportError as exc:
        raise GazetteerError(f"the name recognizer needs names-dataset and wordfreq installed: {exc}") from None
    data = Path(names_dataset.__file__).parent / "v3"
    say("  gazetteer: reading first names (names-dataset)…")
    first = _names(data / "first_names.pkl.gz")
    say(f"  gazetteer: {len(first):,} first names; reading last names…")
    last = _names(data / "last_names.pkl.gz")
    say(f"  gazetteer: {len(last):,} last names; marking common English words (wordfreq)…")
    lines = [f"F\t{n}\t{int(zipf_frequency(n.lower(), 'en') >= COMMON_ZIPF)}" for n in first]
    lines += [f"L\t{n}\t{int(zipf_frequency(n.lower(), 'en') >= COMMON_ZIPF)}" for n in last]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    os.replace(tmp, out)


def ensure_gazetteer(progress: Callable[[str], None] | None = None) -> Path:
    """ensure_gazetteer builds the cached gazetteer if it is missing, saying so (and how long it took)."""
    path = gazetteer_path()
    if not path.exists():
        say = progress or (lambda _: None)
        say(f"building the name gazetteer once for this machine into {path} (20-40 s; nothing is downloaded)")
        t0 = time.perf_counter()
        build_gazetteer(path, progress)
        say(f"  gazetteer built in {time.perf_counter() - t0:.0f} s")
    return path


@lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    """load_gazetteer reads the cached gazetteer, building it first if it is missing."""
    path = ensure_gazetteer()
    first: set[str] = set()
    last: set[str] = set()
    common: set[str] = set()
    for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
        kind, name, is_common = line.split("\t")
        (first if kind == "F" else last).add(name)
        if is_common == "1":
            common.add(name)
    return Gazetteer(frozenset(first), frozenset(last), frozenset(common), frozenset(first | last))


def _capitalised(word: str) -> bool:
    return word[0].isupper() and not (len(word) > 1 and word.isupper())


def _cue(text: str, start: int) -> str | None:
    """The cue strength ("strong", "weak") of the words just before ``start``, or None."""
    before = [w.lower() for w in _WORD.findall(text[max(0, start - 40) : start])][-3:]
    if not before:
        return None
    last = before[-1]
    if last in STRONG_CUES or (last == "by" and len(before) > 1 and before[-2] in BY_CUES):
        return "strong"
    return "weak" if last in WEAK_CUES else None


def cue_strength(text: str, start: int, end: int) -> str | None:
    """cue_strength of a name at ``[start, end)``: "strong" (an honorific, "regards", "signed off by", an e-mail
    in brackets right after), "weak" (a lower-case "by", "to", "from", "thanks"...) or None."""
    if _EMAIL_AFTER.match(text, end):
        return "strong"
    cue = _cue(text, start)
    if cue == "weak" and not _WORD.findall(text[max(0, start - 40) : start])[-1].islower():
        return None  # "Rights From Anti-Circumvention Law": a title, not a cue
    return cue


def _joined(gap: str, previous: str) -> bool:
    return _GAP.fullmatch(gap) is not None or (len(previous) == 1 and _INITIAL_GAP.fullmatch(gap) is not None)


def runs(text: str) -> list[list[tuple[int, int, str]]]:
    """runs returns each maximal run of capitalised words (particles allowed inside) as ``(start, end, word)``."""
    out: list[list[tuple[int, int, str]]] = []
    cur: list[tuple[int, int, str]] = []
    for m in _WORD.finditer(text):
        word = m.group()
        joined = bool(cur) and _joined(text[cur[-1][1] : m.start()], cur[-1][2])
        if _capitalised(word) or (word in PARTICLES and joined):
            if cur and not joined:
                out.append(cur)
                cur = []
            cur.append((m.start(), m.end(), word))
            continue
        if cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    trimmed = []
    for run in out:
        while run and run[-1][2] in PARTICLES:
            run = run[:-1]
        if len(run) >= 2:
            trimmed.append(run)
    return trimmed


def find_names(text: str, gaz: Gazetteer) -> list[tuple[int, int, float]]:
    """find_names returns ``(start, end, score)`` of each person name found in ``text`` (rules in the module doc)."""
    found: list[tuple[int, int, float]] = []
    for run in runs(text):
        i = 0
        while i < len(run) - 1:
            hit = _match_at(text, run, i, gaz)
            if hit is None:
                i += 1
                continue
            j, score = hit
            found.append((run[i][0], run[j][1], score))
            i = j + 1
    return found


def _match_at(text: str, run: list[tuple[int, int, str]], i: int, gaz: Gazetteer) -> tuple[int, float] | None:
    """The last word index and score of the longest name starting at word ``i`` of ``run``, if any."""
    first = run[i][2]
    known = gaz.known
    if first in PARTICLES or first.lower() in STOP_WORDS:
        return None
    cue = _cue(text, run[i][0])
    for j in range(min(len(run) - 1, i + 3), i, -1):
        last = run[j][2]
        if last in PARTICLES or last.lower() in STOP_WORDS:
            continue
        middle = [w for _, _, w in run[i + 1 : j]]
        if any(not (w in PARTICLES or w.title() in known) for w in middle):
            continue
        f, la = first.title(), last.title()
        if f in gaz.first and la in gaz.last and not (f in gaz.common and la in gaz.common):
            return j, SCORE_GAZETTEER
        if cue == "strong" or (cue == "weak" and (f in known or la in known)) or _EMAIL_AFTER.match(text, run[j][1]):
            return j, SCORE_CUE
    return None


def name_recognizer(language: str) -> Any:
    """name_recognizer builds the Presidio recognizer ``DatanetsNameRecognizer`` (PERSON) over the gazetteer."""
    from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

    class NameRecognizer(LocalRecognizer):
        """Person names from the gazetteer, cue words and capitalisation (``pipelines.stages.anonymise.names``)."""

        def load(self) -> None:
            self.gazetteer = load_gazetteer()

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if "PERSON" not in entities:
                return []
            return [
                RecognizerResult(
                    "PERSON",
                    start,
                    end,
                    score,
                    AnalysisExplanation(NAME, score, textual_explanation="name gazetteer and cue words"),
                    {
                        RecognizerResult.RECOGNIZER_NAME_KEY: NAME,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
                for start, end, score in find_names(text, self.gazetteer)
            ]

    return NameRecognizer(supported_entities=["PERSON"], supported_language=language, name=NAME)  # its __init__ loads
