"""``datanet bench``: every stage against the tool a user would otherwise pick, on one seeded corpus.

    datanet bench [--size-mb 10] [--sample 1000] [--split heldout|tuned|all] [--out bench-out/bench-10mb.json]

Builds (or reuses) the corpus of ``benchmarks.corpus`` under
``bench-out/corpus-<size>mb``, then measures, each in a forked child so its
peak memory is its own:

* ingest (parse and check every line), ours;
* MinHash near-duplicate detection: ours (datasketch signatures, LSH,
  verified pairs) and datatrove's four-stage pipeline, same shingles,
  permutations and bands, one worker each; duplicate-pair precision/recall/F1
  against the planted clusters;
* PII: stock Presidio (``AnalyzerEngine`` with the same spaCy model, one text
  at a time) and our stage (analysis and anonymisation) in one process, on
  the same random ``--sample`` of texts, with span precision/recall per
  entity; then our stage through Beam (default runner options) on every text;
* PERSON precision/recall on real people's names (those credited in the
  machine's Debian copyright files, many naming traditions) put in the
  corpus's PERSON contexts within real prose, stock and ours;
* PII precision on real text of this machine (``benchmarks.realtext``,
  ``--split heldout`` by default: text the context rules were not tuned
  on): false redactions per 10,000 words on PII-free standard-library
  code, docstrings and licence paragraphs, and precision/recall per entity
  on labelled Debian copyright stanzas; stock Presidio and ours with the
  same nine entities, and ours with the curator's profiles;
* end-to-end ``datanet ingest`` of the corpus (Beam, default runner options);
* attribution: record-level quality on outputs stitched from real
  paragraphs, and 300-word queries against 100 k records beside a naive
  scan (``benchmarks.attribution``, which ``make bench`` also runs at
  1 M records);
* the ledger (100,000 durable appends, then proofs), ours and pymerkle.

Prints one table and writes it, with the quality details and the machine,
as JSON. Timings are wall clock; MB/s per core divides by the workers used.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.corpus import CorpusConfig, build_corpus
from benchmarks.metrics import pair_scores, span_scores
from pipelines.core.config import Datanet, load_datanet

Row = dict[str, Any]
BENCH_SALT = b"bench-salt-0123456789abcdef"
AUDIT_HITS = 100  # false hits kept per real-text row in the JSON


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        t = time.perf_counter()
        result = fn(*args)
        conn.send(("ok", result, time.perf_counter() - t, _peak_mb()))
    except BaseException as exc:  # report any failure to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}", 0.0, 0.0))
    conn.close()


def measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """measured runs ``fn(*args)`` in a forked child; returns (result, wall seconds, peak RSS MB of it)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, fn, args))
    proc.start()
    child.close()
    status, result, seconds, peak = parent.recv()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{getattr(fn, '__name__', fn)} failed: {result}")
    return result, seconds, peak


# --- the measured steps (pure: inputs in, plain data out) ---------------------------------------


def read_corpus(dn: Datanet) -> list[dict[str, Any]]:
    """Parse every input line with the ingest stage; returns the accepted records."""
    from pipelines.driver.plan import input_units, split_unit
    from pipelines.stages.read import read_items

    cfg = dn.config
    splits = [sp for s in input_units(dn) for sp in split_unit(s, cfg.output, 0)[1]]
    items = [it for s in splits for it in read_items(s, dn.schema, cfg.validation)]
    return [v for k, v in items if k == "record"]


