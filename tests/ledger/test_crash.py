"""Crash safety: a writer SIGKILLed at random points always reopens to a committed prefix."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.log import Ledger
from ledger.testonly.reference import mth

from .conftest import make_entries
from .crash_writer import BATCHES, SIZE

ROOT = Path(__file__).resolve().parents[2]


def _writer(path: Path) -> subprocess.Popen[bytes]:
    """Start the writer and return once it holds the ledger and is about to append."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.crash_writer", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


@pytest.fixture(scope="module")
def uninterrupted_root(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clean") / "ledger"
    proc = _writer(path)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    with Ledger(path) as led:
        assert led.size == BATCHES * SIZE
        return led.root


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(8))
def test_sigkill_then_reopen_then_resume(trial: int, tmp_path: Path, uninterrupted_root: bytes) -> None:
    rng = random.Random(trial)
    path = tmp_path / "ledger"
    sizes = []
    for _ in range(3):  # kill it three times, each at a random moment while it appends
        proc = _writer(path)
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        Ledger(path, writer=True).close()  # reopening rolls back an interrupted batch
        report = audit(path)  # a consistent committed prefix, every time
        with Ledger(path) as led:
            assert led.size % SIZE == 0
            assert list(led.entries()) == _expected_bytes(led.size)
            assert report.root == mth(list(led.entries())).hex()
            sizes.append(led.size)
    assert sizes[-1] < BATCHES * SIZE, "every kill came after the writer finished: the test proves nothing"
    print(f"trial {trial}: killed at sizes {sizes}")
    proc = _writer(path)  # resume to the end
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    audit(path)
    with Ledger(path) as led:
        assert led.size == BATCHES * SIZE and led.root == uninterrupted_root


def _expected_bytes(n: int) -> list[bytes]:
    from ledger.entries import encode_entry

    return [encode_entry(e) for e in make_entries(n)]
