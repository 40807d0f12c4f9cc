"""The console entry (``cli.main.run``) exits with main's status, after every exit handler and a full flush."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# main replaced by one that registers an exit handler and writes more than a pipe holds
SCRIPT = """
import atexit, sys
from pipelines.cli import main as cli
def fake_main():
    atexit.register(lambda: print("handler registered by the command ran", flush=False))
    sys.stdout.write("x" * 200_000)
    sys.stderr.write("y" * 70_000)
    return {status}
cli.main = fake_main
cli.run()
print("never reached")
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONUNBUFFERED", None)  # buffered streams, as a user's shell gives when piped
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_run_keeps_mains_status_runs_the_commands_exit_handlers_and_flushes_everything() -> None:
    for status in (0, 1, 3):
        done = _python("-c", SCRIPT.format(status=status))
        assert done.returncode == status, done.stderr[-500:]
        assert done.stdout == "x" * 200_000 + "handler registered by the command ran\n"
        assert done.stderr == "y" * 70_000


def test_a_usage_error_exits_2_and_help_exits_0() -> None:
    bad = _python("-m", "pipelines.cli.main", "--no-such-option")
    assert bad.returncode == 2 and "usage: datanet" in bad.stderr
    ok = _python("-m", "pipelines.cli.main", "--help")
    assert ok.returncode == 0 and "usage: datanet" in ok.stdout


def test_a_command_that_fails_exits_with_its_status_and_one_line() -> None:
    done = _python("-m", "pipelines.cli.main", "verify", "no-such-datanet")
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