def sketch_and_hash(dn: Datanet, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sketch records as the pipeline does and give them the record hash of their (unanonymised) fields."""
    from pipelines.core.records import record_hash
    from pipelines.stages.dedup.transforms import sketch_batch

    cfg, batch, names = dn.config.dedup, dn.config.runner.batch_size, [f.name for f in dn.schema.fields]
    out: list[Any] = []
    for i in range(0, len(records), batch):
        out += sketch_batch(records[i : i + batch], dn.schema.text_fields, cfg, BENCH_SALT)
    return [{**r, "record_hash": record_hash({n: r["fields"].get(n) for n in names})} for r in out]


def our_dedup(dn: Datanet, records: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    """Sketch, band and decide as the pipeline does; returns (file, line) -> cluster (the kept record)."""
    from pipelines.stages.dedup.local import drop_duplicates_local

    kept, dups = drop_duplicates_local(sketch_and_hash(dn, records), [], dn.config.dedup)
    where = {r["record_hash"]: (Path(r["file"]).name, r["line"]) for r in kept}
    clusters: dict[tuple[str, int], Any] = {(Path(d["file"]).name, d["line"]): where[d["duplicate_of"]] for d in dups}
    clusters.update({k: k for k in set(clusters.values())})
    return clusters


def our_pii(dn: Datanet, texts: list[str]) -> dict[str, Any]:
    """Our PII stage in one process: analysis and anonymisation; seconds (engines built first) and spans."""
    from benchmarks.peers import WARM_UP
    from pipelines.stages.anonymise.engines import analyse_texts, apply_operators, build_engines

    eng = build_engines(dn.config.pii, BENCH_SALT)
    analyse_texts([WARM_UP], eng)
    t = time.perf_counter()
    found: list[list[Any]] = []
    step = dn.config.runner.batch_size
    for i in range(0, len(texts), step):
        part = analyse_texts(texts[i : i + step], eng)
        apply_operators(texts[i : i + step], part, eng)
        found += part
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "spans": [[(r.start, r.end, r.entity_type) for r in rs] for rs in found]}


def our_pii_beam(dn: Datanet, records: list[dict[str, Any]]) -> int:
    """Our AnonymisePII transform on every record through the Beam runner with its default options."""
    import apache_beam as beam

    from pipelines.stages.anonymise import AnonymisePII
    from pipelines.stages.pipeline import pipeline_options

    batch = dn.config.runner.batch_size
    batches = [records[i : i + batch] for i in range(0, len(records), batch)]
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "salt").write_bytes(BENCH_SALT)
        with beam.Pipeline(options=pipeline_options(dn)) as p:
            _ = (
                p
                | beam.Create(batches, reshuffle=True)
                | AnonymisePII(dn.config.pii, dn.schema.text_fields, str(Path(tmp, "salt")))
                | beam.Map(len)
                | beam.CombineGlobally(sum)
                | beam.Map(lambda n: Path(tmp, "n").write_text(str(n)))
            )
        return int(Path(tmp, "n").read_text())


def end_to_end(dn: Datanet) -> dict[str, Any]:
    """``datanet ingest`` of the corpus into a throwaway output folder."""
    from pipelines.driver.run import ingest

    with tempfile.TemporaryDirectory() as tmp:
        cfg = dn.config.model_copy(
            update={
                "output": dn.config.output.model_copy(update={"dir": f"{tmp}/out"}),
                "ledger": dn.config.ledger.model_copy(update={"key": f"{tmp}/k.key"}),
            }
        )
        report = ingest(Datanet(cfg, dn.schema, dn.root, dn.path), progress=lambda m: None)
    return {k: report[k] for k in ("read", "accepted", "duplicates", "quarantined")}


# --- the table ------------------------------------------------------------------------------------


def beam_workers(dn: Datanet) -> int:
    """beam_workers is how many workers the default runner options give the DirectRunner."""
    from apache_beam.options.pipeline_options import DirectOptions

    from pipelines.stages.pipeline import pipeline_options

    n = pipeline_options(dn).view_as(DirectOptions).direct_num_workers
    return n if n and n > 0 else (os.cpu_count() or 1)


def _row(stage: str, tool: str, n: int, nbytes: int, seconds: float, peak: float, workers: int = 1) -> Row:
    return {
        "stage": stage,
        "tool": tool,
        "records": n,
        "MB": round(nbytes / 1e6, 2),
        "seconds": round(seconds, 2),
        "records_per_s": round(n / seconds, 1),
        "records_per_s_per_core": round(n / seconds / workers, 1),
        "MB_per_s_per_core": round(nbytes / 1e6 / seconds / workers, 4),
        "workers": workers,
        "peak_MB": peak,
    }


def _corpus(size_mb: float, root: Path) -> Path:
    cfg = CorpusConfig(size_bytes=int(size_mb * 1e6))
    out = root / f"corpus-{size_mb:g}mb"
    manifest = out / "manifest.json"
    if not (manifest.exists() and json.loads(manifest.read_text())["config"] == json.loads(json.dumps(cfg.__dict__))):
        build_corpus(out, cfg)
    return out


def _truth(corpus: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (corpus / "truth.jsonl").read_text().splitlines()]


def dedup_rows(dn: Datanet, records: list[dict[str, Any]], truth: list[dict[str, Any]], nbytes: int) -> list[Row]:
    gold = {(t["file"], t["line"]): t["cluster"] for t in truth if t["cluster"] is not None}
    ours, s_ours, m_ours = measured(our_dedup, dn, records)
    near = dn.config.dedup.near
    from pipelines.stages.dedup.minhash import band_params

    bands, rows = band_params(near.threshold, near.num_perm, near.false_positive_weight, near.false_negative_weight)
    rows_out: list[Row] = [
        _row("near-dup", "ours", len(records), nbytes, s_ours, m_ours) | {"quality": pair_scores(gold, ours)}
    ]
    try:
        from benchmarks.peers import datatrove_minhash

        dt, s_dt, m_dt = measured(datatrove_minhash, dn.root, near.shingle_size, bands, rows, 1)
    except (ImportError, RuntimeError) as exc:
        rows_out.append({"stage": "near-dup", "tool": "datatrove", "skipped": str(exc)[:200]})
        return rows_out
    peer = _row("near-dup", "datatrove 0.10.1", len(records), nbytes, s_dt, m_dt)
    peer["quality"] = pair_scores(gold, dt["clusters"])
    rows_out[0]["speedup_vs_peer"] = round(s_dt / s_ours, 2)
    return [*rows_out, peer]


def pii_rows(dn: Datanet, records: list[dict[str, Any]], truth: list[dict[str, Any]], sample: int) -> list[Row]:
    from benchmarks.peers import stock_presidio

    by_loc = {(t["file"], t["line"]): t for t in truth}
    picked = sorted(random.Random(7).sample(range(len(records)), min(sample, len(records))))
    texts = [records[i]["fields"]["text"] for i in picked]
    gold = [[tuple(s) for s in by_loc[(Path(records[i]["file"]).name, records[i]["line"])]["spans"]] for i in picked]
    sbytes = sum(len(t.encode()) for t in texts)
    pii = dn.config.pii
    stock, _, m_stock = measured(stock_presidio, texts, list(pii.entities), pii.score_threshold, pii.spacy_model)
    ours, _, m_ours = measured(our_pii, dn, texts)
    ents = list(pii.entities)
    row_stock = _row("PII (sample)", "stock Presidio 2.2.366", len(texts), sbytes, stock["seconds"], m_stock)
    row_stock["quality"] = span_scores(gold, stock["spans"], ents)
    row_ours = _row("PII (sample)", "ours, 1 process", len(texts), sbytes, ours["seconds"], m_ours)
    row_ours["quality"] = span_scores(gold, ours["spans"], ents)
    row_ours["speedup_vs_peer"] = round(stock["seconds"] / ours["seconds"], 2)
    nbytes = sum(len(r["fields"]["text"].encode()) for r in records)
    n, s_beam, m_beam = measured(our_pii_beam, dn, records)
    workers = beam_workers(dn)
    row_beam = _row("PII (all)", f"ours, Beam {workers} worker(s)", n, nbytes, s_beam, m_beam, workers)
    stock_rate = len(texts) / stock["seconds"]
    row_beam["speedup_vs_peer"] = round(n / s_beam / stock_rate, 2)
    return [row_stock, row_ours, row_beam]


def real_name_rows(dn: Datanet, count: int) -> list[Row]:
    """PERSON precision/recall on real people's names (Debian copyright credits) in PERSON templates and real prose."""
    from benchmarks.corpus import name_texts, real_names, sentence_pool
    from benchmarks.peers import stock_presidio

    names = real_names()
    if len(names) < 100:
        return [{"stage": "PII (real names)", "tool": "both", "skipped": f"only {len(names)} names found"}]
    made = name_texts(names, sentence_pool(), count, seed=11)
    texts, gold = [t for t, _ in made], [[tuple(s) for s in spans] for _, spans in made]
    pii, nbytes = dn.config.pii, sum(len(t.encode()) for t, _ in made)
    stock, _, m_stock = measured(stock_presidio, texts, ["PERSON"], pii.score_threshold, pii.spacy_model)
    ours, _, m_ours = measured(our_pii, dn, texts)
    rows = []
    for tool, res, peak in (("stock Presidio 2.2.366", stock, m_stock), ("ours, 1 process", ours, m_ours)):
        row = _row("PII (real names)", tool, len(texts), nbytes, res["seconds"], peak)
        row["quality"] = span_scores(gold, res["spans"], ["PERSON"])
        row["names_in_pool"] = len(names)
        rows.append(row)
    rows[1]["speedup_vs_peer"] = round(stock["seconds"] / ours["seconds"], 2)
    return rows


def realtext_rows(split: str = "heldout", words: int = 20_000, stanzas: int = 1500) -> list[Row]:
    """PII precision on real text (``benchmarks.realtext``) of ``split``: PII-free corpora, then labelled stanzas.

    Three columns each: (a) stock Presidio and (b) ours with the same nine
    entities, (c) ours with the curator's profiles (``realtext.measure``).
    Each row keeps its first ``AUDIT_HITS`` false hits;
    ``python -m benchmarks.realtext --json FILE`` writes all.
    """
    from benchmarks.realtext.measure import SEED, measure

    res, _, peak = measured(measure, words, stanzas, SEED, split)
    rows: list[Row] = []
    for r in res["pii_free"]:
        rates = {k: r[k] for k in ("words", "units_changed_pct", "per_10k_words", "by_entity")}
        rows.append(
            {"stage": f"no-PII {r['corpus']}", "tool": r["tool"], "records": r["units"], "peak_MB": peak}
            | {"seconds": r["seconds"], "split": split, "false_redactions": rates, "hits": r["hits"][:AUDIT_HITS]}
        )
    stock = res["labelled"][0]["seconds"]
    for r in res["labelled"]:
        row = _row("PII (copyright)", r["tool"], r["stanzas"], 0, r["seconds"], peak)
        row.update(MB=None, MB_per_s_per_core=None, quality=r["quality"], not_personal=r["not_personal"])
        row["false_positives"] = r["false_positives"][:AUDIT_HITS]
        if r is not res["labelled"][0]:
            row["speedup_vs_peer"] = round(stock / r["seconds"], 2)
        rows.append(row)
    return rows


def attribution_rows(outputs: int) -> list[Row]:
    """Attribution quality on real paragraphs, and 300-word queries against 100 k records beside a naive scan.

    ``python -m benchmarks.attribution`` (in ``make bench``) also runs 1 M records.
    """
    from benchmarks.attribution import paragraphs, quality, speed, synthetic_vocabulary

    q, s_q, m_q = measured(quality, outputs)
    rows: list[Row] = [
        {
            "stage": "attribution",
            "tool": "ours (infini-gram)",
            "records": q["records"],
            "outputs": outputs,
            "seconds": round(s_q, 2),
            "peak_MB": m_q,
            "attribution": q,
        }
    ]
    paras = paragraphs()
    vocab, weights, prose = synthetic_vocabulary(paras)
    sp, s_sp, m_sp = measured(speed, 100_000, 100, 3, vocab, weights, prose)
    rows.append(
        {"stage": "attribution 100 k", "tool": "ours (infini-gram)", "seconds": round(s_sp, 2), "peak_MB": m_sp}
        | {"records": sp["records"], "speed": sp}
    )
    return rows


def ledger_rows(n: int) -> list[Row]:
    from benchmarks.ledger import _child

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for tool, kind in (("ours", "ours"), ("pymerkle 7.0.0", "pymerkle")):
            try:
                w = _child(f"write_{kind}", f"{tmp}/{kind}", n)
                p = _child(f"prove_{kind}", f"{tmp}/{kind}", n)
            except RuntimeError as exc:
                rows.append({"stage": "ledger", "tool": tool, "skipped": str(exc)[-200:]})
                continue
            row = _row("ledger append", tool, n, 0, w["seconds"], round(w["peak_rss_mb"], 1))
            row.update(MB=None, MB_per_s_per_core=None, root=w["root"], proof_median_ms=round(p["median_ms"], 3))
            rows.append(row)
    if len(rows) == 2 and "skipped" not in rows[1]:
        rows[0]["speedup_vs_peer"] = round(rows[1]["seconds"] / rows[0]["seconds"], 2)
        rows[0]["same_root"] = rows[0]["root"] == rows[1]["root"]
    return rows


def run(size_mb: float, sample: int, root: Path, ledger_n: int, split: str = "heldout") -> dict[str, Any]:
    """run measures everything on the corpus of ``size_mb`` (real-text PII on ``split``); returns table and context."""
    corpus = _corpus(size_mb, root)
    dn = load_datanet("bench", root=corpus)
    truth = _truth(corpus)
    nbytes = sum(p.stat().st_size for p in (corpus / "contributions").glob("*.jsonl"))
    records, s_read, m_read = measured(read_corpus, dn)
    table = [_row("ingest (parse)", "ours", len(records), nbytes, s_read, m_read)]
    table += dedup_rows(dn, records, truth, nbytes)
    table += pii_rows(dn, records, truth, sample)
    table += real_name_rows(dn, sample)
    table += realtext_rows(split)
    e2e, s_e2e, m_e2e = measured(end_to_end, dn)
    workers = beam_workers(dn)
    table.append(
        _row("end-to-end ingest", f"ours, Beam {workers} worker(s)", e2e["read"], nbytes, s_e2e, m_e2e, workers)
    )
    table[-1]["counts"] = e2e
    pii_all = next(r for r in table if r["stage"] == "PII (all)")
    table[-1]["slower_than_PII_stage_by"] = round(s_e2e / pii_all["seconds"] - 1, 3)
    table += attribution_rows(max(300, sample))
    table += ledger_rows(ledger_n)
    return {
        "command": f"datanet bench --size-mb {size_mb:g} --sample {sample} --split {split}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "corpus": json.loads((corpus / "manifest.json").read_text()),
        "table": table,
    }


def render_table(result: dict[str, Any]) -> str:
    """render_table formats the rows as a fixed-width text table, with ratios and quality."""
    head = f"{'stage':<19}{'tool':<27}{'records':>8}{'s':>8}{'rec/s':>9}{'MB/s/core':>10}{'peak MB':>9}  ratio  quality"
    lines = [head, "-" * len(head)]
    for r in result["table"]:
        if "skipped" in r:
            lines.append(f"{r['stage']:<19}{r['tool']:<27}  skipped: {r['skipped'][:60]}")
            continue
        if "attribution" in r:
            a = r["attribution"]
            lines.append(
                f"{r['stage']:<19}{r['tool']:<27}{r['outputs']:>8}{r['seconds']:>8.1f}"
                f"  P {a['verbatim_precision']:.3f} R(>=12) {a['verbatim_recall_12plus']:.3f}"
                f" R(5% edits) {a['edited_5pct_recall_12plus']:.3f} novel {a['novel_only_attributed']:.1%}"
                f" weights<=5pp {a['weights_within_5pp']:.0%}"
            )
            continue
        if "false_redactions" in r:
            f = r["false_redactions"]
            per = ", ".join(f"{e} {v['per_10k_words']}" for e, v in f["by_entity"].items())
            lines.append(
                f"{r['stage']:<19}{r['tool']:<27}{r['records']:>8}{r['seconds']:>8.1f}"
                f"  {f['per_10k_words']} false redactions / 10k words ({per}); {f['units_changed_pct']}% changed"
            )
            continue
        if "speed" in r:
            sp = r["speed"]
            lines.append(
                f"{r['stage']:<19}{r['tool']:<27}{sp['records']:>8}{r['seconds']:>8.1f}"
                f"  p50 {sp['p50_ms']} ms p99 {sp['p99_ms']} ms; naive scan p50 {sp['naive_p50_ms']:.0f} ms;"
                f" index {sp['index_over_text']}x text, built at {sp['build_MB_per_s_per_core']} MB/s/core"
            )
            continue
        q = r.get("quality", {})
        qual = f"P {q['precision']:.3f} R {q['recall']:.3f} F1 {q['f1']:.3f}" if "f1" in q else ""
        if "ALL" in q:
            qual = f"P {q['ALL']['precision']:.3f} R {q['ALL']['recall']:.3f} F1 {q['ALL']['f1']:.3f}"
        if "proof_median_ms" in r:
            qual = f"proof {r['proof_median_ms']} ms"
        mbs = "" if r["MB_per_s_per_core"] is None else f"{r['MB_per_s_per_core']:.3f}"
        ratio = f"{r['speedup_vs_peer']:.2f}x" if "speedup_vs_peer" in r else ""
        lines.append(
            f"{r['stage']:<19}{r['tool']:<27}{r['records']:>8}{r['seconds']:>8.1f}{r['records_per_s']:>9.0f}"
            f"{mbs:>10}{r['peak_MB']:>9.0f}  {ratio:>5}  {qual}"
        )
    return "\n".join(lines)


def render_entities(result: dict[str, Any]) -> str:
    """render_entities lists PII precision / recall per entity type, stock Presidio first, per PII stage."""
    lines: list[str] = []
    for stage in ("PII (sample)", "PII (real names)", "PII (copyright)"):
        rows = [r for r in result["table"] if r["stage"] == stage and "quality" in r]
        if len(rows) < 2:
            continue
        lines += [f"{stage}: entity, planted, then P / R of " + "; ".join(r["tool"] for r in rows)]
        for entity, q in rows[0]["quality"].items():
            scores = [r["quality"].get(entity, {"precision": 1.0, "recall": 1.0}) for r in rows]
            lines.append(
                f"  {entity:<14}{q['gold']:>6}   "
                + "   ".join(f"{o['precision']:.3f} / {o['recall']:.3f}" for o in scores)
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from pipelines.cli.main import bench_arguments, quiet_logs

    quiet_logs()
    ap = argparse.ArgumentParser(prog="datanet bench", description=__doc__.split("\n")[0])
    bench_arguments(ap)
    return execute(ap.parse_args(argv))


def execute(args: argparse.Namespace) -> int:
    """execute runs the benchmark for the parsed ``datanet bench`` arguments."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    root = Path(args.dir)
    result = run(args.size_mb, args.sample, root, args.ledger_entries, args.split)
    out = Path(args.out or root / f"bench-{args.size_mb:g}mb.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(render_table(result))
    print()
    print(render_entities(result))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
