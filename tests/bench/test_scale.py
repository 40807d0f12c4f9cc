"""The scale benchmark's own parts: a seeded input, and a memory sampler that finds every process it measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.scale import _proc_table, _tree, generate


def test_generated_input_is_seeded_and_its_plants_add_up(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    planted = generate(a, 400, files=3)
    assert generate(b, 400, files=3) == planted
    lines = []
    for f in sorted((a / "data").glob("*.jsonl")):
        assert f.read_bytes() == (b / "data" / f.name).read_bytes()
        lines += f.read_text(encoding="utf-8").splitlines()
    assert len(lines) == planted["lines"] == 400
    bad = 0
    for line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad += 1
    assert bad == planted["bad"]


def test_the_sampler_sees_a_child_and_its_memory() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytes(range(256)) * (1 << 18); time.sleep(30)"])
    try:
        for _ in range(100):
            children, rss = _proc_table()
            if rss.get(child.pid, 0) > 64 << 20:
                break
            time.sleep(0.05)
        mine = _tree(os.getpid(), children)
        assert mine[0] == os.getpid() and child.pid in mine
        assert rss[child.pid] > 64 << 20
    finally:
        child.kill()
        child.wait()
