"""Fixtures shared by every test folder: a throwaway Datanets project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TINY_SCHEMA = """\
name: note
fields:
  - {name: text, type: string, text: true}
  - {name: specialty, type: string, required: false}
"""

TINY_DATANET = """\
name: tiny
schema: schemas/note.yaml
sources:
  - {path: data/*.jsonl, format: jsonl}
validation:
  expectations:
    - type: expect_column_value_lengths_to_be_between
      kwargs: {column: text, min_value: 10, max_value: 5000}
output: {shard_rows: 4}
runner:
  options: {direct_running_mode: in_memory, direct_num_workers: 1}
"""


def tiny_records() -> list[dict]:
    notes = [
        f"Follow-up visit {i} for asthma; peak flow {300 + 7 * i} L/min, continue inhaler and review in {i + 2} weeks."
        for i in range(10)
    ]
    return [
        {"contributor_id": f"c{i % 3}", "text": t, "submitted_at": f"2026-01-{i + 1:02d}T00:00:00Z"}
        for i, t in enumerate(notes)
    ]


def make_project(root: Path, extra_yaml: str = "") -> Path:
    """make_project writes the small 'tiny' Datanet (declaration, schema, ten records) under ``root``."""
    for sub in ("schemas", "datanets", "data"):
        (root / sub).mkdir(parents=True)
    (root / "schemas" / "note.yaml").write_text(TINY_SCHEMA)
    (root / "datanets" / "tiny.yaml").write_text(TINY_DATANET + extra_yaml)
    with open(root / "data" / "a.jsonl", "w") as f:
        for r in tiny_records():
            f.write(json.dumps(r) + "\n")
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with a small 'tiny' Datanet, as the working directory."""
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path
