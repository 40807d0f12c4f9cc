"""The tools a user would otherwise pick, run on the benchmark corpus: stock Presidio and datatrove.

Both are benchmark-only: ``make bench`` installs ``datatrove`` (and
``pymerkle`` for the ledger) next to the project; nothing at run time
imports them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.stages.anonymise.engines import use_offline_suffix_list

# One text every recognizer matches, so each compiles its patterns before timing starts.
WARM_UP = (
    "Warm up with John Smith in Paris at 212-555-0147 or +44 20 7946 0958, john@example.com, "
    "https://example.com, 10.0.0.1, 4111 1111 1111 1111, 078-05-1120 and GB82 WEST 1234 5698 7654 32."
)


def stock_presidio(texts: list[str], entities: list[str], threshold: float, model: str) -> dict[str, Any]:
    """stock_presidio analyses ``texts`` one at a time with a default ``AnalyzerEngine`` (same spaCy model).

    Returns wall seconds for the analysis loop (engine construction excluded),
    ``spans[i]``: ``(start, end, entity)`` found in text ``i``, and
    ``scores[i]``: their scores, in the same order.
    """
    use_offline_suffix_list()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine())
    engine.analyze(WARM_UP, language="en")
    t = time.perf_counter()
    found = [engine.analyze(x, language="en", entities=entities, score_threshold=threshold) for x in texts]
    seconds = time.perf_counter() - t
    spans = [[(r.start, r.end, r.entity_type) for r in rs] for rs in found]
    return {"seconds": seconds, "spans": spans, "scores": [[r.score for r in rs] for rs in found]}


def _read_cluster_files(folder: Path, files: list[str]) -> dict[tuple[str, int], int]:
    clusters: dict[tuple[str, int], int] = {}
    for rank, name in enumerate(files):
        path = folder / f"{rank:06d}.clusters"
        if not path.exists():
            continue
        raw = path.read_bytes()
        for idx, cluster in struct.iter_unpack("<2I", raw):
            clusters[(name, idx + 1)] = cluster
    return clusters


def datatrove_minhash(corpus: Path, n_grams: int, buckets: int, rows: int, workers: int) -> dict[str, Any]:
    """datatrove_minhash runs datatrove's four-stage MinHash dedup over the corpus's JSONL files.

    Same shingle size (``n_grams`` words), ``buckets`` x ``rows`` hashes as our
    LSH. Returns wall seconds of the four stages and ``clusters``: (file,
    line) -> datatrove cluster id, for every record datatrove put in a cluster.
    """
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    files = sorted(p.name for p in (corpus / "contributions").glob("*.jsonl"))
    cfg = MinhashConfig(n_grams=n_grams, num_buckets=buckets, hashes_per_bucket=rows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = str(corpus / "contributions")

        def reader() -> Any:
            return JsonlReader(src, glob_pattern="*.jsonl", recursive=False)

        stages = [
            ([reader(), MinhashDedupSignature(output_folder=f"{tmp}/sigs", config=cfg)], len(files)),
            ([MinhashDedupBuckets(input_folder=f"{tmp}/sigs", output_folder=f"{tmp}/buckets", config=cfg)], buckets),
            (
                [
                    MinhashDedupCluster(
                        input_folder=f"{tmp}/buckets", output_folder=f"{tmp}/remove", config=cfg, save_cluster_id=True
                    )
                ],
                1,
            ),
            (
                [
                    reader(),
                    MinhashDedupFilter(input_folder=f"{tmp}/remove"),
                    JsonlWriter(f"{tmp}/kept", compression=None),
                ],
                len(files),
            ),
        ]
        t = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # datatrove logs each task to stderr; its files keep them
            for i, (steps, tasks) in enumerate(stages):
                LocalPipelineExecutor(
                    pipeline=steps, tasks=tasks, workers=workers, logging_dir=f"{tmp}/logs{i}", skip_completed=False
                ).run()
        seconds = time.perf_counter() - t
        clusters = _read_cluster_files(work / "remove", files)
    return {"seconds": seconds, "clusters": clusters}
