"""Near-duplicate quality on real, boilerplate-heavy paragraphs, against exact shingle Jaccard.

    python -m benchmarks.neardup [--records 4000] [--threshold 0.8] [--seed 11]

The corpus is paragraphs of the copyright, licence and README files under
``/usr/share/doc`` (30-300 words each: licence boilerplate shared by many
packages), in a seeded order, plus planted exact copies and near copies
(1-6 % of words substituted or dropped). The truth is the ideal greedy
decision computed by brute force over *every* pair with exact Jaccard
(records in order; each is a duplicate iff its normalised text equals, or
its shingle Jaccard is >= the threshold with, a record kept before it). The
pipeline's decision (LSH candidates, then exact verification, see
``pipelines.stages.dedup``) is scored against it: precision and recall of the set
of dropped records. Prints one JSON line; never a timed unit test.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.core.config import DedupConfig
from pipelines.stages.dedup.local import drop_duplicates_local, sketched_texts
from pipelines.stages.dedup.minhash import exact_jaccard

SALT = b"neardup-bench-salt"
PROSE = re.compile(r"^(copyright|readme.*|licen[cs]e.*|notice.*)$", re.I)


def paragraphs(root: Path = Path("/usr/share/doc"), limit: int = 200_000) -> list[str]:
    """paragraphs returns the 30-300-word paragraphs of prose files under ``root``, in path order."""
    out: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and PROSE.match(p.name)):
        try:
            text = path.read_text(encoding="utf-8", errors="strict")
        except (OSError, UnicodeDecodeError):
            continue
        for para in re.split(r"\n\s*\n", text):
            words = para.split()
            if 30 <= len(words) <= 300:
                out.append(" ".join(words))
        if len(out) >= limit:
            break
    return out


def _edit(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(max(1, int(len(words) * rng.uniform(0.01, 0.06)))):
        i = rng.randrange(len(words))
        if rng.random() < 0.5 and len(words) > 31:
            del words[i]
        else:
            words[i] = rng.choice(words)
    return " ".join(words)


def corpus(n: int, seed: int) -> list[str]:
    """corpus is ``n`` texts: real paragraphs, about 10 % exact and 15 % near copies of earlier ones."""
    rng = random.Random(seed)
    pool = paragraphs()
    rng.shuffle(pool)
    texts: list[str] = []
    for para in pool:
        if len(texts) >= n:
            break
        roll = rng.random()
        if texts and roll < 0.10:
            texts.append(rng.choice(texts))
        elif texts and roll < 0.25:
            texts.append(_edit(rng.choice(texts), rng))
        texts.append(para)
    return texts[:n]


def ideal(records: list[dict[str, Any]], threshold: float) -> set[int]:
    """ideal is the brute-force greedy: lines dropped when compared with every earlier kept record."""
    by_shingle: dict[int, list[int]] = defaultdict(list)
    kept_keys: set[str] = set()
    dropped: set[int] = set()
    sh = [np.frombuffer(r["shingles"], dtype=np.uint64) for r in records]
    for i, r in enumerate(records):
        dup = r["content_key"] in kept_keys
        if not dup:
            seen: set[int] = set()
            for s in sh[i].tolist():
                for j in by_shingle.get(s, ()):
                    if j not in seen:
                        seen.add(j)
                        if exact_jaccard(sh[i], sh[j]) >= threshold:
                            dup = True
                            break
                if dup:
                    break
        if dup:
            dropped.add(r["line"])
            continue
        kept_keys.add(r["content_key"])
        for s in sh[i].tolist():
            by_shingle[s].append(i)
    return dropped


def measure(n: int, threshold: float, seed: int) -> dict[str, Any]:
    """measure scores the pipeline's decision against the ideal greedy on one seeded corpus."""
    cfg = DedupConfig.model_validate({"near": {"threshold": threshold}})
    records = sketched_texts(corpus(n, seed), cfg, SALT)
    t = time.perf_counter()
    _, dups = drop_duplicates_local(records, [], cfg)
    seconds = time.perf_counter() - t
    ours = {d["line"] for d in dups}
    truth = ideal(records, threshold)
    hit = len(ours & truth)
    near_truth = truth - {d["line"] for d in dups if d["kind"] != "near"}
    return {
        "records": len(records),
        "threshold": threshold,
        "dropped_truth": len(truth),
        "dropped_ours": len(ours),
        "precision": round(hit / len(ours), 4) if ours else 1.0,
        "recall": round(hit / len(truth), 4) if truth else 1.0,
        "near_dropped_ours": sum(1 for d in dups if d["kind"] == "near"),
        "near_truth_estimate": len(near_truth),
        "min_near_similarity": min((d["similarity"] for d in dups if d["kind"] == "near"), default=None),
        "decide_seconds": round(seconds, 2),
        "records_per_s": round(len(records) / seconds, 1) if seconds else None,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.neardup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.records, args.threshold, args.seed)))


if __name__ == "__main__":
    main()
