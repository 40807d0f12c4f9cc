"""``runs/<run>/report.html``: one self-contained page per run, with plots, for curators and auditors.

``gather`` collects counts only (never record text, never a contributor's
own ID: contributors appear as pseudonyms, files not at all) from the run's
``report.json``, its shards, duplicates and quarantine files, its progress
ticks and the earlier runs; ``render`` draws them as inline SVG in one HTML
file that loads nothing from anywhere. Great Expectations' own Data Docs for
the run are built next to it (``data_docs/``) and linked.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.core.config import Datanet
from pipelines.core.registry import committed_runs

TOP_CONTRIBUTORS = 25
LENGTH_BINS = 12


def _table(paths: list[Path], columns: list[str]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for p in paths:
        present = [c for c in columns if c in pq.read_schema(p).names]  # runs from before a column existed
        rows += [{c: None for c in columns} | r for r in pq.read_table(p, columns=present).to_pylist()]
    return rows


def _timings(dn: Datanet, run_id: str, rep: dict[str, Any]) -> list[tuple[str, float]]:
    """Seconds from the pipeline's start (its ``start`` tick) to the last tick of each stage, then the totals."""
    out: list[tuple[str, float]] = []
    attempts = sorted((dn.out_dir / "runs" / run_id / "attempts").glob("*/progress/start-*.json"))
    if attempts:
        ticks = list(attempts[-1].parent.glob("*.json"))
        start = attempts[-1].stat().st_mtime
        for stage in ("read", "scrub", "write"):
            times = [p.stat().st_mtime for p in ticks if p.name.startswith(stage + "-")]
            if times:
                out.append((f"last {stage} at", max(0.0, max(times) - start)))
    t = rep.get("timings", {})
    out += [("pipeline", float(t.get("pipeline_s", 0))), ("commit", float(t.get("commit_s", 0)))]
    return out


def gather(dn: Datanet, run_id: str) -> dict[str, Any]:
    """gather returns every number the report shows, for one committed run."""
    run = next(r for r in committed_runs(dn) if r["run_id"] == run_id)
    rep = json.loads((dn.out_dir / "runs" / run_id / "report.json").read_text(encoding="utf-8"))
    shards = [dn.out_dir / s for s in run["shards"]]
    dups = [dn.out_dir / p for p in run.get("duplicates", [])]
    quar = [dn.out_dir / p for p in run.get("quarantine", [])]
    text_fields = dn.schema.text_fields
    kept = _table(shards, ["contributor_id", *text_fields])
    dup_rows = _table(dups, ["contributor_id", "duplicate_of", "kind"])
    q_rows = _table(quar, ["contributor_id", "reason", "detail"]) if quar else []
    failing = Counter(
        name for r in q_rows if r["reason"] == "validation_failed" for name in str(r["detail"]).split("; ")
    )
    per: dict[str, Counter[str]] = {}
    for r in kept:
        per.setdefault(r["contributor_id"], Counter())["accepted"] += 1
    for r in dup_rows:
        per.setdefault(r["contributor_id"], Counter())["duplicates"] += 1
    unnamed = 0
    for r in q_rows:
        if r["contributor_id"]:
            per.setdefault(r["contributor_id"], Counter())["quarantined"] += 1
        else:
            unnamed += 1
    contributors: list[dict[str, Any]] = sorted(
        ({"pseudonym": k, **{n: c[n] for n in ("accepted", "duplicates", "quarantined")}} for k, c in per.items()),
        key=lambda x: (-(int(x["accepted"]) + int(x["duplicates"]) + int(x["quarantined"])), str(x["pseudonym"])),
    )
    sizes = [sum(len(r[f] or "") for f in text_fields) for r in kept]
    lengths = _histogram(sizes, LENGTH_BINS)
    clusters = Counter(Counter(r["duplicate_of"] for r in dup_rows).values())
    growth, total = [], 0
    for r in committed_runs(dn):
        path = dn.out_dir / "runs" / r["run_id"] / "report.json"
        accepted = json.loads(path.read_text(encoding="utf-8"))["accepted"] if path.exists() else 0
        total += accepted
        growth.append(
            {
                "seq": r["seq"],
                "run_id": r["run_id"],
                "accepted": accepted,
                "total": total,
                "ledger": r["ledger"]["size"],
            }
        )
    return {
        "datanet": dn.name,
        "run_id": run_id,
        "seq": run["seq"],
        "funnel": {
            k: rep[k] if isinstance(rep[k], int) else rep[k]["total"]
            for k in ("read", "accepted", "duplicates", "quarantined")
        },
        "quarantine_reasons": rep["quarantined"]["by_reason"],
        "duplicate_kinds": {k: v for k, v in rep["duplicates"].items() if k != "total"},
        "cluster_sizes": {str(size + 1): n for size, n in sorted(clusters.items())},
        "pii": rep.get("pii", {}).get("entities", {}),
        "records_with_pii": rep.get("pii", {}).get("records_with_pii", 0),
        "contributors": contributors,
        "quarantined_unnamed": unnamed,
        "lengths": lengths,
        "validation": {
            "row_failures": rep["quarantined"]["by_reason"].get("validation_failed", 0),
            "failing": dict(failing.most_common()),
            "table": rep.get("validation", {}).get("table", []),
        },
        "timings": _timings(dn, run_id, rep),
        "ledger": {k: rep["ledger"][k] for k in ("size", "root", "first_index", "entries", "checkpoint")},
        "growth": growth,
        "withdrawals": _withdrawals(dn, rep["ledger"]["first_index"], rep["ledger"]["entries"]),
    }


