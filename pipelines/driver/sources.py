"""Sources that could read a Datanet's outputs or keys, refused before any run (``source_problems``).

No source glob may reach a Datanet's output or key folder, neither what it
matches now nor what it could match once a run has written there.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.core.config import Datanet, neighbours
from pipelines.core.keys import secret_files
from pipelines.core.paths import glob_reaches, resolves_under


def _guarded(dn: Datanet) -> list[tuple[Path, str, bool]]:
    """What no source may reach: (path, whose it is, whether paths under it count), ``dn``'s own first."""
    others, broken = neighbours(dn)
    out: list[tuple[Path, str, bool]] = []
    for d in (dn, *others):
        out.append((d.out_dir, f"the output folder of Datanet {d.name!r}", True))
        keys = Path(os.path.normpath(d.key_path.parent))
        if keys == d.root or keys in d.root.parents:  # keys kept loose in the project: guard the files
            out += [(f, f"a key file of Datanet {d.name!r}", False) for f in secret_files(d)]
        else:
            out.append((keys, f"the key folder of Datanet {d.name!r}", True))
    for path in broken:  # its output.dir cannot be read: guard the default
        out.append((dn.root / "out" / path.stem, f"the output folder of Datanet {path.stem!r} (by default)", True))
    unique: dict[Path, tuple[str, bool]] = {}
    for path, whose, below in out:
        unique.setdefault(Path(os.path.normpath(path)), (whose, below))
    return [(path, whose, below) for path, (whose, below) in unique.items()]


def source_problems(dn: Datanet) -> list[str]:
    """source_problems names, by YAML key, each source that can read a Datanet's outputs or keys (``_guarded``).

    It looks at what the glob could match once runs have written there
    (``glob_reaches``: a glob rooted at or above an output folder with a
    wildcard that gets there, such as ``**/*.parquet``) and at what it matches
    now, links followed; so a first run, before ``out/`` exists, is refused as
    surely as the tenth, and no run reads shards, state or keys back as
    contributions. Reads no file.
    """
    guarded, problems = _guarded(dn), []
    advice = "a source must never read a Datanet's outputs or keys (narrow it, or move them: output.dir, ledger.key)"
    for i, src in enumerate(dn.config.sources):
        pattern = os.path.normpath(dn.root / src.path) + (os.sep + "**" if src.format == "textdir" else "")
        reached = [(p, w, below) for p, w, below in guarded if glob_reaches(pattern, str(p), below)]
        for p, whose, below in reached:
            what = f"files under {dn.shown(p)}" if below else dn.shown(p)
            problems.append(f"sources.{i}.path: {src.path!r} can match {what}, {whose}; {advice}")
        hit = _first_inside(dn.source_files(i), [g for g in guarded if g not in reached])
        if hit:
            where = f"matches {dn.shown(hit[0])}, under {dn.shown(hit[1])}, {hit[2]}"
            problems.append(f"sources.{i}.path: {src.path!r} {where}; {advice}")
        if src.manifest and any(glob_reaches(str(dn.root / src.manifest), str(p), b) for p, _, b in guarded):
            problems.append(f"sources.{i}.manifest: {src.manifest} lies in a Datanet's output or key folder; {advice}")
    return problems


def _first_inside(files: list[Path], guarded: list[tuple[Path, str, bool]]) -> tuple[Path, Path, str] | None:
    """The first of ``files`` that, links followed, lies in a guarded path, with that path and whose it is."""
    for path in files:
        for g, whose, _ in guarded:
            if resolves_under(str(path), str(g)):
                return path, g, whose
    return None
