"""Live progress: tick files summed by the driver, plain lines off a terminal, and no Beam chatter on the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.core.progress import Ticker, Totals, Watch, describe, tick

from ..conftest import REPO


def test_ticks_sum_per_stage_and_a_retried_unit_counts_once(tmp_path: Path) -> None:
    folder = str(tmp_path / "progress")
    tick(folder, "read", "00000", {"records": 7, "quarantined": 1})
    tick(folder, "read", "00001", {"records": 5, "quarantined": 0})
    tick(folder, "scrub", "0_1", {"records": 4})
    tick(folder, "scrub", "0_1", {"records": 4})  # the same batch again (a retried bundle)
    tick(folder, "write", "00000", {"accepted": 6, "duplicates": 1, "quarantined": 1})
    t = Totals(folder).refresh()
    assert t["read"] == {"units": 2, "records": 12, "quarantined": 1}
    assert t["scrub"] == {"units": 1, "records": 4}
    assert t["write"] == {"units": 1, "accepted": 6, "duplicates": 1, "quarantined": 1}
    line = describe(t, 2, 2.0)
    assert "read 2/2 splits (12 records), scrubbed 4, written 1/2 splits (6 accepted" in line and "2 records/s" in line


def test_records_read_count_batches_before_their_split_ends_and_dedup_phases_show(tmp_path: Path) -> None:
    folder = str(tmp_path / "progress")
    tick(folder, "readb", "00000_000000", {"records": 500})  # a batch read; its split is not finished
    tick(folder, "scrub", "0_1", {"records": 500})
    ticker = Ticker(folder, "group", every=2)
    for _ in range(3):
        ticker.add()
    ticker.flush()
    line = describe(Totals(folder).refresh(), 1, 1.0)
    assert "read 0/1 splits (500 records), scrubbed 500" in line
    assert line.endswith("; dedup group 3, join 0, decide 0")


def test_lines_mode_reports_the_final_counts_once(tmp_path: Path) -> None:
    folder, lines = str(tmp_path / "p"), []
    with Watch(folder, 1, "lines", every=0.05, out=lines.append):
        tick(folder, "read", "00000", {"records": 3, "quarantined": 0})
    assert lines and "read 1/1 splits (3 records)" in lines[-1]


@pytest.mark.slow
def test_the_console_shows_progress_lines_and_no_beam_warnings(project: Path) -> None:
    decl = project / "datanets" / "tiny.yaml"
    decl.write_text(
        decl.read_text().replace("in_memory, direct_num_workers: 1", "multi_processing, direct_num_workers: 2")
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(project / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", "ingest", "tiny"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "  progress " in done.stderr and "written 1/1 splits (10 accepted" in done.stderr
    for noise in ("WARNING", "apitools", "semi_persistent_directory", "Discarding unparseable args", "Logging handler"):
        assert noise not in done.stderr, done.stderr
    logs = list((project / "out" / "tiny" / "runs").glob("*/attempts/*/beam.log"))
    assert logs and "semi_persistent_directory" in logs[0].read_text()
