"""PII-free real text from this machine, in a split the context rules were tuned on or one they never saw.

Three kinds of unit (``KINDS``), each sampled up to a word budget:

* ``code``: runs of 10-40 consecutive lines of the running interpreter's
  standard library;
* ``docstrings``: the ``ast`` docstrings of the same files;
* ``licences``: blank-line separated paragraphs of licence files.

A unit is kept only if ``pii_free``: no ``@`` and none of the words that
introduce real people (copyright, author, thanks, maintainer, ...), so any
entity a tool reports in it is a false redaction. Names that no such word
introduces ("Tim Peters" in a docstring) can remain; the report says so.

Which files a split reads (``SPLITS``):

* ``tuned``: top-level stdlib modules (``<stdlib>/*.py``) and
  ``/usr/share/common-licenses/*``, the text the context rules were tuned on;
* ``heldout``: stdlib files inside subdirectories (``email/``, ``json/``,
  ``xml/``, ...), and the licence files of installed Python packages
  (``site_licence_files``); a licence paragraph equal, up to white space, to
  one of ``/usr/share/common-licenses`` is left out;
* ``all``: both.

Everywhere: no file under ``test``, ``tests``, ``idle_test``, ``idlelib`` or
``site-packages``; licence files with identical bytes are read once, and of
paragraphs equal up to white space only the first is kept. Deterministic
for one machine and seed (sorted file lists, seeded shuffles).
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.corpus import _read_text

KINDS = ("code", "docstrings", "licences")
SPLITS = ("tuned", "heldout", "all")
COMMON_LICENCES = Path("/usr/share/common-licenses")
_WORD = re.compile(r"\w+")
_NOT_PII_FREE = re.compile(
    r"@|copyright|\(c\)|©|author|written by|contributed by|thanks|maintainer|signed-off", re.IGNORECASE
)
_SKIP_DIRS = {"test", "tests", "idle_test", "idlelib", "site-packages", "dist-packages", "__pycache__"}
_DIST_INFO_LICENCE = re.compile(r"^licen[cs]e", re.IGNORECASE)
_SITE_LICENCE = re.compile(r"^(?:LICEN[CS]E|COPYING)")
_AUTHOR_LIST = re.compile(r"^authors", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")  # a line of nothing but white space, form feeds included


class UnknownSplitError(ValueError):
    """A split other than ``tuned``, ``heldout`` or ``all`` was asked for."""


@dataclass(frozen=True)
class Unit:
    """One record text and where it came from (``path:line``), for a human auditing a hit."""

    text: str
    source: str


def word_count(text: str) -> int:
    """word_count is the number of ``\\w+`` runs in ``text``."""
    return len(_WORD.findall(text))


def pii_free(text: str) -> bool:
    """pii_free is True when ``text`` has no ``@`` and no word that introduces a real person (copyright, author...)."""
    return _NOT_PII_FREE.search(text) is None


def _check(split: str) -> None:
    if split not in SPLITS:
        raise UnknownSplitError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")


def sample_units(units: Iterable[Unit], max_words: int, seed: int) -> list[Unit]:
    """sample_units shuffles the PII-free ``units`` with ``seed`` and takes them while their words fit ``max_words``.

    Units that are not ``pii_free`` or have no word are dropped first. The
    same units and seed give the same sample.
    """
    pool = [u for u in units if pii_free(u.text) and word_count(u.text) > 0]
    random.Random(seed).shuffle(pool)
    out: list[Unit] = []
    words = 0
    for unit in pool:
        n = word_count(unit.text)
        if words + n > max_words:
            continue
        out.append(unit)
        words += n
    return out


# --- standard library: code and docstrings ------------------------------------------------------------------------


def stdlib_files(root: Path | None = None, split: str = "all") -> list[Path]:
    """stdlib_files lists the standard library's ``.py`` files of ``split``, sorted.

    ``tuned`` is the files directly in ``root``, ``heldout`` those in a
    subdirectory, ``all`` both; files under tests, idlelib or site-packages
    are never listed. Raises UnknownSplitError for another split.
    """
    _check(split)
    root = root or Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(root.rglob("*.py")):
        dirs = path.relative_to(root).parts[:-1]
        if _SKIP_DIRS & set(dirs) or (split == "tuned" and dirs) or (split == "heldout" and not dirs):
            continue
        out.append(path)
    return out


def _shuffled(paths: list[Path], seed: int) -> list[Path]:
    paths = list(paths)
    random.Random(seed).shuffle(paths)
    return paths


def code_chunks(path: Path, text: str, seed: int) -> Iterator[Unit]:
    """code_chunks cuts ``text`` into runs of 10-40 consecutive lines; lengths are seeded by ``seed`` and the path."""
    rng = random.Random(f"{seed}:{path}")
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        k = rng.randint(10, 40)
        chunk = "".join(lines[i : i + k])
        if chunk.strip():
            yield Unit(chunk, f"{path}:{i + 1}")
        i += k


def docstrings(path: Path, text: str) -> Iterator[Unit]:
    """docstrings yields the docstrings of the module, classes and functions in ``text``, in ``ast.walk`` order."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                yield Unit(doc, f"{path}:{getattr(node, 'lineno', 1)}")


