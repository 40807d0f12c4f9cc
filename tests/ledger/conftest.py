"""Shared ledger fixtures: a deterministic test signing key and small ledgers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ledger import storage
from ledger.checkpoint import Signer
from ledger.entries import contribution
from ledger.log import Ledger

TESTDATA = Path(__file__).parent / "testdata" / "merkle"


def make_entries(n: int, start: int = 0, datanet: str = "t") -> list[dict]:
    """Contribution entries with distinct record hashes, deterministic in their index."""
    return [
        contribution(
            datanet,
            hashlib.sha256(f"record-{i}".encode()).hexdigest(),
            f"c{i % 7}",
            f"shards/r/part-{i // 100:05d}.parquet",
            i % 100,
            "r",
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def signer() -> Signer:
    """A test-only key derived from a fixed seed (never used outside tests)."""
    return Signer("datanets.test/ledger", hashlib.sha256(b"datanets test key").digest())


@pytest.fixture
def other_signer() -> Signer:
    return Signer("datanets.test/ledger", hashlib.sha256(b"another key").digest())


@pytest.fixture
def small_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flush the record index to run files every 4 contributions, so small ledgers have runs."""
    monkeypatch.setattr(storage, "INDEX_EVERY", 4)


@pytest.fixture
def small_ledger(tmp_path: Path, signer: Signer, small_index: None) -> Path:
    """A 23-entry ledger appended in three batches with a checkpoint after each (index runs + a tail)."""
    path = tmp_path / "ledger"
    with Ledger(path, writer=True, create=True) as led:
        for lo, hi in ((0, 5), (5, 17), (17, 23)):
            led.append(make_entries(hi - lo, lo))
            led.sign(signer)
    return path