def _withdrawals(dn: Datanet, first: int, n: int) -> list[dict[str, Any]]:
    """Every withdrawal so far (counts and pseudonyms only), with how many of this run's records each removed."""
    from pipelines.core.withdrawal.ledgered import list_withdrawals

    return [
        {
            "entry": w["withdrawal_index"],
            "pseudonym": w["pseudonym"],
            "reason": w["reason"],
            "records": len(w["records"]),
            "of_this_run": sum(1 for i, _ in w["records"] if first <= i < first + n),
            "finished": "yes" if w["republished"] else "no",
        }
        for w in list_withdrawals(dn.ledger_dir)
    ]


def _histogram(values: list[int], bins: int) -> dict[str, int]:
    """Equal-width bins between the smallest and largest value, rounded to tens: {"lo-hi": count}."""
    if not values:
        return {}
    lo, hi = min(values) // 10 * 10, max(values)
    width = max(10, math.ceil((hi - lo + 1) / bins / 10) * 10)
    counts = Counter((v - lo) // width for v in values)
    return {f"{lo + i * width}-{lo + (i + 1) * width - 1}": counts.get(i, 0) for i in range(max(counts) + 1)}


def _bars(items: list[tuple[str, float]], unit: str = "", width: int = 640) -> str:
    """A horizontal bar chart as inline SVG, one labelled bar per item."""
    if not items:
        return "<p class=none>none</p>"
    top = max(v for _, v in items) or 1
    row, label_w = 22, 190
    parts = [f'<svg role=img width="{width}" height="{row * len(items) + 4}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(items):
        w = (width - label_w - 90) * value / top
        y = i * row
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(str(label))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" rx="2"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">'
            f"{value:,.{1 if isinstance(value, float) else 0}f}{unit}</text>"
        )
    return "".join(parts) + "</svg>"


def _table_html(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#1b1f24;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
svg text{font:12px system-ui,sans-serif;fill:#1b1f24}svg rect{fill:#3b82c4}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f3f5f7}td:first-child,th:first-child{text-align:left;font-family:ui-monospace,monospace}
.kpi{display:inline-block;margin:0 18px 8px 0}.kpi b{display:block;font-size:22px}.none{color:#57606a}
code{font-family:ui-monospace,monospace;word-break:break-all}pre{white-space:pre-wrap;word-break:break-all}.ok{color:#1a7f37}.bad{color:#cf222e}
"""


def render(data: dict[str, Any], data_docs: str | None = None) -> str:
    """render draws the report as one HTML page; it references nothing outside itself but ``data_docs``."""
    f = data["funnel"]
    kpis = "".join(f'<span class=kpi data-{k}="{v}"><b>{v:,}</b>{k}</span>' for k, v in f.items())
    check = f["read"] == f["accepted"] + f["duplicates"] + f["quarantined"]
    contributors = data["contributors"][:TOP_CONTRIBUTORS]
    table_checks = "".join(
        f"<li class={'ok' if t['success'] else 'bad'}>{html.escape(t['expectation'])}: "
        f"{'passed' if t['success'] else 'FAILED'} (observed {html.escape(json.dumps(t['observed']))})</li>"
        for t in data["validation"]["table"]
    )
    docs = (
        f'<p>Great Expectations Data Docs for this run: <a href="{html.escape(data_docs)}">'
        f"{html.escape(data_docs)}</a></p>"
        if data_docs
        else "<p class=none>Great Expectations Data Docs were not built for this run.</p>"
    )
    led = data["ledger"]
    sections = [
        f"<h1>Datanet {html.escape(data['datanet'])}, run #{data['seq']} "
        f"<code>{html.escape(data['run_id'])}</code></h1>",
        f"<p>{kpis}</p><p class={'ok' if check else 'bad'}>read = accepted + duplicates + quarantined: "
        f"{f['read']:,} = {f['accepted']:,} + {f['duplicates']:,} + {f['quarantined']:,}</p>",
        "<h2>Funnel</h2>" + _bars([(k, v) for k, v in f.items()]),
        "<h2>Quarantine reasons</h2>" + _bars(sorted(data["quarantine_reasons"].items(), key=lambda kv: -kv[1])),
        "<h2>Duplicates by kind</h2>" + _bars(list(data["duplicate_kinds"].items())),
        "<h2>Duplicate cluster sizes</h2><p>records per cluster (kept record + its dropped copies in this run)</p>"
        + _bars([(f"{k} records", v) for k, v in data["cluster_sizes"].items()]),
        "<h2>PII removed</h2>"
        + f"<p>{data['records_with_pii']:,} accepted records had PII removed</p>"
        + _bars(sorted(data["pii"].items(), key=lambda kv: -kv[1])),
        f"<h2>Contributors (top {len(contributors)} of {len(data['contributors'])}, by pseudonym)</h2>"
        + _table_html(contributors, ["pseudonym", "accepted", "duplicates", "quarantined"])
        + f"<p class=none>{data['quarantined_unnamed']:,} quarantined lines named no readable contributor.</p>",
        "<h2>Record length (characters of text fields, accepted records)</h2>" + _bars(list(data["lengths"].items())),
        "<h2>Validation</h2>"
        + f"<p>{data['validation']['row_failures']:,} records failed a row-level expectation (quarantined).</p>"
        + _bars(list(data["validation"].get("failing", {}).items()))
        + (
            f"<p>Every quarantined line, with its value: <code>datanet quarantine {html.escape(data['datanet'])} "
            f"--run {html.escape(data['run_id'])}</code></p>"
            if f["quarantined"]
            else ""
        )
        + (f"<ul>{table_checks}</ul>" if table_checks else "<p class=none>no table-level expectations</p>")
        + docs,
        "<h2>Timings</h2><p>seconds from the pipeline's start; then the pipeline and commit totals</p>"
        + _bars([(k, v) for k, v in data["timings"]], " s"),
        "<h2>Ledger</h2>" + f"<p>size {led['size']:,}, this run's contributions from entry {led['first_index']:,} "
        f"({led['entries']:,} entries)"
        f"<br>root <code>{html.escape(led['root'])}</code></p><pre>{html.escape(led['checkpoint'])}</pre>",
        "<h2>Withdrawals</h2><p>contributors who left: their records are no longer served, paid for or "
        "attributed (the ledger keeps the entries; <code>datanet withdrawals</code> lists the record hashes)</p>"
        + (
            _table_html(data["withdrawals"], ["entry", "pseudonym", "reason", "records", "of_this_run", "finished"])
            if data["withdrawals"]
            else "<p class=none>no withdrawals</p>"
        ),
        "<h2>Growth across runs</h2>"
        + _bars([(f"run #{g['seq']}", g["total"]) for g in data["growth"]], " records")
        + _table_html(data["growth"], ["seq", "run_id", "accepted", "total", "ledger"]),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(data['datanet'])} run {html.escape(data['run_id'])}</title><style>{CSS}</style></head>"
        f"<body>{''.join(sections)}<script type=application/json id=data>{html.escape(json.dumps(data))}</script>"
        "</body></html>\n"
    )


def build_data_docs(dn: Datanet, run_id: str, folder: Path) -> str | None:
    """build_data_docs validates the run's accepted records with the Datanet's expectations and builds GX Data Docs.

    Results keep no unexpected values (``BOOLEAN_ONLY``), so the docs show
    which expectations held, not record text. Returns the index path, or
    None when the Datanet declares no expectations.
    """
    specs = dn.config.validation.expectations
    if not specs:
        return None
    import great_expectations as gx
    import pandas as pd

    from pipelines.stages.validate import expectation_class

    run = next(r for r in committed_runs(dn) if r["run_id"] == run_id)
    columns = [f.name for f in dn.schema.fields] + ["contributor_id", "submitted_at"]
    frame = pd.DataFrame(_table([dn.out_dir / s for s in run["shards"]], columns), columns=columns)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    site: Any = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
    }
    context.add_data_docs_site("run", site)
    batch_def = (
        context.data_sources.add_pandas("datanet")
        .add_dataframe_asset("records")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=f"{dn.name}-{run_id}"))
    for spec in specs:
        suite.add_expectation(expectation_class(spec.type)(**spec.kwargs))
    vd = context.validation_definitions.add(gx.ValidationDefinition(name=f"run-{run_id}", data=batch_def, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"run-{run_id}",
            validation_definitions=[vd],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["run"])],
            result_format={"result_format": "BOOLEAN_ONLY"},
        )
    )
    checkpoint.run(batch_parameters={"dataframe": frame})
    index = folder / "index.html"
    return str(index) if index.exists() else None


def write_report(dn: Datanet, run_id: str, with_data_docs: bool = True) -> Path:
    """write_report writes ``runs/<run>/report.html`` (and GX Data Docs beside it); returns its path."""
    folder = dn.out_dir / "runs" / run_id
    docs = None
    if with_data_docs:
        index = build_data_docs(dn, run_id, folder / "data_docs")
        docs = os.path.relpath(index, folder) if index else None
    path = folder / "report.html"
    path.write_text(render(gather(dn, run_id), docs), encoding="utf-8")
    return path
