"""PII preview: what step 4 (anonymise) would do to a sample of a Datanet's records, before anything is ingested.

``sample_records`` reads every input unit with ingest's own parser
(``pipelines.stages.read.read_items``), keeps the records ingest would accept,
counts the lines it would quarantine, and picks a deterministic sample.
``scrub_sample`` runs ``anonymise_batch`` on it with the Datanet's scrub
and code fields and PII config, as the pipeline does. ``word_diff``, ``render_text``
and ``render_json`` show each field before and after.

Privacy: a preview holds raw personal data. Nothing here logs; nothing
writes under the Datanet's output folder or creates a key (the salt is the
Datanet's if it exists, else random bytes held in memory); ``write_private``
creates a new file with mode 0600 and never overwrites one.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import heapq
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, cast

from pipelines.core.config import Datanet, SchemaConfig
from pipelines.core.errors import BadInput
from pipelines.core.records import Record, SketchedRecord
from pipelines.stages.anonymise import Engines, anonymise_batch, build_engines


class PreviewError(BadInput):
    """A preview request the user can fix: a bad count, or an ``--out`` that exists or lies among the outputs."""


@dataclass(frozen=True)
class Sample:
    """A deterministic sample of the records ingest would read, in (file, line) order."""

    records: list[Record]
    readable: int  # records ingest would accept at step 2 (read)
    rejected: int  # lines ingest would quarantine before the PII stage


@dataclass(frozen=True)
class FieldPreview:
    """One scrubbed field of one sampled record, before and after the PII stage.

    ``pii`` is the record's counts over all its scrubbed fields, as ingest stores them.
    """

    file: str
    line: int
    field: str
    before: str
    after: str
    pii: dict[str, int]


@dataclass(frozen=True)
class Preview:
    """A whole preview: the fields of every sampled record, and where the sample came from."""

    datanet: str
    seed: int
    fields: list[FieldPreview]
    sampled: int
    readable: int
    rejected: int
    own_salt: bool  # False: no salt exists yet; ``hash`` values differ from what ingest will store
    hashes: bool  # some entity's operator is ``hash``
    enabled: bool  # pii.enabled


def read_records(dn: Datanet, tally: Counter[str]) -> Iterator[Record]:
    """read_records yields every record ingest would read, in source order; counts each item kind in ``tally``.

    Each unit is read whole, plus a textdir's manifest check (``splits.Split``),
    so records and rejections are exactly ingest's, without digesting files.
    """
    from pipelines.core.splits import Split
    from pipelines.driver.plan import input_units
    from pipelines.stages.read import read_items, whole

    for spec in input_units(dn):
        splits = [whole(spec)]
        if spec.format == "textdir" and not spec.problem:
            splits.append(Split(0, spec, start=-1, end=-1, first_line=0))
        for split in splits:
            for kind, value in read_items(split, dn.schema, dn.config.validation):
                tally[kind] += 1
                if kind == "record":
                    yield value


def _rank(seed: int, record: Record) -> bytes:
    where = f"{seed}\0{record['file']}\0{record['line']}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(where, digest_size=16).digest()


def sample_records(dn: Datanet, n: int, seed: int) -> Sample:
    """sample_records picks the ``n`` readable records (all, if fewer) with the smallest keyed hash of (file, line).

    Deterministic: the same inputs and seed give the same sample, whatever
    the order files are listed in. Memory holds ``n`` records, not the Datanet.
    """
    tally: Counter[str] = Counter()
    chosen = heapq.nsmallest(n, read_records(dn, tally), key=functools.partial(_rank, seed))
    chosen.sort(key=lambda r: (r["file"], r["line"]))
    return Sample(chosen, tally["record"], tally["rejection"])


def preview_salt(dn: Datanet) -> tuple[bytes, bool]:
    """preview_salt is (the Datanet's salt, True) if it exists, else (32 random bytes, False); it creates nothing."""
    from pipelines.core.keys import read_salt, salt_file

    path = salt_file(dn)
    return (read_salt(str(path)), True) if path.is_file() else (os.urandom(32), False)


def scrub_sample(records: list[Record], schema: SchemaConfig, eng: Engines | None) -> list[FieldPreview]:
    """scrub_sample runs ``anonymise_batch`` on the records with the schema's scrub and code fields, as
    the pipeline does (``eng`` None: PII off, text kept), and pairs each non-empty scrubbed field with its
    result, in record then field order."""
    fields = schema.scrub_fields
    if eng is None:
        after: list[Any] = [{**r, "pii": {}} for r in records]
    else:
        after = anonymise_batch(cast(list[SketchedRecord], records), fields, eng, tuple(schema.code_fields))
    return [
        FieldPreview(old["file"], old["line"], f, str(old["fields"][f]), str(new["fields"][f]), dict(new["pii"]))
        for old, new in zip(records, after, strict=True)
        for f in fields
        if old["fields"].get(f)
    ]


def preview(dn: Datanet, n: int, seed: int) -> Preview:
    """preview samples ``n`` records and runs the Datanet's PII stage on them, after ingest's own PII checks.

    Raises ``checks.CheckError`` when the PII config cannot run (as ``ingest`` would).
    """
    from pipelines.driver.checks import CheckError, pii_problems

    cfg = dn.config.pii
    problems = pii_problems(dn)
    if problems:
        raise CheckError("\n".join([f"{dn.path}: cannot preview", *(f"  {dn.path}: {p}" for p in problems)]))
    sample = sample_records(dn, n, seed)
    salt, own = preview_salt(dn)
    eng = build_engines(cfg, salt) if cfg.enabled and sample.records else None
    rows = scrub_sample(sample.records, dn.schema, eng)
    hashes = "hash" in {cfg.operators.get(e, cfg.operators.get("DEFAULT", "replace")) for e in cfg.entities}
    return Preview(dn.name, seed, rows, len(sample.records), sample.readable, sample.rejected, own, hashes, cfg.enabled)


# Placeholders (<PERSON>) and masks (****) are one token each, so they never half-match the text they replace.
_TOKENS = re.compile(r"<[A-Z_]+>|\*+|\w+|\s+|[^\w\s]")


def _same_space(x: str, y: str) -> int:
    """How many leading characters ``x`` and ``y`` share that are whitespace."""
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n] and x[n].isspace():
        n += 1
    return n


