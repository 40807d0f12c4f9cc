"""Markdown for the real-text PII benchmark: corpus sizes, entity lists, tables, false hits and diffs.

Every function reads the plain data ``measure.measure`` returns and
returns text; nothing is computed here that the JSON does not hold.
"""

from __future__ import annotations

import sysconfig
from typing import Any

from benchmarks.realtext.measure import NINE

_ROOTS = (sysconfig.get_paths()["purelib"] + "/", sysconfig.get_paths()["stdlib"] + "/")


def short(source: str) -> str:
    """short is ``source`` relative to site-packages or the standard library, when it lies below one."""
    for root in _ROOTS:
        if source.startswith(root):
            return source[len(root) :]
    return source


def _one_line(text: str) -> str:
    return text.replace("\n", "⏎")


def render_corpus(result: dict[str, Any]) -> str:
    """render_corpus states the split and, per corpus, its units, words and files."""
    cfg = result["config"]
    parts = [f"{k} {c['units']} units / {c['words']} words / {c['files']} files" for k, c in result["corpus"].items()]
    return f"Split {cfg['split']}, seed {cfg['seed']}: " + "; ".join(parts) + "."


def render_entities(result: dict[str, Any]) -> str:
    """render_entities lists, per column, the entities, threshold, profile and code mode of each group of corpora."""
    lines = []
    for col in result["config"]["columns"].values():
        groups: dict[str, list[str]] = {}
        for kind, k in col["kinds"].items():
            how = f"profile {k['profile']}, " if k["profile"] else ""
            how += f"threshold {k['threshold']}, " + ("comments and strings only" if k["code"] else "whole text")
            groups.setdefault(f"{', '.join(k['entities'])} ({how})", []).append(kind)
        lines.append(f"- {col['label']}: " + "; ".join(f"{'/'.join(ks)}: {e}" for e, ks in groups.items()))
    return "\n".join(lines)


def _entity_order(names: set[str]) -> list[str]:
    return sorted(names, key=lambda e: (NINE.index(e) if e in NINE else len(NINE), e))


def render_pii_free(result: dict[str, Any]) -> str:
    """render_pii_free tabulates false redactions per 10,000 words, total and per entity, and the units changed."""
    rows = result["pii_free"]
    entities = _entity_order({e for r in rows for e in r["by_entity"]})
    head = ["corpus", "words", "units", "column", "units changed", "FR / 10k words", *entities]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|---|---:|---:|" + "---:|" * len(entities)]
    for r in rows:
        per = [f"{r['by_entity'][e]['per_10k_words']:.1f}" if e in r["by_entity"] else "0" for e in entities]
        cells = [r["corpus"], f"{r['words']:,}", str(r["units"]), r["tool"], f"{r['units_changed_pct']:.1f} %"]
        lines.append("| " + " | ".join([*cells, f"**{r['per_10k_words']:.1f}**", *per]) + " |")
    return "\n".join(lines)


def render_labelled(result: dict[str, Any]) -> str:
    """render_labelled tabulates precision / recall (predicted spans) per entity on the stanzas, a column per tool."""
    rows = result["labelled"]
    first = rows[0]
    head = f"{first['stanzas']} {first['corpus']}, {first['words']:,} words, gold spans: " + ", ".join(
        f"{e} {n}" for e, n in sorted(result["config"]["gold"].items())
    )
    lines = [head, "", "| entity | gold | " + " | ".join(r["tool"] for r in rows) + " |"]
    lines.append("|---|---:|" + "---|" * len(rows))
    for entity in [*_entity_order(set(first["quality"]) - {"ALL"}), "ALL"]:
        cells = [
            f"{q['precision']:.3f} / {q['recall']:.3f} ({q['predicted']})" for q in (r["quality"][entity] for r in rows)
        ]
        name = "all types" if entity == "ALL" else entity
        lines.append(f"| {name} | {first['quality'][entity]['gold']} | " + " | ".join(cells) + " |")
    share = [f"{r['not_personal']['share']:.1%}" for r in rows]
    lines.append("| removed characters not personal data | | " + " | ".join(share) + " |")
    return "\n".join(lines)


def render_hits(result: dict[str, Any], column: str) -> str:
    """render_hits lists every false hit of ``column`` on the PII-free corpora, with its context and source."""
    lines = []
    for r in (r for r in result["pii_free"] if r["column"] == column):
        lines.append(f"{r['tool']} / {r['corpus']}: {len(r['hits'])} false hits")
        for h in r["hits"]:
            shown = _one_line(f"{h['before']}[{h['text']}]{h['after']}")
            lines.append(f"  {h['entity']:<13} {shown}  ({short(h['source'])})")
    return "\n".join(lines)


def render_diffs(result: dict[str, Any]) -> str:
    """render_diffs shows each before/after excerpt: the text, stock's output and ours, line breaks as ⏎."""
    lines = []
    for i, d in enumerate(result["diffs"], 1):
        lines += [f"[{i}] {d['kind']}, {short(d['source'])}"]
        lines += [f"  before | {_one_line(d['before'])}", f"  stock  | {_one_line(d['stock'])}"]
        lines += [f"  ours   | {_one_line(d['ours'])}", ""]
    return "\n".join(lines).rstrip()


def render(result: dict[str, Any], hits: tuple[str, ...] = ()) -> str:
    """render is the whole report: corpus, entities, both tables, the diffs, then every false hit of ``hits``."""
    parts = [
        render_corpus(result),
        "Entities:\n" + render_entities(result),
        "False redactions per 10,000 words on PII-free text:\n\n" + render_pii_free(result),
        render_labelled(result),
        "Before / after (stock is (a), ours is (c)):\n\n" + render_diffs(result),
    ]
    parts += [render_hits(result, key) for key in hits]
    return "\n\n".join(parts)
