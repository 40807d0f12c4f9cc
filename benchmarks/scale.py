"""Scale benchmark: synthetic Datanets of 20 k to 1 M records, PII off, with planted duplicates.

``python -m benchmarks.scale --sizes 20000 200000 1000000`` generates each
Datanet under ``bench-out/scale/`` (seeded, so every run is the same input),
ingests it and reports wall time, records/s, peak RSS of the driver and of the
largest worker process, and whether the accounting balanced and every planted
line is accounted for. ``--runner DaskRunner --option dask_client_address=…``
runs the same input on a Dask cluster. Each row also gives ``machine_s``
(``machine_speed``): how long a fixed piece of CPU work took just before it,
so rows from a shared host at different hours can be compared. Never a timed
unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

WORDS = (
    "patient reports mild pain since monday follow review clinic blood pressure stable medication dose "
    "increase weekly chest clear pulse regular advice given return if worse fever cough headache nausea "
    "insulin metformin ramipril inhaler physiotherapy referral scan result normal abnormal repeat test "
    "month week daily night morning evening left right knee hip shoulder back neck wrist ankle"
).split()

SCHEMA = """\
name: scale_note
fields:
  - {name: text, type: string, text: true}
  - {name: rating, type: integer, required: false}
"""


NAMES = ("Maria Lopez", "John Okafor", "Aisha Khan", "Tom Becker", "Wei Chen", "Sarah O'Neill")


def _text(rng: random.Random, n_words: int, pii: bool = False) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(n_words)) + f" ref {rng.getrandbits(48):012x}."
    if not pii:
        return body
    who = rng.choice(NAMES)
    return (
        f"Seen {who} on 2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}, call 020 7946 {rng.randint(1000, 9999)}. {body}"
    )


def generate(root: Path, n: int, files: int = 8, seed: int = 7, pii: bool = False) -> dict[str, int]:
    """generate writes a Datanet of ``n`` lines over ``files`` JSONL files; returns what it planted.

    With ``pii``, each note names a patient, a date and a phone number
    (clinical-notes-like) and the Datanet scrubs them (clinical profile).
    """
    rng = random.Random(seed)
    for sub in ("schemas", "datanets", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "scale.yaml").write_text(SCHEMA)
    (root / "datanets" / "scale.yaml").write_text(
        "name: scale\nschema: schemas/scale.yaml\nsources:\n  - {path: data/*.jsonl, format: jsonl}\n"
        + ("pii: {profile: clinical}\n" if pii else "pii: {enabled: false}\n")
    )
    planted = {"lines": n, "exact": 0, "bad": 0}
    recent: list[str] = []
    per_file = -(-n // files)
    written = 0
    for f in range(files):
        with open(root / "data" / f"part-{f:03d}.jsonl", "w", encoding="utf-8") as out:
            for _ in range(min(per_file, n - written)):
                written += 1
                roll = rng.random()
                if roll < 0.002:
                    out.write('{"contributor_id": "c1", "text": \n')
                    planted["bad"] += 1
                    continue
                if roll < 0.05 and recent:
                    text = rng.choice(recent)
                    planted["exact"] += 1
                else:
                    text = _text(rng, rng.randint(30, 90), pii)
                    recent = [*recent[-99:], text]
                row = {"contributor_id": f"c{rng.randrange(500)}", "text": text, "rating": rng.randrange(5)}
                out.write(json.dumps(row) + "\n")
    return planted


class _PeakSampler(threading.Thread):
    """Samples every 0.2 s (Linux /proc) the RSS of this process, and the largest of its descendants
    or, for a cluster, of each worker's process tree (``worker_pids``: a Dask nanny and its worker).

    One walk over /proc per sample, whatever the number of workers: the sampler
    shares the machine with the workers it measures (three walks per sample
    took 5 % of a core at 2 workers, time taken from the workers).
    """

    def __init__(self, worker_pids: list[int] | None = None) -> None:
        super().__init__(daemon=True)
        self.driver = 0
        self.worker = 0
        self.stop = False
        self.worker_pids = worker_pids or []

    def run(self) -> None:
        me = os.getpid()
        while not self.stop:
            children, rss = _proc_table()
            mine = _tree(me, children)
            self.driver = max(self.driver, rss.get(me, 0))
            for pid in mine[1:]:
                self.worker = max(self.worker, rss.get(pid, 0))
            for pid in self.worker_pids:
                self.worker = max(self.worker, sum(rss.get(p, 0) for p in _tree(pid, children)))
            time.sleep(0.2)


def _proc_table() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Every process's children and resident bytes, from one walk over /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = resource.getpagesize()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                parts = f.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(parts[1]), []).append(int(d))
            rss[int(d)] = int(parts[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    return children, rss


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    """``root`` and its descendants, ``root`` first."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def machine_speed(repeats: int = 5) -> float:
    """machine_speed is the median time (s) of a fixed, read-phase-like piece of work on this machine now.

    Word 5-grams of 1,000 seeded notes, each hashed with keyed BLAKE2b, then
    sorted and made distinct with NumPy: the kind of work the read phase
    does, written out here so that it never changes with the pipeline's
    code. Measured in this process just before a row runs, so rows taken
    hours apart on a shared host can be compared: on 2026-12-01 the same
    work took 25 to 35 % longer in the afternoon than in the morning, and so
    did every run.
    """
    import hashlib

    import numpy as np

    rng = random.Random(11)
    texts = [_text(rng, 60) for _ in range(1_000)]
    keyed = hashlib.blake2b(digest_size=8, key=b"machine-speed")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for text in texts:
            words = text.split()
            digests = []
            for i in range(len(words) - 4):
                h = keyed.copy()
                h.update(" ".join(words[i : i + 5]).encode())
                digests.append(h.digest())
            np.unique(np.frombuffer(b"".join(digests), dtype="<u8"))
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def run_one(
    root: Path, n: int, overrides: dict[str, Any], worker_pids: list[int] | None = None, pii: bool = False
) -> dict[str, Any]:
    """run_one generates (if needed) and ingests one size; returns the measured row."""
    from pipelines.core.config import load_datanet
    from pipelines.driver.run import ingest

    marker = root / "planted.json"
    if not marker.exists():
        marker.write_text(json.dumps(generate(root, n, pii=pii)))
    planted = json.loads(marker.read_text())
    dn = load_datanet("scale", root=root)
    speed = machine_speed()
    sampler = _PeakSampler(worker_pids)
    sampler.start()
    t0 = time.perf_counter()
    error = None
    try:
        report = ingest(dn, overrides=overrides, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except Exception as exc:
        report, error = {}, f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - t0
    sampler.stop = True
    sampler.join()
    got = report.get("accepted", 0) + report.get("duplicates", {}).get("total", 0)
    got += report.get("quarantined", {}).get("total", 0)
    return {
        "records": n,
        "wall_s": round(wall, 1),
        "records_per_s": round(n / wall, 1),
        "driver_peak_mb": round(sampler.driver / 2**20, 1),
        "worker_peak_mb": round(sampler.worker / 2**20, 1),
        "read": report.get("read"),
        "accounted": got,
        "lost": planted["lines"] - got,
        "error": error,
        "machine_s": round(speed, 4),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    ap.add_argument("--out", default="bench-out/scale")
    ap.add_argument("--runner", default=None)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--fresh", action="store_true", help="remove earlier outputs (keeps generated inputs)")
    ap.add_argument("--pii", action="store_true", help="clinical-notes-like text with names and phones, PII on")
    ap.add_argument("--cluster-dir", help="a pipelines.ops.cluster folder: sample its workers' memory too")
    args = ap.parse_args(argv)
    overrides: dict[str, Any] = dict(o.split("=", 1) for o in args.option)
    if args.runner:
        overrides["runner"] = args.runner
    pids = [int(p) for p in Path(args.cluster_dir, "pids").read_text().split()[1:]] if args.cluster_dir else None
    rows = []
    for n in args.sizes:
        root = Path(args.out) / f"n{n}{'-pii' if args.pii else ''}"
        if args.fresh:
            import shutil

            shutil.rmtree(root / "out", ignore_errors=True)
        row = run_one(root, n, overrides, pids, args.pii)
        rows.append({**row, "runner": args.runner or "DirectRunner", "pii": args.pii})
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "scale.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
