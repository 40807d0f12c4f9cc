"""Attribution benchmark: quality on real paragraphs, speed and size at 100 k and 1 M records.

    python -m benchmarks.attribution [--outputs 3000] [--sizes 100000 1000000] [--out bench-out/attribution.json]

**Quality.** Records are real paragraphs (30-200 words) of the machine's
``/usr/share/doc`` files, de-duplicated; a fixed hash split keeps 80 % as
the Datanet and 20 % as *novel* text that is not in it. Each output stitches
1-4 spans of 8-60 words from random records between novel passages of 10-40
words; one third are verbatim, one third have 5 % of span words replaced,
one third are novel only. Held-out paragraphs that share a run of 8 words
with a record (licence boilerplate, changelog lines) are real reuse, so
they are counted and kept out of the novel pool. Truth is computed without
the index: a predicted record is right when it holds a run of 8 words of
one of the output's stitched spans, and a span's holders (for weights) are
the records containing all its words in a row, by a naive scan.

* verbatim precision and recall, record level, for spans of at least 12 words;
* recall with 5 % word edits (spans of at least 12 words, and all);
* the share of novel-only outputs attributed to anything;
* weights: |weight - true share of characters| per attributed source record.

**Speed.** Synthetic records (60 lower-case words drawn from the real
paragraphs' vocabulary by frequency): index build MB/s (one process), index size over
text size, and the latency of ``attribute`` on 300-word outputs (two
30-word quotes in novel words), median and p99, against a naive scan
(``str.find`` of every 8-word window of the output in all records' text).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import statistics
import tempfile
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

from benchmarks.corpus import DOC_ROOTS, prose_texts
from pipelines.downstream.attribution.attribute import attribute_with
from pipelines.downstream.attribution.index import add_run, open_index, words
from pipelines.downstream.attribution.spans import Rule

_PARA = re.compile(r"\n\s*\n")


def paragraphs(roots: tuple[Path, ...] = DOC_ROOTS, max_bytes: int = 60_000_000) -> list[str]:
    """paragraphs returns the sorted unique paragraphs of 30-200 words of the machine's prose files."""
    seen: set[str] = set()
    for text in prose_texts(roots, max_bytes):
        for p in _PARA.split(text):
            flat = " ".join(p.split())
            if 30 <= len(flat.split()) <= 200 and flat.isprintable():
                seen.add(flat)
    return sorted(seen)


def _held_out(p: str) -> bool:
    return hashlib.sha256(p.encode()).digest()[0] >= 205  # about 20 %


def _norm(ws: list[str]) -> str:
    return " " + " ".join(ws) + " "


class Truth:
    """A naive scan: which records hold a run of words (lower-cased ``\\w+``), by ``str.find`` over all of them."""

    def __init__(self, texts: list[str]) -> None:
        parts, self.starts, pos = [], [], 0
        for t in texts:
            s = _norm([w for _, _, w in words(t)]) + "\n"
            parts.append(s)
            self.starts.append(pos)
            pos += len(s)
        self.big = "".join(parts)

    def holders(self, ws: list[str]) -> set[int]:
        needle, out, at = _norm(ws), set(), 0
        while (at := self.big.find(needle, at)) >= 0:
            out.add(bisect_right(self.starts, at) - 1)
            at += 1
        return out


def _slice(text: str, ws: list[tuple[int, int, str]], start: int, n: int) -> str:
    return text[ws[start][0] : ws[start + n - 1][1]]


def _edit(piece: str, rng: random.Random, vocab: list[str], rate: float) -> str:
    out = []
    for w in piece.split(" "):
        out.append(rng.choice(vocab) if rng.random() < rate else w)
    return " ".join(out)


