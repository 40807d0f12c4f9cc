"""The unit of work: an input unit (``FileSpec``) and the part of it one worker reads (``Split``).

The driver's planner makes them (``pipelines.driver.plan``); the read stage
parses them (``pipelines.stages.read``). Both are frozen plain data, so they
pickle to any Beam worker unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.core import paths


@dataclass(frozen=True)
class FileSpec:
    """One input unit: a file, or a textdir source, with its place in source order."""

    source: int
    file_no: int
    path: str
    rel: str
    format: str
    manifest: str | None = None
    manifest_rel: str | None = None
    problem: tuple[str, str] | None = None  # (reason, detail): not read, quarantined at line 0


@dataclass(frozen=True)
class Split:
    """What one worker reads: ``[start, end)`` of a unit, in the unit's own measure.

    JSONL: bytes, with ``first_line`` the number of the line at ``start``.
    Parquet: row groups, with ``first_line`` the row number of the first row.
    textdir: ``files`` (paths relative to the folder) with ``first_line`` the
    position of the first; a textdir's last split (``files`` empty,
    ``start == -1``) checks the manifest for rows naming missing files.
    CSV: the whole file (``end == -1``).
    """

    index: int
    unit: FileSpec
    start: int = 0
    end: int = -1
    first_line: int = 1
    files: tuple[str, ...] = ()


def text_files(spec: FileSpec) -> list[str]:
    """text_files lists a textdir's ``*.txt`` entries relative to its folder, sorted (``paths.text_entries``)."""
    return paths.text_entries(spec.path)
