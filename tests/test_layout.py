"""The package layout keeps its promises: no import cycles, no upward imports, small folders.

The graph is read from the source (every ``import``, function-level ones
included), so a lazy import that hides a cycle still counts.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "ledger")
# Layers, lowest first: a module may import its own layer's modules and those of lower layers only.
# stages and downstream are side by side and never import each other.
LAYER = {"ledger": 0, "core": 1, "stages": 2, "downstream": 2, "driver": 3, "cli": 4, "ops": 4}
MAX_MODULES = 12


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """import_graph maps each module of ``pipelines`` and ``ledger`` to the modules of both it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        graph[module] = {t for n in nodes for t in _targets(module, n) if t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """cycles lists the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> str | None:
    """layer is the layer a module belongs to (``pipelines.<layer>…`` or ``ledger``); None for package roots."""
    parts = module.split(".")
    if parts[0] == "ledger":
        return "ledger"
    return parts[1] if len(parts) > 1 else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in graph.items():
        mine = layer(module)
        for t in targets:
            theirs = layer(t)
            if mine is None or theirs is None or mine == theirs:
                continue
            if LAYER[theirs] >= LAYER[mine]:
                bad.append(f"{module} ({mine}) imports {t} ({theirs})")
    return sorted(bad)


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert upward_imports({"pipelines.core.x": {"pipelines.driver.y"}, "pipelines.driver.y": set()}) == [
        "pipelines.core.x (core) imports pipelines.driver.y (driver)"
    ]
    assert upward_imports({"pipelines.stages.x": {"pipelines.downstream.y"}})


def test_the_graph_is_read_from_the_real_source() -> None:
    graph = import_graph()
    assert "pipelines.core.config" in graph["pipelines.driver.run"]
    assert "pipelines.core.fs" in graph["pipelines.core.progress"] and "ledger.tree" in graph["ledger.log"]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_upward_imports_and_ledger_stands_alone() -> None:
    assert upward_imports(import_graph()) == []


def test_every_module_belongs_to_a_layer() -> None:
    unknown = {layer(m) for m in MODULES} - set(LAYER) - {None}
    assert not unknown, f"folders outside the layer map: {unknown}"


def test_no_folder_holds_more_than_twelve_modules() -> None:
    folders: dict[Path, int] = {}
    for path in MODULES.values():
        if path.name != "__init__.py" and "testonly" not in path.parts:
            folders[path.parent] = folders.get(path.parent, 0) + 1
    big = {str(f.relative_to(REPO)): n for f, n in folders.items() if n > MAX_MODULES}
    assert not big, f"folders over {MAX_MODULES} modules: {big}"


HEAVY = ("apache_beam", "great_expectations", "presidio_analyzer", "presidio_anonymizer", "spacy")
DOWNSTREAM = (
    ("verify", "tiny", "--witness", "witness.note"),
    ("status", "tiny"),
    ("read", "tiny", "--limit", "1"),
    ("sql", "tiny", "select count(*) from records"),
    ("index", "tiny"),
    ("usage", "record", "tiny", "--model", "m1", "--training-run", "t1", "--all"),
    ("payout", "tiny", "--model", "m1", "--period", "2026-11", "--currency", "EUR", "--revenue", "10.00"),
    ("attribute", "tiny", "--model", "m1", "--text", "Follow-up visit 3 for asthma; peak flow 321 L/min, continue"),
    ("ledger", "audit", "tiny"),
    ("--help",),
)


@pytest.mark.slow
def test_downstream_commands_never_import_beam_gx_presidio_or_spacy(project: Path) -> None:
    """Each downstream command, run for real on an ingested Datanet under ``-X importtime``, loads none of them."""
    from pipelines.core.config import load_datanet
    from pipelines.driver.run import ingest

    ingest(load_datanet("tiny"), progress=lambda _: None, live="off")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for command in DOWNSTREAM:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "pipelines.cli.main", *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
        )
        assert done.returncode == 0, (command, done.stderr[-500:])
        loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
        assert not loaded & set(HEAVY), (command, sorted(loaded & set(HEAVY)))
        assert "pipelines.stages" not in done.stderr, command