def make_outputs(records: list[str], novel: list[str], n: int, seed: int) -> list[dict[str, Any]]:
    """make_outputs stitches ``n`` outputs (verbatim, edited, novel-only in turn) with their sources and spans."""
    rng = random.Random(seed)
    vocab = sorted({w for p in novel[:2000] for w in p.split() if w.isalpha() and len(w) > 3})

    def filler() -> str:
        p = rng.choice(novel).split()
        k = rng.randint(10, min(40, len(p)))
        at = rng.randrange(len(p) - k + 1)
        return " ".join(p[at : at + k])

    outs = []
    for i in range(n):
        kind = ("verbatim", "edited", "novel")[i % 3]
        parts, spans = [filler()], []
        for _ in range(0 if kind == "novel" else rng.randint(1, 4)):
            r = rng.randrange(len(records))
            ws = words(records[r])
            length = rng.randint(8, min(60, len(ws)))
            start = rng.randrange(len(ws) - length + 1)
            piece = _slice(records[r], ws, start, length)
            if kind == "edited":
                piece = _edit(piece, rng, vocab, 0.05)
            spans.append({"record": r, "words": [w for _, _, w in ws[start : start + length]], "text": piece})
            parts += [piece, filler()]
        text = ""
        for j, part in enumerate(parts):
            text += " " if j else ""
            if j % 2:  # parts alternate filler, span, filler, ...
                spans[j // 2]["start"], spans[j // 2]["end"] = len(text), len(text) + len(part)
            text += part
        outs.append({"kind": kind, "text": text, "spans": spans})
    return outs


def _grams(ws: list[str], n: int) -> set[int]:
    return {hash(" ".join(ws[i : i + n])) for i in range(len(ws) - n + 1)}


def quality(outputs: int, seed: int = 20261128, n: int = 8) -> dict[str, Any]:
    """quality builds the index of the real-paragraph Datanet and scores ``outputs`` stitched outputs.

    Held-out paragraphs sharing any run of ``n`` (= min_span) words with a
    record are real reuse, not novel text: they are counted, and left out of
    the novel pool. A predicted record is correct when it holds a run of
    ``n`` words of one of the output's stitched spans (checked by scanning).
    """
    paras = paragraphs()
    records = [p for p in paras if not _held_out(p)][:20_000]
    held = [p for p in paras if _held_out(p)]
    by_gram: dict[int, set[int]] = {}
    for i, p in enumerate(records):
        for g in _grams([w for _, _, w in words(p)], n):
            by_gram.setdefault(g, set()).add(i)
    novel = [p for p in held if not _grams([w for _, _, w in words(p)], n) & by_gram.keys()]
    truth = Truth(records)
    outs = make_outputs(records, novel, outputs, seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        add_run(folder, "bench", ((i, hashlib.sha256(p.encode()).hexdigest(), p) for i, p in enumerate(records)))
        idx, rule = open_index(folder), Rule()
        counts = {k: 0 for k in ("tp", "fp", "fn", "fn_short", "pairs_short", "edited_tp", "edited_fn")}
        counts |= {"edited_all_tp": 0, "edited_all_fn": 0, "novel": 0, "novel_hit": 0}
        errors: list[float] = []
        for o in outs:
            got = {r["ledger_index"]: r["bp"] for r in attribute_with(idx, o["text"], rule)["records"]}
            if o["kind"] == "novel":
                counts["novel"] += 1
                counts["novel_hit"] += bool(got)
                continue
            holders = [truth.holders(s["words"]) | {s["record"]} for s in o["spans"]]
            if o["kind"] == "edited":
                for s in o["spans"]:
                    hit = s["record"] in got
                    counts["edited_all_tp" if hit else "edited_all_fn"] += 1
                    if len(s["words"]) >= 12:
                        counts["edited_tp" if hit else "edited_fn"] += 1
                continue
            allowed = set().union(*holders)
            for s in o["spans"]:
                for g in _grams(s["words"], n):
                    allowed |= by_gram.get(g, set())
            counts["tp"] += sum(1 for r in got if r in allowed)
            counts["fp"] += sum(1 for r in got if r not in allowed)
            share: dict[int, float] = {}
            for s, hs in zip(o["spans"], holders, strict=True):
                if len(s["words"]) >= 12:
                    counts["fn"] += s["record"] not in got
                else:
                    counts["pairs_short"] += 1
                    counts["fn_short"] += s["record"] not in got
                for h in hs:
                    share[h] = share.get(h, 0.0) + (s["end"] - s["start"]) / len(o["text"]) / len(hs)
            errors += [abs(got[r] / 10_000 - share[r]) for r in got if r in share]
        idx.engine = None
    long_pairs = counts["tp"] + counts["fn"]
    return {
        "records": len(records),
        "held_out_paragraphs": len(held),
        "held_out_sharing_a_run_with_a_record": len(held) - len(novel),
        "novel_paragraphs": len(novel),
        "outputs": outputs,
        "rule": rule.name,
        "verbatim_precision": round(counts["tp"] / max(1, counts["tp"] + counts["fp"]), 4),
        "verbatim_recall_12plus": round(1 - counts["fn"] / max(1, long_pairs), 4),
        "verbatim_recall_8_to_11": round(1 - counts["fn_short"] / max(1, counts["pairs_short"]), 4),
        "edited_5pct_recall_12plus": round(counts["edited_tp"] / max(1, counts["edited_tp"] + counts["edited_fn"]), 4),
        "edited_5pct_recall_all": round(
            counts["edited_all_tp"] / max(1, counts["edited_all_tp"] + counts["edited_all_fn"]), 4
        ),
        "novel_only_attributed": round(counts["novel_hit"] / max(1, counts["novel"]), 4),
        "weight_error_mean_pp": round(100 * statistics.fmean(errors), 2) if errors else None,
        "weight_error_p95_pp": round(100 * sorted(errors)[int(0.95 * (len(errors) - 1))], 2) if errors else None,
        "weights_within_5pp": round(sum(e <= 0.05 for e in errors) / len(errors), 4) if errors else None,
        "counts": counts,
    }


def synthetic(n: int, vocab: list[str], weights: list[float], seed: int) -> list[str]:
    """synthetic returns ``n`` records of 60 words drawn from ``vocab`` with ``weights`` (deterministic)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n // 1000):
        ws = rng.choices(vocab, weights, k=60_000)
        out += [" ".join(ws[i : i + 60]) for i in range(0, 60_000, 60)]
    return out


def speed(
    size: int, queries: int, naive_queries: int, vocab: list[str], weights: list[float], prose: list[str]
) -> dict[str, Any]:
    """speed builds an index of ``size`` synthetic records and times queries through it and a naive scan.

    A query is 300 words: 240 words of real held-out ``prose`` with two 30-word quotes of records.
    """
    texts = synthetic(size, vocab, weights, seed=size)
    text_bytes = sum(len(t.encode()) for t in texts)
    rng = random.Random(7)
    outputs = []
    for _ in range(queries):
        novel = " ".join(rng.sample(prose, 12)).split()[:240]
        a, b = rng.sample(range(size), 2)
        qa, qb = texts[a].split()[:30], texts[b].split()[15:45]
        outputs.append(" ".join(novel[:80] + qa + novel[80:160] + qb + novel[160:]))
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp) / "index"
        t = time.perf_counter()
        add_run(folder, "bench", ((i, f"{i:064x}", x) for i, x in enumerate(texts)))
        build = time.perf_counter() - t
        index_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        idx, rule = open_index(folder), Rule()
        attribute_with(idx, outputs[0], rule)
        lat = []
        for o in outputs:
            t = time.perf_counter()
            attribute_with(idx, o, rule)
            lat.append((time.perf_counter() - t) * 1000)
        idx.engine = None
        open_index.cache_clear()
    big = "\n".join(texts)
    naive = []
    for o in outputs[:naive_queries]:
        ws = o.split()
        t = time.perf_counter()
        _ = [i for i in range(len(ws) - 7) if big.find(" ".join(ws[i : i + 8])) >= 0]
        naive.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return {
        "records": size,
        "text_MB": round(text_bytes / 1e6, 1),
        "build_s": round(build, 1),
        "build_MB_per_s_per_core": round(text_bytes / 1e6 / build, 2),
        "index_MB": round(index_bytes / 1e6, 1),
        "index_over_text": round(index_bytes / text_bytes, 2),
        "queries": queries,
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2),
        "naive_queries": len(naive),
        "naive_p50_ms": round(statistics.median(naive), 1),
    }


def synthetic_vocabulary(paras: list[str]) -> tuple[list[str], list[float], list[str]]:
    """synthetic_vocabulary: the paragraphs' lower-case words with their counts, and the held-out prose."""
    freq: dict[str, int] = {}
    for p in paras:
        for w in p.lower().split():
            if w.isalpha():
                freq[w] = freq.get(w, 0) + 1
    vocab = sorted(freq)
    return vocab, [float(freq[w]) for w in vocab], [p for p in paras if _held_out(p)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outputs", type=int, default=3000)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default="bench-out/attribution.json")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {"cpus": os.cpu_count(), "quality": quality(args.outputs)}
    print(json.dumps(result["quality"], indent=1))
    vocab, weights, prose = synthetic_vocabulary(paragraphs())
    result["speed"] = []
    for size in args.sizes:
        row = speed(size, args.queries, 5 if size <= 100_000 else 2, vocab, weights, prose)
        print(json.dumps(row))
        result["speed"].append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
