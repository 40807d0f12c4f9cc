"""Which paths matching a source may be read: regular files inside their source folder.

``problem(path, folder)`` is the one rule. A path matching a source glob (or
a ``*.txt`` entry of a textdir) that is a directory, FIFO, socket or device,
a dangling or looping symbolic link, a link (or a path through a linked
folder) resolving outside the source folder, or a name that is not UTF-8,
is not read at all: ingest quarantines it at line 0 with the reason this
returns, so it is counted rather than skipped. Nothing here opens a file,
so a FIFO cannot block the run.

``glob_reaches`` and ``resolves_under`` are what ``datanet check`` uses
(``pipelines.driver.sources``) to refuse a source that can read a Datanet's
outputs or keys. Nothing here knows a Datanet: plain functions of paths.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat

from pipelines.core.reasons import Reason

Problem = tuple[Reason, str]

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def printable(name: str) -> str:
    """printable shows a file name with undecodable bytes as ``\\xNN`` escapes (safe for UTF-8 files)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def glob_folder(pattern: str) -> str:
    """glob_folder is the folder a glob pattern is declared under: its longest prefix without wildcards."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or os.curdir


def _inside(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def resolves_under(path: str, folder: str) -> bool:
    """resolves_under says whether ``path``, links followed, is ``folder`` or lies under it (links followed too)."""
    return _inside(os.path.realpath(path), os.path.realpath(folder))


def glob_reaches(pattern: str, target: str, below: bool = True) -> bool:
    """glob_reaches says whether glob ``pattern`` can match ``target`` or, with ``below``, a path under it.

    Both are absolute. The answer is about every path that could exist, not
    the files there now: ``**/*.parquet`` or ``out/**`` reach ``out/x`` before
    a run has written a byte there. Each component is an ``fnmatch`` pattern
    and ``**`` stands for any number of folders, as in ``glob(recursive=True)``;
    hidden names are not treated specially, so the answer errs towards yes.
    """
    return _reaches(_components(pattern), _components(target), below)


def _components(path: str) -> tuple[str, ...]:
    return tuple(p for p in os.path.normpath(path).split(os.sep) if p)


def _reaches(pattern: tuple[str, ...], target: tuple[str, ...], below: bool) -> bool:
    if not target:
        return below or all(p == "**" for p in pattern)
    if not pattern:
        return False
    if pattern[0] == "**":
        return _reaches(pattern[1:], target, below) or _reaches(pattern, target[1:], below)
    return fnmatch.fnmatchcase(target[0], pattern[0]) and _reaches(pattern[1:], target[1:], below)


def problem(path: str, folder: str) -> Problem | None:
    """problem says why ``path`` must not be read as a contribution of a source under ``folder``, or None.

    The detail never names the machine's absolute paths, so quarantine rows
    are the same in every checkout.
    """
    if printable(path) != path:
        return Reason.INVALID_FILE_NAME, "the file name is not valid UTF-8"
    if os.path.islink(path):
        try:
            os.stat(path)
        except FileNotFoundError:
            return Reason.DANGLING_LINK, "a symbolic link to nothing"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Reason.LINK_LOOP, "a symbolic link that loops"
            return Reason.DANGLING_LINK, f"a symbolic link that cannot be followed ({exc.strerror})"
    try:
        real = os.path.realpath(path, strict=True)
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Reason.LINK_LOOP, "a path through a symbolic link that loops"
        return None  # gone or unreadable: the reader reports unreadable_file
    if not _inside(real, os.path.realpath(folder)):
        return Reason.LINK_OUTSIDE_SOURCE, "resolves outside its source folder"
    if not stat.S_ISREG(mode):
        return Reason.NOT_A_FILE, f"{_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a file"
    return None


def text_entries(folder: str) -> list[str]:
    """text_entries lists a textdir's ``*.txt`` entries relative to ``folder``, sorted.

    The walk does not follow linked folders (so a link loop cannot recurse);
    it lists every entry named ``*.txt`` whatever its type, and every link to
    a folder, so ``problem`` can quarantine what is not a readable file
    instead of skipping it.
    """
    out: list[str] = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        rel_top = os.path.relpath(top, folder)
        for name in sorted(dirs):
            if name.endswith(".txt") or os.path.islink(os.path.join(top, name)):
                out.append(name if rel_top == os.curdir else os.path.join(rel_top, name))
        for name in files:
            if name.endswith(".txt"):
                out.append(name if rel_top == os.curdir else os.path.join(rel_top, name))
    return sorted(p.replace(os.sep, "/") for p in out)
