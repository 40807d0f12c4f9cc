"""Helper process for test_crash: append BATCHES batches of SIZE entries, resuming where the ledger is."""

from __future__ import annotations

import sys

from ledger.log import Ledger
from tests.ledger.conftest import make_entries

BATCHES, SIZE = 1500, 31


def main(path: str) -> None:
    with Ledger(path, writer=True, create=True) as led:
        done = led.size
        assert done % SIZE == 0, "a batch was half-committed"
        print("ready", flush=True)
        for start in range(done, BATCHES * SIZE, SIZE):
            led.append(make_entries(SIZE, start))


if __name__ == "__main__":
    main(sys.argv[1])
