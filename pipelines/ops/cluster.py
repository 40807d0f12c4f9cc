"""A local dask.distributed cluster on 127.0.0.1, for the DaskRunner.

    python -m pipelines.ops.cluster start --workers 2 --port 8786   # what `make cluster` runs
    python -m pipelines.ops.cluster stop --port 8786                # `make cluster-stop`

``start`` launches ``dask scheduler`` and N single-threaded ``dask worker``
processes bound to loopback, waits until every worker has joined, and
records their process ids and logs under ``out/cluster-<port>/``.
``local_cluster`` does the same for tests on free ports and always stops it.
Workers import ``pipelines`` from this checkout, so the same code runs on
the driver and the workers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout (pipelines/ops/cluster.py is two folders down)


class ClusterError(RuntimeError):
    """The cluster did not come up, or is not running."""


def free_port() -> int:
    """free_port asks the kernel for an unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask() -> str:
    exe = Path(sys.executable).with_name("dask")
    if not exe.exists():
        raise ClusterError("the dask command is missing: install the extra with pip install -e '.[dask]'")
    return str(exe)


# A worker over its memory limit spills partitions to disk (at 60 %) and pauses (at 80 %); it is never
# killed for memory, so a large shuffle slows down instead of losing the worker. Dask's statistical
# profiler (a thread walking the running task's stack every 10 ms, for the dashboard's profile page) is
# off: with it, reading 1 M records took 224.7 s of task time, without it 199.0 s (docs/benchmarks.md,
# "Scale, issue 20, part 6"). Housekeeping runs less often than Dask's defaults: every process's event
# loop health check (20 ms), system monitor (500 ms) and each nanny's memory check (100 ms) kept an idle
# 2-worker cluster at 12.6 % of a core, taken from the workers on a busy machine; at 500 ms, 2 s and
# 500 ms, 2.1 % ("Scale, issue 20, part 7"). A variable already set in the environment wins.
_WORKER_ENV = {
    "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
    "DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE": "False",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "500ms",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "500ms",
}


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**_WORKER_ENV, **os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)


def start(workers: int, port: int, folder: Path, timeout: float = 120.0, memory_limit: str = "auto") -> list[int]:
    """start launches a scheduler and ``workers`` workers; returns their pids once all have joined.

    ``memory_limit`` is each worker's (Dask's ``--memory-limit``: ``auto`` is
    this machine's memory shared among its cores, ``0`` none); past it a
    worker spills to ``folder/spill-<i>`` rather than dying.
    """
    folder.mkdir(parents=True, exist_ok=True)
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        _spawn(
            [_dask(), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            folder / "scheduler.log",
        )
    ]
    for i in range(workers):
        procs.append(
            _spawn(
                [
                    _dask(),
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"worker-{i}",
                    "--memory-limit",
                    memory_limit,
                    "--local-directory",
                    str(folder / f"spill-{i}"),
                ],
                folder / f"worker-{i}.log",
            )
        )
    pids = [p.pid for p in procs]
    (folder / "pids").write_text("\n".join(map(str, pids)) + "\n")
    try:
        _wait_for_workers(address, workers, timeout)
    except Exception:
        stop(folder)
        raise
    return pids


def _wait_for_workers(address: str, n: int, timeout: float) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
                return
        except (OSError, TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"no cluster of {n} worker(s) at {address} after {timeout:.0f}s: {exc}") from None
            time.sleep(0.5)


def stop(folder: Path) -> None:
    """stop ends every process recorded under ``folder`` (their whole process groups)."""
    pids_file = folder / "pids"
    if not pids_file.exists():
        return
    pids = [int(p) for p in pids_file.read_text().split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        time.sleep(1.0)
    pids_file.unlink(missing_ok=True)  # another stop may have finished first


@contextlib.contextmanager
def local_cluster(workers: int, folder: Path) -> Iterator[str]:
    """local_cluster runs a cluster on a free port for the duration of a ``with`` block; yields its address."""
    port = free_port()
    start(workers, port, folder)
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        stop(folder)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipelines.ops.cluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8786)
    ap.add_argument("--memory-limit", default="auto", help="per worker (Dask syntax: 4GiB, auto, 0 for none)")
    args = ap.parse_args(argv)
    folder = REPO / "out" / f"cluster-{args.port}"
    if args.action == "stop":
        stop(folder)
        print(f"stopped the cluster on port {args.port}")
        return
    start(args.workers, args.port, folder, memory_limit=args.memory_limit)
    print(f"dask cluster: tcp://127.0.0.1:{args.port} with {args.workers} worker(s); logs in {folder}")
    print(
        f"run: .venv/bin/datanet ingest NAME --runner DaskRunner --option dask_client_address=tcp://127.0.0.1:{args.port}"
    )


if __name__ == "__main__":
    main()
