"""Storage: durable batches, recovery, locking, the record index and its merges."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.log import Ledger
from ledger.storage import DuplicateRecordError, LedgerBusyError, LedgerError, Store
from ledger.testonly.reference import mth

from .conftest import make_entries


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with Ledger(tmp_path, writer=True, create=True) as led:
        led.append(make_entries(10))
        led.append(make_entries(5, 10))
        root = led.root
    with Ledger(tmp_path) as led:
        assert led.size == 15 and led.root == root
        assert led.root == mth(list(led.entries()))
        assert led.find(make_entries(1, 12)[0]["record_hash"]) == 12
        assert led.find("0" * 64) is None


def test_duplicate_record_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with Ledger(tmp_path, writer=True, create=True) as led:
        led.append(make_entries(3))
        before = (tmp_path / "STATE").read_bytes()
        with pytest.raises(DuplicateRecordError, match="already in the ledger at index 1"):
            led.append(make_entries(2, 5) + make_entries(1, 1))
        with pytest.raises(DuplicateRecordError, match="twice in one batch"):
            led.append(make_entries(1, 7) + make_entries(1, 7))
        assert (tmp_path / "STATE").read_bytes() == before and led.size == 3


def test_a_failed_batch_is_rolled_back_on_reopen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(tmp_path, writer=True, create=True) as led:
        led.append(make_entries(4))
        root = led.root
        calls = {"n": 0}
        real = Store._append_file

        def fail_on_third(self: Store, name: str, data: bytes) -> None:
            calls["n"] += 1
            real(self, name, data)
            if calls["n"] == 3:
                raise OSError("disk full")

        monkeypatch.setattr(Store, "_append_file", fail_on_third)
        with pytest.raises(OSError):
            led.append(make_entries(6, 4))
    monkeypatch.undo()
    assert (tmp_path / "entries.jsonl").stat().st_size > 0
    with Ledger(tmp_path) as reader:  # readers ignore the uncommitted tail
        assert reader.size == 4 and reader.root == root
    with Ledger(tmp_path, writer=True) as led:  # the next writer truncates it
        assert led.size == 4 and led.root == root
        led.append(make_entries(6, 4))
        assert led.root == mth(list(led.entries()))
    audit(tmp_path)


def test_second_writer_gets_a_clear_error_and_readers_do_not_block(tmp_path: Path) -> None:
    with Ledger(tmp_path, writer=True, create=True) as led:
        led.append(make_entries(2))
        with pytest.raises(LedgerBusyError, match="another process is writing"):
            Ledger(tmp_path, writer=True)
        with Ledger(tmp_path) as reader:
            assert reader.size == 2
            led.append(make_entries(3, 2))
            assert reader.size == 2  # a reader sees the state it opened
            reader.refresh()
            assert reader.size == 5
    Ledger(tmp_path, writer=True).close()  # the lock was released


def test_a_writer_waits_for_the_lock_then_gives_up_in_one_line(tmp_path: Path) -> None:
    Ledger(tmp_path, writer=True, create=True).close()
    held = Ledger(tmp_path, writer=True)
    threading.Timer(0.5, held.close).start()  # flock locks are per open file: a thread's writer contends too
    with Ledger(tmp_path, writer=True, wait=30) as led:  # polls until the holder closes
        led.append(make_entries(1))
    with Ledger(tmp_path, writer=True):
        start = time.monotonic()
        with pytest.raises(LedgerBusyError) as busy:
            Ledger(tmp_path, writer=True, wait=0.3)
        assert 0.3 <= time.monotonic() - start < 30
    assert str(busy.value) == (
        f"another process is writing to the ledger at {tmp_path} (an ingest, attribute, index, usage or payout) "
        "and held its writer lock for 0.3 s; try again when it is done, or wait longer with --wait SECONDS"
    )


def test_read_only_ledger_refuses_appends(tmp_path: Path) -> None:
    Ledger(tmp_path, writer=True, create=True).close()
    with Ledger(tmp_path) as led, pytest.raises(LedgerError, match="read-only"):
        led.append(make_entries(1))


def test_not_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger(tmp_path / "nope")


def test_index_stays_correct_across_many_batches_and_merges(tmp_path: Path, small_index: None) -> None:
    with Ledger(tmp_path, writer=True, create=True) as led:
        done = 0
        for n in [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 1, 1, 200, 7, 7, 7, 7, 7, 7, 7, 7, 1]:
            led.append(make_entries(n, done))
            done += n
        runs, state = led.store.state.runs, led.store.state
        assert 0 < len(runs) < 12, runs  # merged, not one run per batch
        assert 0 < state.indexed < done  # some keys are still only in memory
        hashes = [e["record_hash"] for e in make_entries(done)]
        assert led.find_many(hashes) == {h: i for i, h in enumerate(hashes)}
        assert led.find_many([hashlib.sha256(b"absent").hexdigest()]) == {}
    with Ledger(tmp_path) as reader:  # a fresh reader rebuilds the in-memory tail from entries
        assert reader.find_many(hashes) == {h: i for i, h in enumerate(hashes)}
    assert 0 < audit(tmp_path).indexed < done


def test_non_contribution_entries_are_not_indexed(tmp_path: Path, small_index: None) -> None:
    usage = {
        "kind": "usage",
        "datanet": "t",
        "record_hash": make_entries(1)[0]["record_hash"],
        "model": "m",
        "training_run": "tr",
    }
    with Ledger(tmp_path, writer=True, create=True) as led:
        led.append(make_entries(1))
        led.append([usage, usage])  # usage entries may repeat a record hash
        led.append(make_entries(4, 1))  # flushes five contributions to a run
        assert led.size == 7 and led.find(usage["record_hash"]) == 0
        assert led.store.state.indexed == 7
    assert audit(tmp_path).indexed == 5