def _mark(old: str, new: str) -> str:
    lead = _same_space(old, new)
    old, new, head = old[lead:], new[lead:], old[:lead]
    trail = _same_space(old[::-1], new[::-1])
    tail, old, new = old[len(old) - trail :], old[: len(old) - trail], new[: len(new) - trail]
    return head + (f"[-{old}-]" if old else "") + (f"{{+{new}+}}" if new else "") + tail


def word_diff(before: str, after: str) -> str:
    """word_diff is ``after`` with each change marked inline: ``[-removed-]{+inserted+}``, word by word.

    Whitespace both sides share around a change stays outside the marks;
    ``word_diff(t, t) == t``.
    """
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = "".join(a[i1:i2]), "".join(b[j1:j2])
        out.append(old if op == "equal" else _mark(old, new))
    return "".join(out)


def _counts(pii: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(pii.items())) or "no PII found"


def _records(p: Preview) -> list[list[FieldPreview]]:
    return [list(g) for _, g in groupby(p.fields, key=lambda f: (f.file, f.line))]


def _show_record(fields: list[FieldPreview]) -> list[str]:
    changed = any(f.before != f.after for f in fields)
    lines = [f"{fields[0].file}:{fields[0].line}  {_counts(fields[0].pii)}{'' if changed else '  (unchanged)'}"]
    for f in fields:
        pad = " " * (len(f.field) + 4)
        body = word_diff(f.before, f.after).splitlines() or [""]
        lines += [f"  {f.field}: {body[0]}", *(pad + line if line else "" for line in body[1:]), ""]
    return lines


def _header(p: Preview) -> list[str]:
    lines = [
        f"datanet pii preview {p.datanet}: {p.sampled:,} of {p.readable:,} records (seed {p.seed}).",
        "This output holds raw personal data: do not share it, commit it or paste it into a ticket.",
    ]
    if p.rejected:
        lines.append(f"{p.rejected} input line(s) that ingest would quarantine are not previewed.")
    if not p.enabled:
        lines.append("pii.enabled is false: the PII stage keeps every field as it is.")
    if p.hashes and not p.own_salt:
        lines.append("No salt exists yet (ingest creates it), so hash values here differ from what ingest stores.")
    return [*lines, ""]


def render_text(p: Preview, everything: bool = False) -> str:
    """render_text shows each changed record's fields as ``word_diff``s with its entity counts, then totals.

    Unchanged records are only counted unless ``everything``.
    """
    records = _records(p)
    changed = [r for r in records if any(f.before != f.after for f in r)]
    lines = _header(p)
    for r in records if everything else changed:
        lines += _show_record(r)
    totals: Counter[str] = Counter()
    for r in records:
        totals.update(r[0].pii)
    unchanged = len(records) - len(changed)
    more = " (--all shows them)" if unchanged and not everything else ""
    lines.append(f"{len(changed)} record(s) changed, {unchanged} unchanged{more}.")
    lines.append(f"Removed in the sample: {_counts(dict(totals)) if totals else 'nothing'}.")
    return "\n".join(lines) + "\n"


def render_json(p: Preview, everything: bool = False) -> str:
    """render_json is a JSON list of {file, line, field, before, after, pii}: changed fields (all if ``everything``)."""
    rows = [asdict(f) for f in p.fields if everything or f.before != f.after]
    return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"


def check_out(dn: Datanet, path: Path) -> None:
    """check_out refuses an ``--out`` that exists or lies under the Datanet's output or key folder."""
    target = path.resolve()
    for guarded in (dn.out_dir, dn.key_path.parent):
        if target.is_relative_to(guarded.resolve()):
            raise PreviewError(f"{path}: --out must not be under {guarded} (the Datanet's outputs and keys)")
    if path.exists() or path.is_symlink():
        raise PreviewError(f"{path} already exists; --out never overwrites a file")


def write_private(path: Path, text: str) -> None:
    """write_private creates ``path`` with mode 0600 and writes ``text``; an existing path is an error, untouched."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PreviewError(f"{path} already exists; --out never overwrites a file") from None
    except OSError as exc:
        raise PreviewError(f"{path}: cannot create it ({exc.strerror})") from None
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