def stdlib_units(kind: str, max_words: int, seed: int, files: list[Path]) -> list[Unit]:
    """stdlib_units samples ``max_words`` of ``code`` or ``docstrings`` units from ``files``.

    Files are read in a seeded order until four times ``max_words`` of
    candidates are found, so small budgets do not parse the whole library.
    """
    candidates: list[Unit] = []
    words = 0
    for path in _shuffled(files, seed):
        text = _read_text(path)
        found = code_chunks(path, text, seed) if kind == "code" else docstrings(path, text)
        for unit in found:
            if pii_free(unit.text):
                candidates.append(unit)
                words += word_count(unit.text)
        if words >= 4 * max_words:
            break
    return sample_units(candidates, max_words, seed)


# --- licences -----------------------------------------------------------------------------------------------------


def _is_site_licence(path: Path, site: Path) -> bool:
    parts = path.relative_to(site).parts
    in_dist_info = any(p.endswith(".dist-info") for p in parts[:-1])
    if _AUTHOR_LIST.match(path.name):
        return False  # a list of people, not licence text
    if in_dist_info and (_DIST_INFO_LICENCE.match(path.name) or "licenses" in parts[:-1]):
        return True
    return _SITE_LICENCE.match(path.name) is not None and not path.name.endswith((".py", ".pyc", ".pyi"))


def site_licence_files(site: Path | None = None) -> list[Path]:
    """site_licence_files lists the licence files of the packages installed in ``site`` (default: this venv's), sorted.

    A file counts when it is ``*.dist-info/LICEN[CS]E*``, lies in a
    ``licenses`` folder of a ``*.dist-info`` (except ``AUTHORS*``), or is
    named ``LICENSE*``, ``LICENCE*`` or ``COPYING*`` anywhere below ``site``.
    """
    site = site or Path(sysconfig.get_paths()["purelib"])
    if not site.is_dir():
        return []
    return sorted(p for p in site.rglob("*") if p.is_file() and _is_site_licence(p, site))


def common_licence_files(common: Path = COMMON_LICENCES) -> list[Path]:
    """common_licence_files lists the files of ``common`` (Debian's ``/usr/share/common-licenses``), sorted."""
    return sorted(p for p in common.glob("*") if p.is_file()) if common.is_dir() else []


def unique_files(paths: Iterable[Path]) -> list[Path]:
    """unique_files keeps the first of ``paths`` with each content (SHA-256 of the bytes), symlinks resolved once."""
    seen: set[str] = set()
    out: list[Path] = []
    for path in paths:
        real = path.resolve() if path.is_symlink() else path
        if not real.is_file():
            continue
        digest = hashlib.sha256(real.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(real)
    return out


def paragraphs(path: Path, text: str, min_words: int = 5) -> Iterator[Unit]:
    """paragraphs yields the paragraphs of ``text`` with at least ``min_words`` words.

    Paragraphs are separated by a line holding only white space (a form
    feed, as the GNU licences put between sections, included).
    """
    line = 1
    for para in _PARAGRAPH_BREAK.split(text):
        if word_count(para) >= min_words:
            yield Unit(para.strip("\n"), f"{path}:{line}")
        line += para.count("\n") + 2


def _normal(text: str) -> str:
    return " ".join(text.split())


def licence_paragraphs(files: list[Path], exclude: Iterable[Path] = ()) -> list[Unit]:
    """licence_paragraphs returns the paragraphs of ``files``, each text once, none equal to one of ``exclude``.

    Equality ignores white space (a licence rewrapped is the same licence).
    """
    seen = {_normal(u.text) for p in exclude for u in paragraphs(p, _read_text(p))}
    out: list[Unit] = []
    for path in files:
        for unit in paragraphs(path, _read_text(path)):
            key = _normal(unit.text)
            if key not in seen:
                seen.add(key)
                out.append(unit)
    return out


def licence_units(
    max_words: int, seed: int, split: str, common: Path = COMMON_LICENCES, site: Path | None = None
) -> list[Unit]:
    """licence_units samples ``max_words`` of PII-free licence paragraphs of ``split``.

    ``tuned`` reads ``common``; ``heldout`` the installed packages' licence
    files minus every paragraph of ``common``; ``all`` both.
    """
    _check(split)
    tuned = unique_files(common_licence_files(common))
    if split == "tuned":
        return sample_units(licence_paragraphs(tuned), max_words, seed)
    heldout = licence_paragraphs(unique_files(site_licence_files(site)), exclude=tuned)
    pool = heldout if split == "heldout" else licence_paragraphs(tuned) + heldout
    return sample_units(pool, max_words, seed)


def pii_free_corpus(max_words: int, seed: int, split: str = "heldout") -> dict[str, list[Unit]]:
    """pii_free_corpus returns up to ``max_words`` of PII-free units of ``split`` per kind of ``KINDS``."""
    files = stdlib_files(split=split)
    return {
        "code": stdlib_units("code", max_words, seed, files),
        "docstrings": stdlib_units("docstrings", max_words, seed, files),
        "licences": licence_units(max_words, seed, split),
    }
