"""Both examples, ingested with fixed keys, give the very bytes they gave before (``tests/fixtures/golden.json``).

A refactor must not change a published byte: every Parquet file (shards,
duplicates, quarantine, dedup state, contributor map), the ledger's size and
root and the signed checkpoint are compared with the digests recorded before
the layout change. ``python -m tests.test_golden --update`` rewrites them, on
purpose only (a format change).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.log import Ledger
from pipelines.core.config import Datanet, load_datanet
from pipelines.driver.run import ingest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden.json"
EXAMPLES = ("clinical-notes", "code-snippets")


def example_with_fixture_keys(name: str, tmp: Path) -> Datanet:
    """example_with_fixture_keys is example ``name`` with outputs under ``tmp`` and a copy of the fixture keys."""
    dn = load_datanet(name, root=REPO)
    keys = tmp / "keys"
    keys.mkdir(parents=True)
    for suffix in (".key", ".salt", ".idkey"):
        shutil.copy(FIXTURES / "keys" / f"{name}{suffix}", keys / f"{name}{suffix}")
    update = {
        "output": dn.config.output.model_copy(update={"dir": str(tmp / name)}),
        "ledger": dn.config.ledger.model_copy(update={"key": str(keys / f"{name}.key")}),
    }
    return Datanet(dn.config.model_copy(update=update), dn.schema, dn.root, dn.path)


def run_example(name: str, tmp: Path) -> dict[str, Any]:
    """run_example ingests example ``name`` under ``tmp`` with the fixture keys; returns its digests."""
    dn = example_with_fixture_keys(name, tmp)
    ingest(dn, progress=lambda _: None, live="off")
    files = {
        str(p.relative_to(dn.out_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(dn.out_dir.rglob("*.parquet"))
    }
    with Ledger(dn.ledger_dir) as led:
        return {
            "files": files,
            "ledger_size": led.size,
            "ledger_root": led.root.hex(),
            "checkpoint": led.latest_checkpoint(),
        }


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_outputs_are_byte_identical_to_the_recorded_ones(name: str, tmp_path: Path) -> None:
    want = json.loads(GOLDEN.read_text())[name]
    got = run_example(name, tmp_path)
    assert sorted(got["files"]) == sorted(want["files"]), "a published file appeared or went missing"
    changed = [f for f in want["files"] if got["files"][f] != want["files"][f]]
    assert not changed, f"bytes changed in {changed[:5]}"
    assert (got["ledger_size"], got["ledger_root"]) == (want["ledger_size"], want["ledger_root"])
    assert got["checkpoint"] == want["checkpoint"]


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = {name: run_example(name, Path(tmp) / name) for name in EXAMPLES}
    GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True))
    print(f"rewrote {GOLDEN}")
