"""Step 4, anonymise: Presidio analysis and anonymisation of every text and `pii: true` field, offline.

``anonymise_batch`` is the pure step over a batch of records; ``AnonymisePII``
is its Beam wrapper. Records keep counts of what was removed per entity
type, never values; nothing here logs text.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import cast

import apache_beam as beam

from pipelines.core.config import PIIConfig
from pipelines.core.progress import tick
from pipelines.core.records import ScrubbedRecord, SketchedRecord
from pipelines.stages.anonymise.engines import (
    CARD_PATTERN,
    NANP_PHONE_PATTERN,
    NER_CONFIGURATION,
    Engines,
    PIIEngineError,
    build_engines,
    extra_recognizers,
    redact_texts,
    use_offline_suffix_list,
)

__all__ = [
    "CARD_PATTERN",
    "NANP_PHONE_PATTERN",
    "NER_CONFIGURATION",
    "AnonymisePII",
    "Engines",
    "PIIEngineError",
    "anonymise_batch",
    "build_engines",
    "extra_recognizers",
    "redact_texts",
    "use_offline_suffix_list",
]


def anonymise_batch(
    batch: list[SketchedRecord], text_fields: list[str], eng: Engines, code_fields: tuple[str, ...] = ()
) -> list[ScrubbedRecord]:
    """anonymise_batch scrubs every text field of every record; adds ``pii`` counts per entity.

    Fields named in ``code_fields`` are source code: only their comments and
    string literals are scrubbed, so identifiers never change.
    """
    out = [cast(ScrubbedRecord, {**r, "fields": dict(r["fields"]), "pii": {}}) for r in batch]
    for code in (False, True):
        fields = [f for f in text_fields if (f in code_fields) == code]
        flat = [(i, f) for i, r in enumerate(batch) for f in fields if r["fields"].get(f)]
        if flat:
            _scrub(out, flat, redact_texts([str(batch[i]["fields"][f]) for i, f in flat], eng, code))
    for r in out:
        r["pii"] = dict(sorted(r["pii"].items()))
    return out


def _scrub(out: list[ScrubbedRecord], flat: list[tuple[int, str]], redacted: list[tuple[str, dict[str, int]]]) -> None:
    for (i, f), (text, counts) in zip(flat, redacted, strict=True):
        out[i]["fields"][f] = text
        for k, v in counts.items():
            out[i]["pii"][k] = out[i]["pii"].get(k, 0) + v


@functools.lru_cache(maxsize=8)
def _engines(cfg_json: str, salt: bytes, thread: int) -> Engines:
    """One set of engines per config, salt and thread in a worker process.

    Some runners (Dask) call ``DoFn.setup`` once per partition; loading spaCy
    and Presidio that often would dominate the run.
    """
    return build_engines(PIIConfig.model_validate_json(cfg_json), salt)


class _Anonymise(beam.DoFn):
    def __init__(self, stage: AnonymisePII) -> None:
        self.cfg, self.text_fields, self.code_fields = stage.cfg, stage.text_fields, stage.code_fields
        self.salt_path, self.progress_dir = stage.salt_path, stage.progress_dir
        self.engines: Engines | None = None

    def setup(self) -> None:
        from pipelines.core.keys import read_salt

        if self.cfg.enabled:
            self.engines = _engines(self.cfg.model_dump_json(), read_salt(self.salt_path), threading.get_ident())

    def process(self, batch: list[SketchedRecord]) -> Iterator[list[ScrubbedRecord]]:
        if self.engines is None:
            out = [cast(ScrubbedRecord, {**r, "pii": {}}) for r in batch]
        else:
            out = anonymise_batch(batch, self.text_fields, self.engines, self.code_fields)
        if batch:
            tick(self.progress_dir, "scrub", batch[0]["id"].replace("/", "_"), {"records": len(batch)})
        yield out


class AnonymisePII(beam.PTransform):
    """AnonymisePII scrubs PII from the text fields of batches of records (Presidio, offline).

    With ``pii.enabled: false`` records pass through with empty ``pii`` counts.
    The ``hash`` operator's salt is read by each worker from ``salt_path``.
    Fields in ``code_fields`` are scrubbed in comments and string literals only.
    """

    def __init__(
        self,
        cfg: PIIConfig,
        text_fields: list[str],
        salt_path: str,
        progress_dir: str = "",
        code_fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.cfg, self.text_fields, self.code_fields = cfg, text_fields, tuple(code_fields)
        self.salt_path, self.progress_dir = salt_path, progress_dir

    def fn(self) -> beam.DoFn:
        """fn is this stage's DoFn (a batch in, the scrubbed batch out), for ``pipelines.stages.chain``."""
        return _Anonymise(self)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        step = "Scrub" if self.cfg.enabled else "NoPII"
        return batches | step >> beam.ParDo(self.fn())
