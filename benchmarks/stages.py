"""Ingest benchmark: each stage's library function on an example Datanet, then the whole Beam run.

    python -m benchmarks.stages [--datanet clinical-notes] [--out bench-out/stages.json]

Stages are timed in one process on the example's inputs, in pipeline order,
each on the previous stage's output (single core, no Beam); the end-to-end
figure is ``datanet ingest`` through Beam with its default runner (all
cores), into a temporary output folder. MB/s counts input file bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.core.config import Datanet, load_datanet
from pipelines.core.records import record_hash
from pipelines.driver.plan import input_units, split_unit
from pipelines.driver.run import ingest
from pipelines.stages.anonymise import anonymise_batch, build_engines
from pipelines.stages.dedup.local import drop_duplicates_local
from pipelines.stages.dedup.transforms import sketch_batch
from pipelines.stages.read import read_items
from pipelines.stages.validate import Validator, is_row_level, validate_batch

REPO = Path(__file__).resolve().parents[2]
SALT = b"bench-salt-0123456789abcdef"


def _time(label: str, results: dict[str, Any], n: int, nbytes: int, fn: Any, *args: Any) -> Any:
    t = time.perf_counter()
    out = fn(*args)
    s = time.perf_counter() - t
    results[label] = {
        "seconds": round(s, 3),
        "records": n,
        "records_per_s": round(n / s, 1),
        "MB_per_s": round(nbytes / 1e6 / s, 3),
    }
    return out


def stages(dn: Datanet) -> dict[str, Any]:
    """Time each stage's pure function on the Datanet's inputs, in pipeline order."""
    specs = input_units(dn)
    splits = [sp for s in specs for sp in split_unit(s, dn.config.output, 0)[1]]
    nbytes = sum(
        sum(p.stat().st_size for p in Path(s.path).rglob("*")) if s.format == "textdir" else Path(s.path).stat().st_size
        for s in specs
    )
    cfg, res = dn.config, dict[str, Any]()
    items = _time(
        "ingest", res, 0, nbytes, lambda: [it for s in splits for it in read_items(s, dn.schema, cfg.validation)]
    )
    records = [v for k, v in items if k == "record"]
    read = sum(1 for k, _ in items if k != "blank")
    res["ingest"].update(records=read, records_per_s=round(read / res["ingest"]["seconds"], 1))
    n, batch = len(records), cfg.runner.batch_size
    fields = dn.schema.text_fields
    sketched = _time(
        "dedup_sketch",
        res,
        n,
        nbytes,
        lambda: [r for i in range(0, n, batch) for r in sketch_batch(records[i : i + batch], fields, cfg.dedup, SALT)],
    )
    engines = build_engines(cfg.pii, SALT)
    clean = _time(
        "anonymise",
        res,
        n,
        nbytes,
        lambda: [r for i in range(0, n, batch) for r in anonymise_batch(sketched[i : i + batch], fields, engines)],
    )
    validator = Validator([s for s in cfg.validation.expectations if is_row_level(s)])
    cols = [f.name for f in dn.schema.fields]
    checked = _time(
        "validate",
        res,
        len(clean),
        nbytes,
        lambda: [validate_batch(clean[i : i + batch], validator, cols) for i in range(0, len(clean), batch)],
    )
    valid = [r for ok, _ in checked for r in ok]
    hashed = _time(
        "record_hash",
        res,
        len(valid),
        nbytes,
        lambda: [{**r, "record_hash": record_hash({k: r["fields"].get(k) for k in cols})} for r in valid],
    )
    _time("dedup_decide", res, len(hashed), nbytes, lambda: drop_duplicates_local(hashed, [], cfg.dedup))
    return {"input_bytes": nbytes, "stages": res}


def end_to_end(name: str) -> dict[str, Any]:
    """Run ``ingest`` through Beam into a throwaway output folder."""
    with tempfile.TemporaryDirectory() as tmp:
        dn = load_datanet(name, root=REPO)
        cfg = dn.config.model_copy(
            update={
                "output": dn.config.output.model_copy(update={"dir": f"{tmp}/out"}),
                "ledger": dn.config.ledger.model_copy(update={"key": f"{tmp}/k.key"}),
            }
        )
        report = ingest(Datanet(cfg, dn.schema, dn.root, dn.path), progress=lambda m: None)
    t = report["timings"]
    return {
        "read": report["read"],
        "seconds": t["total_s"],
        "records_per_s": round(report["read"] / t["total_s"], 1),
        "MB_per_s": round(t["input_bytes"] / 1e6 / t["total_s"], 3),
        "beam_s": t["pipeline_s"],
        "commit_s": t["commit_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datanet", default="clinical-notes")
    ap.add_argument("--out", default="bench-out/stages.json")
    args = ap.parse_args()
    result = {
        "datanet": args.datanet,
        "cpus": os.cpu_count(),
        **stages(load_datanet(args.datanet, root=REPO)),
        "end_to_end": end_to_end(args.datanet),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.datanet}: {result['input_bytes'] / 1e6:.2f} MB of input")
    print(f"  {'stage':<16}{'records':>9}{'seconds':>10}{'records/s':>12}{'MB/s':>9}")
    for label, r in {**result["stages"], "end-to-end": result["end_to_end"]}.items():
        n = r.get("records", r.get("read"))
        print(f"  {label:<16}{n:>9}{r['seconds']:>10.2f}{r['records_per_s']:>12.1f}{r['MB_per_s']:>9.3f}")


if __name__ == "__main__":
    main()
