"""Live progress of a run, on every runner: workers drop small count files, the driver sums them.

Beam metrics cannot be read during a run on every runner (the Dask runner
has none), so each worker writes one tiny JSON file through Beam's
FileSystems when it finishes a unit of work: a split read, a batch
scrubbed, a split written. Keys are unique per unit, so a retried bundle
overwrites its own file instead of counting twice. The driver's ``Watch``
polls the folder (files never change once written, so each is read once)
and shows:

* on a terminal, ``rich`` progress bars per stage with records/s and ETA;
* otherwise (CI, logs), one plain line every ``every`` seconds when counts move.

Nothing here holds record content: counts only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pipelines.core import fs

STAGES = ("read", "scrub", "write")
PHASES = ("group", "join", "decide")  # dedup's shuffle and decision steps: elements done (``Ticker``)


def tick(folder: str, stage: str, key: str, counts: dict[str, int]) -> None:
    """tick records that one unit of ``stage`` work finished (a worker calls it; no-op without a folder)."""
    if folder:
        fs.write_bytes(fs.join(folder, f"{stage}-{key}.json"), json.dumps(counts, sort_keys=True).encode())


class Ticker:
    """Ticker counts elements a worker step has finished and ticks every ``every`` of them (and at the end).

    For steps whose units are not splits or batches (dedup's groups, joined
    nodes, clusters): each tick file has a key unique to this instance, so
    a retried bundle may count twice; these counts are progress, not accounting.
    """

    def __init__(self, folder: str, stage: str, every: int = 20_000) -> None:
        import uuid

        self.folder, self.stage, self.every = folder, stage, every
        self.prefix, self.seq, self.count = uuid.uuid4().hex[:12], 0, 0

    def add(self, n: int = 1) -> None:
        self.count += n
        if self.count >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.count:
            tick(self.folder, self.stage, f"{self.prefix}-{self.seq:06d}", {"done": self.count})
            self.seq, self.count = self.seq + 1, 0


class Totals:
    """Sums of every tick file in a folder, reading each file once."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.seen: dict[str, tuple[str, dict[str, int]]] = {}

    def refresh(self) -> dict[str, dict[str, int]]:
        try:
            paths = fs.list_files(fs.join(self.folder, "*.json"))
        except Exception:  # the folder appears with the first tick
            paths = []
        for path in paths:
            if path not in self.seen:
                try:
                    counts = json.loads(fs.read_bytes(path))
                except (OSError, ValueError):
                    continue  # being written: next poll
                self.seen[path] = (path.rsplit("/", 1)[-1].split("-", 1)[0], counts)
        out: dict[str, dict[str, int]] = {s: {"units": 0} for s in STAGES}
        for stage, counts in self.seen.values():
            row = out.setdefault(stage, {"units": 0})
            row["units"] += 1
            for k, v in counts.items():
                row[k] = row.get(k, 0) + int(v)
        return out


def describe(t: dict[str, dict[str, int]], splits: int, elapsed: float) -> str:
    """describe renders totals as one plain line (for logs)."""
    read, scrub, write = (t.get(s, {}) for s in STAGES)
    records = max(read.get("records", 0), t.get("readb", {}).get("records", 0))
    rate = scrub.get("records", 0) / elapsed if elapsed > 0 else 0.0
    return (
        f"  progress {elapsed:5.0f}s: read {read.get('units', 0)}/{splits} splits ({records:,} records), "
        f"scrubbed {scrub.get('records', 0):,}, written {write.get('units', 0)}/{splits} splits "
        f"({write.get('accepted', 0):,} accepted, {write.get('duplicates', 0):,} duplicates, "
        f"{write.get('quarantined', 0):,} quarantined); {rate:,.0f} records/s{_dedup(t)}"
    )


def _dedup(t: dict[str, dict[str, int]]) -> str:
    """Dedup's shuffle and decision steps, once they have started: groups keyed, nodes joined, clusters decided."""
    done = [(p, t.get(p, {}).get("done", 0)) for p in PHASES]
    if not any(n for _, n in done):
        return ""
    return "; dedup " + ", ".join(f"{p} {n:,}" for p, n in done)


class Watch:
    """Watch shows a run's progress while the pipeline runs: ``with Watch(...): run()``."""

    def __init__(
        self,
        folder: str,
        splits: int,
        mode: str = "auto",
        every: float = 10.0,
        out: Callable[[str], None] | None = None,
    ) -> None:
        self.totals, self.splits, self.every = Totals(folder), splits, every
        self.mode = ("bars" if sys.stderr.isatty() else "lines") if mode == "auto" else mode
        self.out = out or (lambda line: print(line, file=sys.stderr, flush=True))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.perf_counter()

    def __enter__(self) -> Watch:
        if self.mode != "off":
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        if self.mode == "bars":
            self._bars()
            return
        last = ""
        while True:
            stop = self._stop.wait(self.every)
            line = describe(self.totals.refresh(), self.splits, time.perf_counter() - self.t0)
            if line.split(":", 1)[1] != last:  # a line when counts moved, and the final counts once
                self.out(line)
                last = line.split(":", 1)[1]
            if stop:
                return

    def _bars(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=Console(stderr=True), transient=False) as bars:
            read = bars.add_task("read", total=self.splits, detail="")
            scrub = bars.add_task("scrub", total=None, detail="")
            write = bars.add_task("write", total=self.splits, detail="")
            while True:
                stop = self._stop.wait(0.5)
                t = self.totals.refresh()
                elapsed = time.perf_counter() - self.t0
                records = max(t["read"].get("records", 0), t.get("readb", {}).get("records", 0))
                scrubbed = t["scrub"].get("records", 0)
                bars.update(read, completed=t["read"]["units"], detail=f"{records:,} records")
                bars.update(
                    scrub,
                    completed=scrubbed,
                    total=records if t["read"]["units"] == self.splits else None,
                    detail=f"{scrubbed / elapsed if elapsed else 0:,.0f} records/s",
                )
                w = t["write"]
                bars.update(
                    write,
                    completed=w["units"],
                    detail=f"{w.get('accepted', 0):,} accepted, {w.get('duplicates', 0):,} dup, "
                    f"{w.get('quarantined', 0):,} quarantined{_dedup(t)}",
                )
                if stop:
                    return


class WorkerLog:
    """WorkerLog sends file descriptor 2 (this process's and every worker subprocess's stderr) to ``path``.

    Beam's workers log at import time (apitools, semi_persistent_directory,
    unparseable args), before any log level applies; only the descriptor
    can hold them back. ``sys.stderr`` keeps pointing at the console, so our
    own progress and errors still show. With ``enabled=False`` (``--verbose``)
    nothing changes.
    """

    def __init__(self, path: str, enabled: bool = True) -> None:
        self.path, self.enabled = path, enabled and "://" not in path
        self._saved: int | None = None
        self._stderr: Any = None

    def __enter__(self) -> WorkerLog:
        if not self.enabled:
            return self
        import os

        sys.stderr.flush()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._saved = os.dup(2)
        self._stderr = sys.stderr
        sys.stderr = os.fdopen(os.dup(self._saved), "w", buffering=1)
        log = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
        os.close(log)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is None:
            return
        import os

        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        sys.stderr.close()
        sys.stderr = self._stderr
        self._saved = None
